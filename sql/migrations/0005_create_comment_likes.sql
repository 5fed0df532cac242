-- Threaded comments for the API: a materialized thread order for keyset
-- pagination, likes with an exact counter, and the indexes those queries use.
--
-- Thread order. Every comment stores
--   depth      0 for a top-level comment, parent's depth + 1 for a reply;
--   thread_key the parent's thread_key followed by this comment's own 24-byte
--              segment: created_at as microseconds since 1970 (8 bytes,
--              big-endian) and the comment id (16 bytes).
-- Compared byte-wise, the keys sort a post's comments depth-first with
-- siblings oldest first (ties by id) and each reply right after its parent: a
-- key sorts before its extensions, and equal-width segments keep siblings'
-- subtrees apart. A page is then one index range scan:
--   WHERE post_id = $1 AND thread_key > $2 ORDER BY thread_key LIMIT $3
-- bytea rather than readable text (digits and hex, 52 characters a level):
-- the thread index is about half the size (measured on 150k comments).
-- A BEFORE INSERT trigger fills both columns, so direct inserts (the
-- development seed, support scripts) keep working without knowing about them.
-- Replies nest at most 10 levels (depth 0..9); the API answers 422 beyond.

-- updated_at means "content or status changed": a like is not an edit, and
-- the backfill below must not touch it either.
DROP TRIGGER update_comments_updated_at ON comments;
CREATE TRIGGER update_comments_updated_at
    BEFORE UPDATE ON comments
    FOR EACH ROW
    WHEN (OLD.content IS DISTINCT FROM NEW.content OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION update_updated_at_column();

-- One comment's segment of a thread key (the queries rely on its 24 bytes).
CREATE FUNCTION comment_thread_segment(created_at timestamptz, comment_id uuid) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN int8send((extract(epoch FROM created_at) * 1000000)::bigint) || uuid_send(comment_id);

ALTER TABLE comments
    ADD COLUMN thread_key bytea,
    ADD COLUMN depth smallint;

-- Backfill. Anchors are top-level comments and replies whose parent lies in
-- another post (the original schema allowed that; such a reply starts its own
-- thread here). Rows no anchor reaches can only sit on a parent cycle; they
-- become top-level too.
WITH RECURSIVE tree (comment_id, post_id, depth, thread_key) AS (
    SELECT c.comment_id, c.post_id, 0, comment_thread_segment(c.created_at, c.comment_id)
    FROM comments c
    WHERE c.parent_comment_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM comments p WHERE p.comment_id = c.parent_comment_id AND p.post_id = c.post_id)
    UNION ALL
    SELECT c.comment_id, c.post_id, t.depth + 1, t.thread_key || comment_thread_segment(c.created_at, c.comment_id)
    FROM tree t
    JOIN comments c ON c.parent_comment_id = t.comment_id AND c.post_id = t.post_id
)
UPDATE comments c
SET thread_key = t.thread_key, depth = t.depth
FROM tree t
WHERE c.comment_id = t.comment_id;

UPDATE comments
SET depth = 0, thread_key = comment_thread_segment(created_at, comment_id)
WHERE thread_key IS NULL;

-- The API relies on these; the original schema left them nullable.
UPDATE comments SET like_count = 0 WHERE like_count IS NULL;
UPDATE comments SET status = 'active' WHERE status IS NULL;
ALTER TABLE comments
    ALTER COLUMN thread_key SET NOT NULL,
    ALTER COLUMN depth SET NOT NULL,
    ALTER COLUMN post_id SET NOT NULL,
    ALTER COLUMN user_id SET NOT NULL,
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN like_count SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL,
    ADD CONSTRAINT comments_content_length CHECK (char_length(content) BETWEEN 1 AND 10000);

CREATE FUNCTION comments_fill_thread_key() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parent_post uuid;
    parent_depth smallint;
    parent_key bytea;
    own_key bytea;
BEGIN
    NEW.created_at := COALESCE(NEW.created_at, now());
    own_key := comment_thread_segment(NEW.created_at, NEW.comment_id);
    IF NEW.parent_comment_id IS NULL THEN
        NEW.depth := 0;
        NEW.thread_key := own_key;
        RETURN NEW;
    END IF;
    SELECT p.post_id, p.depth, p.thread_key INTO parent_post, parent_depth, parent_key
    FROM comments p
    WHERE p.comment_id = NEW.parent_comment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'parent comment % does not exist', NEW.parent_comment_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'comments_parent_comment_id_fkey';
    END IF;
    IF parent_post IS DISTINCT FROM NEW.post_id THEN
        RAISE EXCEPTION 'a reply must belong to the post of its parent comment'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'comments_parent_same_post';
    END IF;
    IF parent_depth >= 9 THEN
        RAISE EXCEPTION 'replies nest at most 10 levels deep'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'comments_depth_limit';
    END IF;
    NEW.depth := parent_depth + 1;
    NEW.thread_key := parent_key || own_key;
    RETURN NEW;
