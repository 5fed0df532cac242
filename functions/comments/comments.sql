-- The comments API's statements (loaded by comments_queries.py through shared/statements.py).
-- `c` is a comments row, `u` its author.

-- name: comment_json
-- The public shape: a deleted comment is a placeholder without text or author.
json_build_object(
    'comment_id', c.comment_id, 'post_id', c.post_id, 'parent_comment_id', c.parent_comment_id,
    'depth', c.depth, 'status', c.status,
    'content', CASE WHEN c.status <> 'deleted' THEN c.content END,
    'author', CASE WHEN c.status <> 'deleted' AND u.user_id IS NOT NULL THEN {{author_json}} END,
    'like_count', c.like_count, 'created_at', c.created_at, 'updated_at', c.updated_at)

-- name: moderation_comment_json
-- The moderation shape: hidden text is shown to moderators, and who wrote a deleted comment;
-- deleted text is never served by the API.
json_build_object(
    'comment_id', c.comment_id, 'post_id', c.post_id, 'parent_comment_id', c.parent_comment_id,
    'depth', c.depth, 'status', c.status,
    'content', CASE WHEN c.status <> 'deleted' THEN c.content END,
    'author', CASE WHEN u.user_id IS NOT NULL THEN {{author_json}} END,
    'like_count', c.like_count, 'created_at', c.created_at, 'updated_at', c.updated_at)

-- name: no_hidden_ancestor
-- Ancestors of `c` are the prefixes of its thread_key, 24 bytes per level. A hidden ancestor
-- hides the whole subtree (probed on the small partial index idx_comments_post_thread_unlisted).
(c.depth = 0 OR NOT EXISTS (
            SELECT 1 FROM comments h
            WHERE h.post_id = c.post_id
              AND h.status = 'hidden'
              AND h.thread_key = ANY (ARRAY(
                  SELECT substring(c.thread_key FROM 1 FOR 24 * k) FROM generate_series(1, c.depth) AS k))))

-- name: has_listed_reply
-- A deleted comment is listed (as a placeholder) only if a reply below it is listed: an active
-- descendant with no hidden comment between the two. (The OR keeps each probe a per-row index
-- lookup instead of an anti join that compares every descendant with every hidden comment.)
EXISTS (
            SELECT 1 FROM comments d
            WHERE d.post_id = c.post_id
              AND d.thread_key > c.thread_key AND d.thread_key < c.thread_key || '\xff'::bytea
              AND d.status = 'active'
              AND (d.depth = c.depth + 1 OR NOT EXISTS (
                  SELECT 1 FROM comments h
                  WHERE h.post_id = d.post_id
                    AND h.status = 'hidden'
                    AND h.thread_key = ANY (ARRAY(
                        SELECT substring(d.thread_key FROM 1 FOR 24 * k)
                        FROM generate_series(c.depth + 2, d.depth) AS k)))))

-- name: page_result
-- One page of `page` (limit + 1 rows) as items, has_more and the last id for the next cursor.
SELECT
    EXISTS (SELECT 1 FROM post) AS post_found,
    (CAST(:after_id AS uuid) IS NULL OR EXISTS (SELECT 1 FROM after)) AS cursor_found,
    (SELECT count(*) FROM page) > CAST(:limit AS int) AS has_more,
    (SELECT p.comment_id FROM page p ORDER BY p.thread_key OFFSET CAST(:limit AS int) - 1 LIMIT 1) AS last_id,
    (SELECT COALESCE(json_agg(x.item ORDER BY x.thread_key), '[]'::json)
     FROM (SELECT p.item, p.thread_key FROM page p ORDER BY p.thread_key LIMIT CAST(:limit AS int)) x) AS items

-- name: public_thread
-- Public thread of a published post: active comments, deleted placeholders that have listed
-- replies, nothing of a hidden subtree.
WITH post AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), after AS (
    SELECT a.thread_key FROM comments a WHERE a.comment_id = CAST(:after_id AS uuid) AND a.post_id = CAST(:post_id AS uuid)
), page AS (
    SELECT c.comment_id, c.thread_key, {{comment_json}} AS item
    FROM comments c
    LEFT JOIN users u ON u.user_id = c.user_id
    WHERE c.post_id = (SELECT post_id FROM post)
      AND c.thread_key > COALESCE((SELECT thread_key FROM after), '\x'::bytea)
      AND (c.status = 'active' OR (c.status = 'deleted' AND {{has_listed_reply}}))
      AND {{no_hidden_ancestor}}
    ORDER BY c.thread_key
    LIMIT CAST(:limit AS int) + 1
)
{{page_result}}

