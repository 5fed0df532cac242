-- The posts API's static statements (loaded by posts_queries.py through shared/statements.py).
-- `p` is a posts row, `u` its author. The list and search statements are assembled in
-- posts_queries.py from allow-listed fragments (sorts, fields, search tiers).

-- name: post_json
-- A whole post (`p` = posts row, `u` = its author): never the author's e-mail, phone or birth date.
json_build_object('post_id', p.post_id, 'user_id', p.user_id, 'title', p.title, 'slug', p.slug,
    'content', p.content, 'excerpt', p.excerpt, 'status', p.status, 'featured_image_url', p.featured_image_url,
    'tags', coalesce(p.tags, '{}'::text[]), 'metadata', coalesce(p.metadata, '{}'::jsonb),
    'view_count', p.view_count, 'like_count', p.like_count, 'comment_count', p.comment_count,
    'published_at', p.published_at, 'created_at', p.created_at, 'updated_at', p.updated_at,
    'author', {{author_json}})

-- name: score
-- Seed 004's popularity score.
(p.view_count * 0.1 + p.like_count * 2 + p.comment_count * 3)

-- name: get_post
-- Published posts to any signed-in caller; drafts and archived posts only to their author or an
-- administrator (others cannot tell them from missing ones).
SELECT {{post_json}} AS body, p.version
FROM posts p JOIN users u ON u.user_id = p.user_id
WHERE p.post_id = CAST(:post_id AS uuid)
  AND (p.status = 'published' OR p.user_id = CAST(:caller AS uuid) OR CAST(:is_admin AS boolean))

-- name: get_own_post
-- The caller's own post, whatever its status (GET /me/posts/{post_id}).
SELECT {{post_json}} AS body, p.version
FROM posts p JOIN users u ON u.user_id = p.user_id
WHERE p.post_id = CAST(:post_id AS uuid) AND p.user_id = CAST(:caller AS uuid)

-- name: get_published_by_slug
-- A published post by any of the slug's spellings (posts_models.slug_candidates), first match first.
SELECT {{post_json}} AS body, p.version, p.slug
FROM posts p JOIN users u ON u.user_id = p.user_id
WHERE p.slug = ANY (CAST(:slugs AS text[])) AND p.status = 'published'
ORDER BY array_position(CAST(:slugs AS text[]), CAST(p.slug AS text)) LIMIT 1

-- name: create_post
-- Create, idempotent by post_id. The author must be a registered, active user. A derived slug
-- that is taken gets the random suffix the caller passed as alt_slug (a race between the check
-- and the insert surfaces as posts_slug_key and is retried with a new suffix). A post_id that
-- exists is not inserted again: the statement returns the existing post and its author instead.
WITH author AS (
    SELECT u.user_id, u.username, u.first_name, u.last_name, u.profile_image_url
    FROM users u
    WHERE u.user_id = CAST(:user_id AS uuid) AND u.is_active IS NOT FALSE
), existing AS (
    SELECT p.* FROM posts p WHERE p.post_id = CAST(:post_id AS uuid)
), ins AS (
    INSERT INTO posts (post_id, user_id, title, content, excerpt, slug, status, tags, metadata,
                       featured_image_url, published_at, idempotency_fingerprint)
    SELECT CAST(:post_id AS uuid), a.user_id, CAST(:title AS text), CAST(:content AS text), CAST(:excerpt AS text),
           CASE WHEN CAST(:alt_slug AS text) IS NOT NULL
                     AND EXISTS (SELECT 1 FROM posts s WHERE s.slug = CAST(:slug AS text))
                THEN CAST(:alt_slug AS text) ELSE CAST(:slug AS text) END,
           CAST(:status AS text), CAST(:tags AS text[]), CAST(:metadata AS jsonb), CAST(:featured_image_url AS text),
           CASE WHEN CAST(:status AS text) = 'published' THEN now() END, CAST(:fingerprint AS text)
    FROM author a
    WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (post_id) DO NOTHING
    RETURNING *
)
SELECT EXISTS (SELECT 1 FROM author) AS registered,
       (SELECT {{post_json}} FROM ins p CROSS JOIN author u) AS created,
       (SELECT p.version FROM ins p) AS created_version,
       (SELECT p.slug FROM ins p WHERE p.status = 'published') AS created_published_slug,
       (SELECT e.user_id::text FROM existing e) AS existing_author,
       (SELECT {{post_json}} FROM existing p JOIN users u ON u.user_id = p.user_id) AS existing,
       (SELECT e.version FROM existing e) AS existing_version,
       (SELECT e.idempotency_fingerprint FROM existing e) AS existing_fingerprint

