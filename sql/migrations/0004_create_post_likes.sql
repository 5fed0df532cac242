-- Posts for the API: likes, optimistic concurrency, keyset and search indexes,
-- the transfer audit trail, and the invariants the posts queries rely on.
--
-- Index work is sized for the reads of functions/posts (one statement each):
--   GET /posts                     published feed, keyset (published_at, post_id)
--   GET /posts?author=             the same per author
--   GET /posts?q=                  trigram search on title/excerpt
--   GET /posts?tag=                the lesson's GIN index idx_posts_tags (kept)
--   GET /posts/popular?days=       a published_at range of the feed index, then top-N
--   PUT/DELETE /posts/{id}/like    post_likes primary key

CREATE EXTENSION IF NOT EXISTS pg_trgm;  -- trusted extension; a no-op where it exists

-- Invariants. Counters are incremented in SQL (`like_count = like_count + 1`):
-- a NULL counter would swallow every increment, so they may not be NULL. A post
-- always has an author and a status. A published post always has its date,
-- which also keeps the (published_at, post_id) keyset total over the feed.
UPDATE posts SET view_count = coalesce(view_count, 0), like_count = coalesce(like_count, 0),
                 comment_count = coalesce(comment_count, 0), status = coalesce(status, 'draft')
 WHERE view_count IS NULL OR like_count IS NULL OR comment_count IS NULL OR status IS NULL;
UPDATE posts SET published_at = coalesce(created_at, now()) WHERE status = 'published' AND published_at IS NULL;

ALTER TABLE posts
    ALTER COLUMN user_id SET NOT NULL,
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN view_count SET NOT NULL,
    ALTER COLUMN like_count SET NOT NULL,
    ALTER COLUMN comment_count SET NOT NULL,
    -- Bumped by every content change (PATCH, archive, transfer), never by the
    -- counters: views, likes and comments must not invalidate a client's ETag.
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT posts_published_has_date CHECK (status <> 'published' OR published_at IS NOT NULL),
    ADD CONSTRAINT posts_counters_not_negative CHECK (view_count >= 0 AND like_count >= 0);

-- Counter updates rewrite the row; with free room on its page they are HOT
-- updates (no index touched). The default fillfactor 100 leaves none.
ALTER TABLE posts SET (fillfactor = 90);

-- updated_at means "last edited": counter updates (every view, like and comment)
-- no longer rewrite it. No index covers a counter either, on purpose: an index
-- on the popularity score would make every view and like a non-HOT update of
-- every index of posts (measured: 0 of 3000 view updates HOT with it).
DROP TRIGGER IF EXISTS update_posts_updated_at ON posts;
CREATE TRIGGER update_posts_updated_at
    BEFORE UPDATE ON posts
    FOR EACH ROW
    WHEN ((OLD.title, OLD.content, OLD.excerpt, OLD.slug, OLD.status, OLD.featured_image_url, OLD.tags,
           OLD.metadata, OLD.user_id, OLD.published_at, OLD.version)
          IS DISTINCT FROM
          (NEW.title, NEW.content, NEW.excerpt, NEW.slug, NEW.status, NEW.featured_image_url, NEW.tags,
           NEW.metadata, NEW.user_id, NEW.published_at, NEW.version))
    EXECUTE FUNCTION update_updated_at_column();

-- One row per (post, user): a like is idempotent by construction, and
-- posts.like_count moves only by the rows a statement really inserted/deleted.
CREATE TABLE post_likes (
    post_id    uuid        NOT NULL REFERENCES posts (post_id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);
-- "Posts I liked", newest first; also serves the ON DELETE CASCADE from users.
CREATE INDEX idx_post_likes_user_created ON post_likes (user_id, created_at DESC);

-- Who moved which post to whom (POST /posts/{id}/transfer, admins only).
-- User ids are kept as plain values: the record outlives the accounts.
CREATE TABLE post_transfers (
    transfer_id    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    post_id        uuid        NOT NULL REFERENCES posts (post_id) ON DELETE CASCADE,
    from_user_id   uuid        NOT NULL,
    to_user_id     uuid        NOT NULL,
    transferred_by uuid        NOT NULL,
    transferred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT post_transfers_other_author CHECK (from_user_id <> to_user_id)
);
CREATE INDEX idx_post_transfers_post ON post_transfers (post_id, transferred_at DESC);

-- Keyset feed: WHERE status = 'published' ORDER BY published_at DESC, post_id DESC,
-- continued with (published_at, post_id) < (:ts, :id). Partial: drafts and
-- archived posts are never listed, so they take no room in it. The same index
-- serves the popular window (published_at >= now() - :days).
CREATE INDEX idx_posts_published_feed ON posts (published_at DESC, post_id DESC) WHERE status = 'published';

-- The per-author feed (GET /posts?author=...), same order and keyset.
CREATE INDEX idx_posts_author_feed ON posts (user_id, published_at DESC, post_id DESC) WHERE status = 'published';

-- q: ILIKE '%...%' (wildcards escaped) over title and excerpt, as ONE indexed
-- expression: an OR of two indexed columns is planned as a sequential scan. The
-- newline separator cannot occur in q (control characters are refused), so a
-- match never spans the two fields.
CREATE INDEX idx_posts_search_trgm ON posts
    USING gin ((title || E'\n' || coalesce(excerpt, '')) gin_trgm_ops) WHERE status = 'published';

-- Indexes of the lesson's schema that only cost writes:
-- idx_posts_slug duplicates the index behind the UNIQUE constraint posts_slug_key.
DROP INDEX IF EXISTS idx_posts_slug;
-- idx_posts_user_id is the leading column of idx_posts_user_status_published,
-- which answers every lookup it could (and the FK cascade from users).
DROP INDEX IF EXISTS idx_posts_user_id;
-- idx_posts_published_at covers drafts and archived posts and has no tie-breaker:
-- every published_at query of the API is on published posts, and with it in
-- place the planner walks it, filters the keyset row comparison instead of
-- seeking, and sorts the ties (measured); idx_posts_published_feed replaces it.
DROP INDEX IF EXISTS idx_posts_published_at;
-- idx_posts_status has three values: an index scan on it is never cheaper than
-- the partial indexes above (status = 'published') or a sequential scan.
DROP INDEX IF EXISTS idx_posts_status;