-- name: moderation_thread
-- Moderation view: every comment of any post, with its status.
WITH post AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = CAST(:post_id AS uuid)
), after AS (
    SELECT a.thread_key FROM comments a WHERE a.comment_id = CAST(:after_id AS uuid) AND a.post_id = CAST(:post_id AS uuid)
), page AS (
    SELECT c.comment_id, c.thread_key, {{moderation_comment_json}} AS item
    FROM comments c
    LEFT JOIN users u ON u.user_id = c.user_id
    WHERE c.post_id = (SELECT post_id FROM post)
      AND c.thread_key > COALESCE((SELECT thread_key FROM after), '\x'::bytea)
    ORDER BY c.thread_key
    LIMIT CAST(:limit AS int) + 1
)
{{page_result}}

-- name: create_comment
-- Create: checks, insert and counter in one statement. A client-chosen comment_id that
-- already exists is answered from `existing` (idempotent retry).
WITH author AS (
    SELECT a.user_id, a.is_active IS NOT FALSE AS active FROM users a WHERE a.user_id = CAST(:user_id AS uuid)
), post AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), parent AS (
    SELECT r.post_id, r.status, r.depth FROM comments r WHERE r.comment_id = CAST(:parent_id AS uuid)
), existing AS (
    SELECT e.* FROM comments e WHERE e.comment_id = CAST(:comment_id AS uuid)
), ins AS (
    INSERT INTO comments (comment_id, post_id, user_id, parent_comment_id, content, idempotency_fingerprint)
    SELECT COALESCE(CAST(:comment_id AS uuid), gen_random_uuid()), post.post_id, author.user_id,
           CAST(:parent_id AS uuid), CAST(:content AS text), CAST(:fingerprint AS text)
    FROM post, author
    WHERE author.active
      AND NOT EXISTS (SELECT 1 FROM existing)
      AND (CAST(:parent_id AS uuid) IS NULL OR EXISTS (
            SELECT 1 FROM parent
            WHERE parent.post_id = post.post_id AND parent.status = 'active' AND parent.depth < CAST(:max_depth AS int)))
    ON CONFLICT (comment_id) DO NOTHING
    RETURNING *
), counted AS (
    UPDATE posts p SET comment_count = COALESCE(p.comment_count, 0) + 1
    FROM ins
    WHERE p.post_id = ins.post_id
    RETURNING p.post_id
)
SELECT
    (SELECT active FROM author) AS author_active,
    EXISTS (SELECT 1 FROM post) AS post_found,
    (SELECT post_id FROM parent) AS parent_post_id,
    (SELECT status FROM parent) AS parent_status,
    (SELECT depth FROM parent) AS parent_depth,
    (SELECT comment_id FROM ins) AS created_id,
    (SELECT {{comment_json}} FROM ins c LEFT JOIN users u ON u.user_id = c.user_id) AS created,
    (SELECT user_id FROM existing) AS existing_user_id,
    (SELECT post_id FROM existing) AS existing_post_id,
    (SELECT idempotency_fingerprint FROM existing) AS existing_fingerprint,
    (SELECT {{comment_json}} FROM existing c LEFT JOIN users u ON u.user_id = c.user_id) AS existing

-- name: update_comment
-- Edit: the author's own active comment only.
WITH target AS (
    SELECT t.user_id, t.status FROM comments t WHERE t.comment_id = CAST(:comment_id AS uuid)
), upd AS (
    UPDATE comments c SET content = CAST(:content AS text)
    WHERE c.comment_id = CAST(:comment_id AS uuid) AND c.user_id = CAST(:user_id AS uuid) AND c.status = 'active'
      AND EXISTS (SELECT 1 FROM users a WHERE a.user_id = CAST(:user_id AS uuid) AND a.is_active)
    RETURNING c.*
)
SELECT t.user_id, t.status,
       EXISTS (SELECT 1 FROM users a WHERE a.user_id = CAST(:user_id AS uuid) AND a.is_active) AS author_active,
       (SELECT {{comment_json}} FROM upd c LEFT JOIN users u ON u.user_id = c.user_id) AS comment
