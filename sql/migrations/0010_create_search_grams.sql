-- Search for every script: an n-gram inverted index in plain SQL.
--
-- What the searches need (functions/posts, functions/users):
--   GET /posts?q=   title, excerpt and content; Japanese and Chinese have no
--                   spaces between words, so a word is a substring, not a token;
--                   queries of one or two CJK characters are ordinary queries.
--   GET /users?q=   family name, given name or both, with or without a space,
--                   in any script; usernames by prefix.
--
-- Options weighed (numbers: BENCHMARKS.md, "Search"; bench/search.py):
--   * Built-in full-text search (tsvector): its parsers split on spaces and
--     punctuation, so a Japanese sentence is one "word"; RDS ships no Japanese
--     parser (no MeCab/pgroonga on RDS for PostgreSQL).
--   * pg_trgm (RDS and this machine): a LIKE '%xy%' of two characters yields
--     no trigram, so the index cannot narrow it and every row is read; most
--     Japanese names and many words are two characters.
--   * pg_bigm (on RDS for PostgreSQL's extension list) would fit, but it is not
--     packaged for the PostgreSQL the tests run on, and a design the tests
--     cannot exercise is not adopted.
--   * Chosen: search_grams(text) below, an IMMUTABLE SQL function giving the
--     distinct lowercased characters and two-character sequences (bigrams) of
--     each whitespace-separated run, indexed with GIN over text[]. A query asks
--     `grams @> search_query_grams(q)` (the bigrams of each term, or the
--     character of a one-character term), and the real columns recheck the
--     match with ILIKE (a bigram set is necessary, not sufficient: "abab" and
--     "ab ba" share theirs). Plain SQL and core GIN only: identical on RDS and
--     here, with no extension to allow-list.
--
-- Measured (bench/search.py; BENCHMARKS.md, "Search", has the plans and the
-- command) on 100,000 posts of Japanese, English and mixed text, on a shared
-- 2-core machine at load average ~12, client-side through pg8000:
--   p50 / p95: common word データベース (59% of posts) 23 / 36 ms, "database"
--   25 / 36 ms, two CJK characters 設計 33 / 49 ms, rare word ロールバック (3%)
--   32 / 43 ms; the plans' own execution 6-15 ms. Ranked page 20 / page 1:
--   0.88-1.03. Index sizes: document grams 51 MB and title grams 8 MB against a
--   130 MB table; builds 211 s and 15 s. Writes with these indexes / without
--   (1,600 characters of content): create 1.66, update 1.54 (p50).
--   1M posts: `make bench-search` (the generator and the two GIN builds take
--   about an hour on this machine; not run here).

-- Built without CONCURRENTLY inside this file's transaction, as the earlier
-- index migrations are: the posts table of a new deployment is small. A large
-- live table would take the two posts indexes in a `-- migrate:no-transaction`
-- file with CREATE INDEX CONCURRENTLY.

-- The grams of a text: every non-space character and every pair of adjacent
-- non-space characters, lowercased. string_to_array(text, NULL) splits the
-- characters in one pass and unnest(a, a[2:]) pairs each with the next (substr()
-- in a loop is quadratic on UTF-8; a window function was 2.8x slower). GIN
-- removes duplicate keys itself, so the array is not deduplicated here. COST
-- tells the planner that calling it per row is expensive, so no plan re-derives
-- every row's grams when the index can answer.
CREATE FUNCTION search_grams(doc text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000
AS $$
    SELECT coalesce(array_agg(u.a) || array_agg(u.a || u.b) FILTER (WHERE u.b <> ' '), '{}')
    FROM (SELECT string_to_array(regexp_replace(lower(doc), '\s+', ' ', 'g'), NULL) AS c) s,
         unnest(s.c, s.c[2:]) AS u(a, b)
    WHERE u.a <> ' '
$$;

-- The grams a query needs: for each whitespace-separated term its bigrams, or
-- the term itself when it is one character. Every term must be present.
CREATE FUNCTION search_query_grams(q text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT g), '{}')
    FROM (
        SELECT CASE WHEN length(term) = 1 THEN ARRAY[term]
                    ELSE (SELECT array_agg(substr(term, i, 2)) FROM generate_series(1, length(term) - 1) i)
               END AS grams
        FROM regexp_split_to_table(lower(q), '\s+') AS term
        WHERE term <> ''
    ) t, unnest(t.grams) AS g
$$;

-- A person's name as people type it: family and given name in either order,
-- without the spaces ("田中太郎 太郎田中", "tanakataro tarotanaka"). A query with
-- its spaces removed is a substring of one of the two halves when it is a
-- family name, a given name or both.
CREATE FUNCTION users_name_key(first_name text, last_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT lower(regexp_replace(coalesce(first_name, '') || coalesce(last_name, ''), '\s+', '', 'g'))
           || ' ' ||
           lower(regexp_replace(coalesce(last_name, '') || coalesce(first_name, ''), '\s+', '', 'g'))
$$;

-- Posts: title matches rank above matches elsewhere, so the title has its own
-- index; the document index covers title, excerpt and content together (a
-- query's terms may sit in different fields).
CREATE INDEX idx_posts_title_grams ON posts USING gin (search_grams(title)) WHERE status = 'published';
CREATE INDEX idx_posts_document_grams ON posts
    USING gin (search_grams(title || E'\n' || coalesce(excerpt, '') || E'\n' || content)) WHERE status = 'published';
-- Replaced by the two above (trigrams over title and excerpt only).
DROP INDEX IF EXISTS idx_posts_search_trgm;

-- Users: names by grams, usernames by prefix (text_pattern_ops serves LIKE
-- 'prefix%' under any collation, the en_US.UTF-8 of RDS included).
CREATE INDEX idx_users_name_grams ON users
    USING gin (search_grams(users_name_key(first_name, last_name))) WHERE is_active;
CREATE INDEX idx_users_username_prefix ON users (lower(username) text_pattern_ops) WHERE is_active;
-- Replaced by the two above.
DROP INDEX IF EXISTS idx_users_search_trgm;