-- name: update_post
-- PATCH: applies the JSON patch of the fields the client sent, in one statement. The conditions
-- sit on the row being updated (p.*), so a concurrent update is re-checked against the newest row
-- version: of two PATCHes holding the same ETag, exactly one matches. `target` tells a missing
-- post from a refused one.
WITH patch AS (
    SELECT CAST(:patch AS jsonb) AS j
), target AS (
    SELECT p.post_id, p.user_id, p.status FROM posts p WHERE p.post_id = CAST(:post_id AS uuid)
), upd AS (
    UPDATE posts p SET
        title = CASE WHEN x.j ? 'title' THEN x.j ->> 'title' ELSE p.title END,
        content = CASE WHEN x.j ? 'content' THEN x.j ->> 'content' ELSE p.content END,
        excerpt = CASE WHEN x.j ? 'excerpt' THEN x.j ->> 'excerpt' ELSE p.excerpt END,
        featured_image_url = CASE WHEN x.j ? 'featured_image_url' THEN x.j ->> 'featured_image_url'
                                  ELSE p.featured_image_url END,
        tags = CASE WHEN x.j ? 'tags' THEN ARRAY(SELECT jsonb_array_elements_text(x.j -> 'tags')) ELSE p.tags END,
        metadata = CASE WHEN x.j ? 'metadata' THEN x.j -> 'metadata' ELSE p.metadata END,
        status = coalesce(x.j ->> 'status', p.status),
        published_at = CASE WHEN coalesce(x.j ->> 'status', p.status) = 'published'
                            THEN coalesce(p.published_at, now()) ELSE p.published_at END,
        version = p.version + 1
    FROM target t, patch x
    WHERE p.post_id = t.post_id
      AND (CAST(:is_admin AS boolean) OR (p.user_id = CAST(:caller AS uuid) AND EXISTS (
            SELECT 1 FROM users c WHERE c.user_id = CAST(:caller AS uuid) AND c.is_active)))
      AND p.status <> 'archived'
      AND (CAST(:expected AS int[]) IS NULL OR p.version = ANY (CAST(:expected AS int[])))
    RETURNING p.*
)
SELECT t.user_id::text AS owner, t.status,
       EXISTS (SELECT 1 FROM users c WHERE c.user_id = CAST(:caller AS uuid) AND c.is_active) AS caller_active,
       (SELECT {{post_json}} FROM upd p JOIN users u ON u.user_id = p.user_id) AS body,
       (SELECT p.version FROM upd p) AS version
FROM target t

-- name: archive_post
-- DELETE archives: the row and everything hanging off it stay.
WITH target AS (
    SELECT p.post_id, p.user_id, p.status FROM posts p WHERE p.post_id = CAST(:post_id AS uuid)
), upd AS (
    UPDATE posts p SET status = 'archived', version = p.version + 1
    FROM target t
    WHERE p.post_id = t.post_id
      AND (p.user_id = CAST(:caller AS uuid) OR CAST(:is_admin AS boolean))
      AND p.status <> 'archived'
      AND (CAST(:expected AS int[]) IS NULL OR p.version = ANY (CAST(:expected AS int[])))
    RETURNING p.post_id
)
SELECT t.user_id::text AS owner, t.status, EXISTS (SELECT 1 FROM upd) AS archived
FROM target t