END
$$;

CREATE TRIGGER comments_fill_thread_key
    BEFORE INSERT ON comments
    FOR EACH ROW EXECUTE FUNCTION comments_fill_thread_key();

-- A comment's place in its thread is fixed: moving it would leave its
-- replies' keys (which embed its key) pointing at the old place.
CREATE FUNCTION comments_refuse_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a comment cannot move to another post, parent or thread position'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'comments_thread_position_fixed';
END
$$;

CREATE TRIGGER comments_refuse_move
    BEFORE UPDATE OF post_id, parent_comment_id, thread_key, depth ON comments
    FOR EACH ROW
    WHEN (OLD.post_id IS DISTINCT FROM NEW.post_id
          OR OLD.parent_comment_id IS DISTINCT FROM NEW.parent_comment_id
          OR OLD.thread_key IS DISTINCT FROM NEW.thread_key
          OR OLD.depth IS DISTINCT FROM NEW.depth)
    EXECUTE FUNCTION comments_refuse_move();

-- Indexes.
-- Dropped: idx_comments_post_id (post_id) is a prefix of the thread index
-- below, which serves every lookup and the posts -> comments cascade it did.
DROP INDEX idx_comments_post_id;
-- Replaced: idx_comments_post_status_created (post_id, status, created_at)
-- served "a post's comments by status, oldest first". The API reads a post's
-- comments only in thread order, through the index below; per-post counts are
-- the denormalized posts.comment_count, so no query is left that uses it,
-- and every comment insert and status change paid for it.
DROP INDEX idx_comments_post_status_created;
-- Thread order per post; unique because thread_key ends with the comment id.
CREATE UNIQUE INDEX idx_comments_post_thread ON comments (post_id, thread_key);
-- The comments a public thread must look at specially (hidden subtrees,
-- deleted placeholders). Few rows: the hidden-ancestor probes of the public
-- list hit this small index instead of the whole thread index.
CREATE INDEX idx_comments_post_thread_unlisted ON comments (post_id, thread_key) WHERE status <> 'active';

-- Likes: one per user and comment. comments.like_count is kept exact by the
-- API's like/unlike statements (insert or delete + counter in one statement).
CREATE TABLE comment_likes (
    comment_id uuid NOT NULL REFERENCES comments (comment_id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, user_id)
);
-- The users -> comment_likes cascade (and "what did this user like") would
-- otherwise scan the table; the primary key leads with comment_id.
CREATE INDEX idx_comment_likes_user_id ON comment_likes (user_id);

-- Counters stay exact when rows disappear by cascade (a user or a post is
-- deleted), which the API's statements never see:
-- * comments removed physically no longer count in posts.comment_count
--   (the API itself never deletes comment rows: it sets status 'deleted');
-- * likes removed by a cascade no longer count in comments.like_count. The
--   API's own unlike adjusts the counter in its statement, so this trigger
--   fires only below another trigger (a cascade runs inside the foreign key's
--   trigger: pg_trigger_depth() > 0), never for a top-level DELETE.
CREATE FUNCTION comments_removed_recount() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE posts p
    SET comment_count = COALESCE(p.comment_count, 0) - gone.n
    FROM (SELECT post_id, count(*) AS n FROM removed WHERE status = 'active' GROUP BY post_id) gone
    WHERE p.post_id = gone.post_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER comments_removed_recount
    AFTER DELETE ON comments
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION comments_removed_recount();

CREATE FUNCTION comment_likes_removed_recount() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE comments c
    SET like_count = c.like_count - gone.n
    FROM (SELECT comment_id, count(*) AS n FROM removed GROUP BY comment_id) gone
    WHERE c.comment_id = gone.comment_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER comment_likes_removed_recount
    AFTER DELETE ON comment_likes
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT
    WHEN (pg_trigger_depth() > 0)
    EXECUTE FUNCTION comment_likes_removed_recount();