FROM target t

-- name: delete_comment
-- Soft delete by the author or an administrator; idempotent.
WITH target AS (
    SELECT t.comment_id, t.post_id, t.user_id, t.status
    FROM comments t WHERE t.comment_id = CAST(:comment_id AS uuid)
    FOR UPDATE
), upd AS (
    UPDATE comments c SET status = 'deleted'
    FROM target t
    WHERE c.comment_id = t.comment_id
      AND t.status <> 'deleted'
      AND (t.user_id = CAST(:user_id AS uuid) OR CAST(:is_admin AS boolean))
    RETURNING t.status AS was, t.post_id
), counted AS (
    UPDATE posts p SET comment_count = COALESCE(p.comment_count, 0) - 1
    FROM upd
    WHERE p.post_id = upd.post_id AND upd.was = 'active'
    RETURNING p.post_id
)
SELECT t.user_id, t.status FROM target t

-- name: moderate_comment
-- Moderation: move a comment from one status to another (hidden <-> active) and adjust the
-- count by `delta`; a comment already in the target status is left alone (idempotent).
WITH target AS (
    SELECT t.* FROM comments t WHERE t.comment_id = CAST(:comment_id AS uuid) FOR UPDATE
), upd AS (
    UPDATE comments c SET status = CAST(:to_status AS text)
    FROM target t
    WHERE c.comment_id = t.comment_id AND t.status = CAST(:from_status AS text)
    RETURNING c.*
), counted AS (
    UPDATE posts p SET comment_count = COALESCE(p.comment_count, 0) + CAST(:delta AS int)
    FROM upd
    WHERE p.post_id = upd.post_id
    RETURNING p.post_id
)
SELECT t.status AS previous_status,
       COALESCE(
           (SELECT {{moderation_comment_json}} FROM upd c LEFT JOIN users u ON u.user_id = c.user_id),
           (SELECT {{moderation_comment_json}} FROM target c LEFT JOIN users u ON u.user_id = c.user_id)
       ) AS comment
FROM target t

-- name: like_comment
-- Like: active comments of published posts, by registered active users.
WITH liker AS (
    SELECT u.user_id, u.is_active IS NOT FALSE AS active FROM users u WHERE u.user_id = CAST(:user_id AS uuid)
), target AS (
    SELECT t.comment_id, t.status, t.like_count
    FROM comments t
    JOIN posts p ON p.post_id = t.post_id AND p.status = 'published'
    WHERE t.comment_id = CAST(:comment_id AS uuid)
), ins AS (
    INSERT INTO comment_likes (comment_id, user_id)
    SELECT target.comment_id, liker.user_id
    FROM target, liker
    WHERE target.status = 'active' AND liker.active
    ON CONFLICT DO NOTHING
    RETURNING comment_id
), counted AS (
    UPDATE comments c SET like_count = c.like_count + (SELECT count(*) FROM ins)
    WHERE c.comment_id = (SELECT comment_id FROM ins)
    RETURNING c.like_count
)
SELECT
    (SELECT active FROM liker) AS liker_active,
    (SELECT status FROM target) AS status,
    COALESCE((SELECT like_count FROM counted), (SELECT like_count FROM target)) AS like_count

-- name: unlike_comment
-- Unlike: always allowed on an existing comment; a like that is not there is a no-op.
WITH del AS (
    DELETE FROM comment_likes l
    WHERE l.comment_id = CAST(:comment_id AS uuid) AND l.user_id = CAST(:user_id AS uuid)
    RETURNING l.comment_id
), counted AS (
    UPDATE comments c SET like_count = c.like_count - (SELECT count(*) FROM del)
    WHERE c.comment_id = (SELECT comment_id FROM del)
    RETURNING c.like_count
)
SELECT COALESCE((SELECT like_count FROM counted), t.like_count) AS like_count
FROM comments t
WHERE t.comment_id = CAST(:comment_id AS uuid)