-- name: count_view
-- A view of a published post, counted at most once per viewer and window, in one statement.
-- `mark` records (post, viewer) or, when a mark exists, moves it only if it is older than the
-- window; a concurrent duplicate waits on the primary key and then finds the fresh mark, so it
-- does not count. `sweep` deletes a few expired marks (never the one `mark` touches), enough to
-- keep the table at about one window of views. view_count is the new count, or the unchanged
-- one; NULL when the post is not published.
WITH target AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), mark AS (
    INSERT INTO post_view_marks AS m (post_id, viewer, counted_at)
    SELECT t.post_id, :viewer, now() FROM target t
    ON CONFLICT (post_id, viewer) DO UPDATE SET counted_at = EXCLUDED.counted_at
        WHERE m.counted_at <= now() - make_interval(secs => :window_seconds)
    RETURNING m.post_id
), sweep AS (
    DELETE FROM post_view_marks d
    WHERE (d.post_id, d.viewer) IN (
        SELECT e.post_id, e.viewer FROM post_view_marks e
        WHERE e.counted_at <= now() - make_interval(secs => :window_seconds)
          AND NOT (e.post_id = CAST(:post_id AS uuid) AND e.viewer = :viewer)
        ORDER BY e.counted_at
        LIMIT 4
        FOR UPDATE SKIP LOCKED
    )
), counted AS (
    UPDATE posts p SET view_count = p.view_count + 1 FROM mark WHERE p.post_id = mark.post_id
    RETURNING p.view_count
)
SELECT coalesce((SELECT view_count FROM counted), p.view_count) AS view_count,
       EXISTS (SELECT 1 FROM counted) AS counted
FROM target t JOIN posts p ON p.post_id = t.post_id

-- name: like_post
-- Likes: posts.like_count moves by the rows this statement really inserted or deleted, and the
-- UPDATE reads the newest like_count under the row lock, so the count stays exact under any
-- concurrency; a repeated like or unlike writes nothing.
WITH target AS (
    SELECT p.post_id, p.like_count FROM posts p
    WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), liker AS (
    SELECT u.user_id FROM users u WHERE u.user_id = CAST(:user_id AS uuid) AND u.is_active IS NOT FALSE
), ins AS (
    INSERT INTO post_likes (post_id, user_id)
    SELECT t.post_id, l.user_id FROM target t CROSS JOIN liker l
    ON CONFLICT (post_id, user_id) DO NOTHING
    RETURNING post_id
), bump AS (
    UPDATE posts p SET like_count = p.like_count + 1
    FROM ins WHERE p.post_id = ins.post_id
    RETURNING p.like_count
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       EXISTS (SELECT 1 FROM liker) AS registered,
       coalesce((SELECT like_count FROM bump), (SELECT like_count FROM target)) AS like_count

-- name: unlike_post
WITH target AS (
    SELECT p.post_id, p.like_count FROM posts p
    WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), del AS (
    DELETE FROM post_likes l USING target t
    WHERE l.post_id = t.post_id AND l.user_id = CAST(:user_id AS uuid)
    RETURNING l.post_id
), dec AS (
    UPDATE posts p SET like_count = p.like_count - 1
    FROM del WHERE p.post_id = del.post_id
    RETURNING p.like_count
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       coalesce((SELECT like_count FROM dec), (SELECT like_count FROM target)) AS like_count

-- name: transfer_move
-- Transfer (seed 004's transferPost), statement 1 of its transaction: lock the post and the new
-- author (who then cannot be deactivated before COMMIT), and move the post when the new author
-- is active and differs from the current one.
WITH target AS (
    SELECT p.post_id, p.user_id FROM posts p WHERE p.post_id = CAST(:post_id AS uuid) FOR UPDATE
), new_author AS (
    SELECT u.user_id, u.is_active IS NOT FALSE AS active
    FROM users u WHERE u.user_id = CAST(:new_author_id AS uuid) FOR SHARE
), moved AS (
    UPDATE posts p SET user_id = n.user_id, version = p.version + 1
    FROM target t, new_author n
    WHERE p.post_id = t.post_id AND n.active AND p.user_id <> n.user_id
    RETURNING p.post_id
)
SELECT (SELECT t.user_id::text FROM target t) AS from_user_id,
       (SELECT n.active FROM new_author n) AS new_author_active,
       EXISTS (SELECT 1 FROM moved) AS moved

-- name: record_transfer
-- Statement 2 of a transfer: the audit record. If it fails, the move of statement 1 is rolled back.
INSERT INTO post_transfers (post_id, from_user_id, to_user_id, transferred_by)
VALUES (CAST(:post_id AS uuid), CAST(:from_user_id AS uuid), CAST(:to_user_id AS uuid), CAST(:transferred_by AS uuid))

-- name: read_post
-- Any post by id, whatever its status (after a write by its author or an admin).
SELECT {{post_json}} AS body, p.version, p.user_id::text AS owner, p.idempotency_fingerprint AS fingerprint
FROM posts p JOIN users u ON u.user_id = p.user_id WHERE p.post_id = CAST(:post_id AS uuid)
