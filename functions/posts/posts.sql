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
    SELECT u.user_id, u.username, u.first_name, u.last_name, u.profile_image_url, u.is_active IS NOT FALSE AS active
    FROM users u
    WHERE u.user_id = CAST(:user_id AS uuid)
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
    WHERE a.active AND NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (post_id) DO NOTHING
    RETURNING *
)
SELECT EXISTS (SELECT 1 FROM author) AS registered,
       coalesce((SELECT a.active FROM author a), false) AS active,
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
    SELECT u.user_id, u.is_active IS NOT FALSE AS active FROM users u WHERE u.user_id = CAST(:user_id AS uuid)
), ins AS (
    INSERT INTO post_likes (post_id, user_id)
    SELECT t.post_id, l.user_id FROM target t CROSS JOIN liker l WHERE l.active
    ON CONFLICT (post_id, user_id) DO NOTHING
    RETURNING post_id
), bump AS (
    UPDATE posts p SET like_count = p.like_count + 1
    FROM ins WHERE p.post_id = ins.post_id
    RETURNING p.like_count
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       EXISTS (SELECT 1 FROM liker) AS registered,
       coalesce((SELECT l.active FROM liker l), false) AS active,
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

-- name: popular_since
-- The window's start: now minus :days days.
(now() - make_interval(days => CAST(:days AS int)))

-- name: popular_first_day
-- The first complete UTC day inside the window (days are 24 hours of UTC).
(date_trunc('day', {{popular_since}} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '24 hours')

-- name: popular_boundary_day
-- The partial UTC day the window starts in, as a date of the ranking.
CAST(({{popular_first_day}} - interval '24 hours') AT TIME ZONE 'UTC' AS date)

-- name: popular_today
-- The start of today, UTC.
(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')

-- name: popular_ranked_through
-- How far the statistics function's refresh has ranked (sql/migrations/0012).
coalesce((SELECT ranked_through FROM popular_ranking_state), '-infinity')

-- name: popular_posts
-- Top posts of the last :days days by score, without reading the whole window. The window splits
-- into disjoint published_at ranges (sql/migrations/0012), each giving its top :limit:
--   S1 [since, first_day)          the partial first UTC day D. If at least :limit of D's ranked
--                                  posts (its top 50) fall inside, its top :limit is among them (any
--                                  other post of D scored lower than all 50): read from the ranking.
--                                  Otherwise live, through idx_posts_published_feed.
--   S2 [first_day, ranked_through) complete days: popular_post_days, read best-first through
--                                  idx_popular_post_days_rank (the table holds no later day)
--   S3 [max(first_day, ranked_through), today)  days the ranking has not reached yet: live; empty
--                                  unless the refresh is late (then skipped by a one-time filter)
--   S4 [today, now]                today (UTC): live
-- The bounds are expressions of now() and :days, so the planner sees the real ranges. Order and
-- ties: (score DESC, post_id DESC) everywhere. Ranked rows carry their score as ranked (at most
-- one refresh period old).
WITH boundary AS (
    SELECT count(*) >= CAST(:limit AS int) AS ranked
    FROM popular_post_days r JOIN posts p ON p.post_id = r.post_id
    WHERE p.status = 'published' AND r.day = {{popular_boundary_day}} AND r.published_at >= {{popular_since}}
), top AS (
    (SELECT r.post_id, r.score FROM popular_post_days r JOIN posts p ON p.post_id = r.post_id
     WHERE p.status = 'published' AND (SELECT ranked FROM boundary)
       AND r.day = {{popular_boundary_day}} AND r.published_at >= {{popular_since}}
     ORDER BY r.score DESC, r.post_id DESC LIMIT CAST(:limit AS int))
    UNION ALL
    (SELECT p.post_id, {{score}} AS score FROM posts p
     WHERE p.status = 'published' AND NOT (SELECT ranked FROM boundary)
       AND p.published_at >= {{popular_since}} AND p.published_at < {{popular_first_day}}
     ORDER BY score DESC, p.post_id DESC LIMIT CAST(:limit AS int))
    UNION ALL
    (SELECT r.post_id, r.score FROM popular_post_days r JOIN posts p ON p.post_id = r.post_id
     WHERE p.status = 'published' AND r.day >= CAST({{popular_first_day}} AT TIME ZONE 'UTC' AS date)
     ORDER BY r.score DESC, r.post_id DESC LIMIT CAST(:limit AS int))
    UNION ALL
    (SELECT p.post_id, {{score}} AS score FROM posts p
     WHERE p.status = 'published' AND {{popular_ranked_through}} < {{popular_today}}
       AND p.published_at >= greatest({{popular_first_day}}, {{popular_ranked_through}})
       AND p.published_at < {{popular_today}}
     ORDER BY score DESC, p.post_id DESC LIMIT CAST(:limit AS int))
    UNION ALL
    (SELECT p.post_id, {{score}} AS score FROM posts p
     WHERE p.status = 'published' AND p.published_at >= {{popular_today}}
     ORDER BY score DESC, p.post_id DESC LIMIT CAST(:limit AS int))
)
SELECT json_build_object('items', coalesce(json_agg(json_build_object(
           'post_id', p.post_id, 'title', p.title, 'slug', p.slug, 'excerpt', p.excerpt,
           'featured_image_url', p.featured_image_url, 'tags', coalesce(p.tags, '{}'::text[]),
           'view_count', p.view_count, 'like_count', p.like_count, 'comment_count', p.comment_count,
           'score', t.score, 'published_at', p.published_at, 'author', {{author_json}}
       ) ORDER BY t.score DESC, t.post_id DESC), '[]'::json)) AS body
FROM (SELECT post_id, score FROM top ORDER BY score DESC, post_id DESC LIMIT CAST(:limit AS int)) t
JOIN posts p ON p.post_id = t.post_id
JOIN users u ON u.user_id = p.user_id
