-- GET /posts/popular without reading the whole window.
--
-- Before: the top N of `days` days read every published post of the window and
-- sorted it by score (50-700 ms at 1M posts, growing with the window's size).
-- Now the ranking is precomputed per UTC day: popular_post_days keeps each
-- complete day's 50 best posts (the largest `limit` the API accepts), ordered by
-- (score DESC, post_id DESC), the API's order. The union of every day's top 50
-- holds the window's top 50, so a request reads the table best-first and stops
-- at `limit`, plus, live from idx_posts_published_feed, what the table does not
-- cover: everything published since the ranking's last complete day, and the
-- window's partial first day when fewer than `limit` of that day's ranked posts
-- fall inside the window (posts/posts_queries.py: POPULAR_POSTS).
--
-- Freshness: refresh_popular_post_days() runs on the statistics schedule
-- (StatsScheduleRate, 5 minutes by default). Which posts of a complete day are
-- in its top 50, and their scores, are at most one schedule period old; posts
-- published since the start of the last ranked day are ranked live. Without any
-- refresh the whole window is read live: slower, never wrong.

CREATE TABLE popular_post_days (
    day          date        NOT NULL,        -- the UTC day of published_at
    post_id      uuid        NOT NULL REFERENCES posts (post_id) ON DELETE CASCADE,
    score        numeric     NOT NULL,        -- the score when ranked
    published_at timestamptz NOT NULL,        -- serves the window's partial first day
    PRIMARY KEY (day, post_id)
);

-- Best first across days: a window's ranked range is read in this order and stops at `limit`.
CREATE INDEX idx_popular_post_days_rank ON popular_post_days (score DESC, post_id DESC) INCLUDE (day);

-- One row: the ranking covers the complete UTC days before ranked_through.
CREATE TABLE popular_ranking_state (
    id             boolean     PRIMARY KEY DEFAULT true CHECK (id),
    ranked_through timestamptz NOT NULL,
    refreshed_at   timestamptz NOT NULL
);

-- The score of seed 004 and of posts_queries.SCORE (a test compares them).
CREATE FUNCTION popular_post_score(view_count integer, like_count integer, comment_count integer)
RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT view_count * 0.1 + like_count * 2 + comment_count * 3 $$;

-- Recompute the top 50 of each complete UTC day of the last 366 days, atomically
-- (readers see the old ranking or the new one). Returns the rows ranked.
-- One statement for the caller: no session state, safe behind RDS Proxy.
CREATE FUNCTION refresh_popular_post_days() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    today timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    ranked integer;
BEGIN
    DELETE FROM popular_post_days;
    -- One top-50 per day, each a range of idx_posts_published_feed: reads each day's posts
    -- once, never sorts the year. Days are 24 hours of UTC, whatever the session's time zone.
    INSERT INTO popular_post_days (day, post_id, score, published_at)
    SELECT (d.day_start AT TIME ZONE 'UTC')::date, top.post_id, top.score, top.published_at
    FROM generate_series(today - interval '366 days', today - interval '24 hours', interval '24 hours') AS d(day_start)
    CROSS JOIN LATERAL (
        SELECT p.post_id, p.published_at, popular_post_score(p.view_count, p.like_count, p.comment_count) AS score
        FROM posts p
        WHERE p.status = 'published' AND p.published_at >= d.day_start AND p.published_at < d.day_start + interval '24 hours'
        ORDER BY score DESC, p.post_id DESC
        LIMIT 50
    ) top;
    GET DIAGNOSTICS ranked = ROW_COUNT;
    INSERT INTO popular_ranking_state (id, ranked_through, refreshed_at) VALUES (true, today, now())
    ON CONFLICT (id) DO UPDATE SET ranked_through = EXCLUDED.ranked_through, refreshed_at = EXCLUDED.refreshed_at;
    RETURN ranked;
END
$$;

-- The statistics function refreshes through its writer login (blog_app); the
-- tables' DML privileges come from the schema's default privileges (0002).
REVOKE ALL ON FUNCTION refresh_popular_post_days() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_popular_post_days() TO blog_app;
