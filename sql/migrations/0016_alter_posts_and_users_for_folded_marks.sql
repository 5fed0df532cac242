-- Search compares text in one form on both sides: NFKC (0015), and now the marks that input methods
-- spell differently for one key folded to one of each pair. JIS X 0208 is mapped to Unicode in two
-- ways (JIS and macOS against Windows' CP932), and NFKC reconciles only some of the pairs: the
-- full-width tilde ～ U+FF5E becomes ~ while the wave dash 〜 U+301C stays; the full-width
-- hyphen-minus － U+FF0D becomes - while the minus sign − U+2212 stays; ∥ U+2225 / ‖ U+2016 and
-- ― U+2015 / — U+2014 stay apart. "10～20" typed on Windows did not find "10〜20" written on a Mac,
-- nor "-5" a post about "−5度".
--
-- search_fold(text) folds 〜 to ~, − to -, ∥ to ‖ and ― to —: the table of layers/shared/shared/text.py
-- (SEARCH_FOLD_FROM, SEARCH_FOLD_TO), which folds the queries. Nested replace() rather than
-- translate(): the same result (one character for one, no target is a source), and 2.4 times
-- faster on this machine (4.7 us against 11.2 us for a 435-character post).
--
-- Where the fold is applied (the rejected alternatives were measured at 100,000 generated posts):
--   * Posts: in the stored search form, 0015's generated columns, which become NULL only when the
--     text is NFKC and holds none of the four marks. The recheck (LIKE/ILIKE of the folded terms on
--     coalesce(search_title, title) and the document's equivalent) stays exact and costs nothing more.
--     Rejected: a single-character wildcard `_` for a folded mark in the LIKE patterns, because the
--     probes of the newest posts recheck without the grams, so "-5" matched every "x5" and "2025";
--     and folding the stored text at query time, a fold of each row a search reads, which made every
--     search with a hyphen or a tilde 90 to 120 ms slower (with translate(); the 3,000-post window
--     is folded twice per row), where the same searches now cost what they did.
--   * Names: inside users_name_key, whose strpos recheck compares it with the folded query.
--   * search_grams and search_query_grams are unchanged: every text indexed through them is folded
--     before it reaches them, and so is every query.
--
-- Names also treat the katakana middle dot ・ (half-width ･ is ・ after NFKC) and the middle dot ·
-- U+00B7 that Chinese input methods put between the parts of a foreign name as separators, removed
-- from the key as spaces are: "ジョン・スミス" is found by "ジョンスミス", "ジョン スミス" and "スミス".
--
-- Cost: PostgreSQL 15 cannot change a generated column's expression, so the two columns are dropped
-- (their two indexes with them) and added again: the posts table is rewritten, and both indexes are
-- built again, holding an ACCESS EXCLUSIVE lock on posts throughout (reads wait too). Measured at
-- 100,000 generated posts (435 characters, one in ten holding 〜) on this machine: rewrite 5 s,
-- title index 5 s, document index 84 s (62 to 103 s in other runs, by load): the document index is
-- most of it. At 1M posts that index took 8 to 13 minutes to build on this machine: longer than the
-- migrate function waits for a statement (DB_QUERY_TIMEOUT, 240 s), so at that size apply this file
-- with `make migrate` in a quiet window before deploying. Storage: each post whose text holds one of
-- the four marks stores its folded copy, as a post with full-width characters or half-width katakana
-- already does (0015): 4.9 MB for those 10,092 posts, on a 131 MB table.
-- The users index is small (names only) and is built again for users_name_key's new body.

CREATE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(t, U&'\301C', '~'), U&'\2212', '-'), U&'\2225', U&'\2016'), U&'\2015', U&'\2014')
$$;

ALTER TABLE posts
    DROP COLUMN search_title,
    DROP COLUMN search_document,
    ADD COLUMN search_title text GENERATED ALWAYS AS (
        CASE WHEN title IS NFKC NORMALIZED AND search_fold(title) = title THEN NULL
             ELSE search_fold(normalize(title, NFKC)) END
    ) STORED,
    ADD COLUMN search_document text GENERATED ALWAYS AS (
        CASE WHEN (title || E'\n' || coalesce(excerpt, '') || E'\n' || content) IS NFKC NORMALIZED
                  AND search_fold(title || E'\n' || coalesce(excerpt, '') || E'\n' || content)
                      = title || E'\n' || coalesce(excerpt, '') || E'\n' || content
             THEN NULL
             ELSE search_fold(normalize(title || E'\n' || coalesce(excerpt, '') || E'\n' || content, NFKC)) END
    ) STORED;

-- As 0015 built them (dropped with the columns above).
CREATE INDEX idx_posts_title_grams ON posts
    USING gin (search_grams(coalesce(search_title, title))) WHERE status = 'published';
CREATE INDEX idx_posts_document_grams ON posts
    USING gin (search_grams(coalesce(search_document, title || E'\n' || coalesce(excerpt, '') || E'\n' || content)))
    WHERE status = 'published';

CREATE OR REPLACE FUNCTION users_name_key(first_name text, last_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT search_fold(lower(regexp_replace(normalize(coalesce(first_name, '') || coalesce(last_name, ''), NFKC),
                                            '[\s\u30FB\u00B7]+', '', 'g')))
           || ' ' ||
           search_fold(lower(regexp_replace(normalize(coalesce(last_name, '') || coalesce(first_name, ''), NFKC),
                                            '[\s\u30FB\u00B7]+', '', 'g')))
$$;
-- Built again with the new key. Not with REINDEX: a session caches an index's expressions with
-- their SQL functions inlined, and replacing a function does not refresh that cache, so a REINDEX
-- in a session that had already used the index (a write to users earlier on the same connection)
-- rebuilds it with the old body (tests/integration/test_migrations_search_fold.py did, with
-- REINDEX). CREATE INDEX reads the function as it is now.
DROP INDEX idx_users_name_grams;
CREATE INDEX idx_users_name_grams ON users
    USING gin (search_grams(users_name_key(first_name, last_name))) WHERE is_active;
