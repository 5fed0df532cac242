-- Search compares text in its NFKC form on both sides. Queries were normalised (posts_models), the
-- stored text was not: a title written with full-width Latin (ＤＢ), half-width katakana (ﾃﾞｰﾀ),
-- the ideographic space, enclosed characters (①) or decomposed (NFD) kana was not found, not even
-- by its own spelling.
--
-- Posts keep the text as the author wrote it (NFKC is lossy: ① becomes 1) and carry its NFKC form
-- only where it differs: a generated column that is NULL when the text already is NFKC, so most
-- rows store nothing more. The indexes and the recheck read coalesce(normalised, original).
-- Measured on this machine: normalize(..., NFKC) costs about 140 us per 1.5 KB document and
-- `IS NFKC NORMALIZED` about 30 us; doing either per candidate row at query time would add up to
-- 0.4 s to a search that checks the 3,000 newest posts, so it is done once, at write time.
--
-- Adding stored generated columns rewrites posts, and the two indexes are built again (at 1M
-- posts the document index took 211 s to build on this machine): run it in a quiet window.
ALTER TABLE posts
    ADD COLUMN search_title text GENERATED ALWAYS AS (
        CASE WHEN title IS NFKC NORMALIZED THEN NULL ELSE normalize(title, NFKC) END
    ) STORED,
    ADD COLUMN search_document text GENERATED ALWAYS AS (
        CASE WHEN (title || E'\n' || coalesce(excerpt, '') || E'\n' || content) IS NFKC NORMALIZED THEN NULL
             ELSE normalize(title || E'\n' || coalesce(excerpt, '') || E'\n' || content, NFKC) END
    ) STORED;

DROP INDEX idx_posts_title_grams;
DROP INDEX idx_posts_document_grams;
CREATE INDEX idx_posts_title_grams ON posts
    USING gin (search_grams(coalesce(search_title, title))) WHERE status = 'published';
CREATE INDEX idx_posts_document_grams ON posts
    USING gin (search_grams(coalesce(search_document, title || E'\n' || coalesce(excerpt, '') || E'\n' || content)))
    WHERE status = 'published';

-- Names are short: normalised inside the key itself (the index is rebuilt for the new body).
CREATE OR REPLACE FUNCTION users_name_key(first_name text, last_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT lower(regexp_replace(normalize(coalesce(first_name, '') || coalesce(last_name, ''), NFKC), '\s+', '', 'g'))
           || ' ' ||
           lower(regexp_replace(normalize(coalesce(last_name, '') || coalesce(first_name, ''), NFKC), '\s+', '', 'g'))
$$;
REINDEX INDEX idx_users_name_grams;
