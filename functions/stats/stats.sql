-- The statistics function's statements (loaded by stats_queries.py through shared/statements.py).

-- name: collect
-- Every number of a run in one statement: each application table is scanned once (FILTER
-- aggregates; posts grouped by author once, for the totals and the top authors), the rest comes
-- from the statistics views. `details.pg_stat_statements` says whether slow_statements can run.
WITH u AS (
    SELECT count(*) FILTER (WHERE is_active)                                     AS users_total,
           count(*) FILTER (WHERE is_active AND is_verified)                     AS users_verified,
           count(*) FILTER (WHERE is_active AND last_login_at > now() - interval '30 days') AS users_active_30d,
           count(*) FILTER (WHERE is_active AND created_at > now() - interval '7 days')     AS users_new_7d
    FROM users
), pa AS (
    -- One scan of posts serves both the totals and the top authors (the seed's
    -- user_post_stats view would scan posts a second time and join every user).
    SELECT user_id,
           count(*)                                                              AS total_posts,
           count(*) FILTER (WHERE status = 'published')                          AS published_posts,
           count(*) FILTER (WHERE status = 'draft')                              AS draft_posts,
           count(*) FILTER (WHERE status = 'archived')                           AS archived_posts,
           count(*) FILTER (WHERE status = 'published' AND published_at > now() - interval '24 hours')
                                                                                 AS published_24h,
           sum(view_count)                                                       AS total_views,
           sum(like_count)                                                       AS total_likes
    FROM posts
    GROUP BY user_id
), p AS (
    SELECT coalesce(sum(published_posts), 0)                                     AS posts_published,
           coalesce(sum(draft_posts), 0)                                         AS posts_draft,
           coalesce(sum(archived_posts), 0)                                      AS posts_archived,
           coalesce(sum(published_24h), 0)                                       AS posts_published_24h,
           coalesce(sum(total_views), 0)                                         AS post_views_total,
           coalesce(sum(total_likes), 0)                                         AS post_likes_total
    FROM pa
), c AS (
    SELECT count(*) FILTER (WHERE status = 'active')                             AS comments_active,
           count(*) FILTER (WHERE status = 'hidden')                             AS comments_hidden,
           count(*) FILTER (WHERE status = 'deleted')                            AS comments_deleted
    FROM comments
), act AS (
    SELECT count(*) FILTER (WHERE state = 'active')                              AS connections_active,
           count(*) FILTER (WHERE state = 'idle')                                AS connections_idle,
           count(*) FILTER (WHERE state LIKE 'idle in transaction%')             AS connections_idle_in_transaction,
           count(*)                                                              AS connections_total,
           coalesce(max(extract(epoch FROM now() - query_start))
                    FILTER (WHERE state = 'active' AND pid <> pg_backend_pid()), 0) AS longest_query_seconds
    FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
), db AS (
    SELECT pg_database_size(current_database())                                  AS database_size_bytes,
           xact_commit, xact_rollback, deadlocks,
           CASE WHEN blks_hit + blks_read = 0 THEN NULL
                ELSE round(100.0 * blks_hit / (blks_hit + blks_read), 3) END     AS cache_hit_ratio
    FROM pg_stat_database WHERE datname = current_database()
), dead AS (
    SELECT json_object_agg(relname, CASE WHEN n_live_tup + n_dead_tup = 0 THEN 0
                           ELSE round(100.0 * n_dead_tup / (n_live_tup + n_dead_tup), 3) END) AS ratios
    FROM pg_stat_user_tables WHERE relname IN ('users', 'posts', 'comments')
), top_authors AS (
    SELECT json_agg(t) AS rows FROM (
        SELECT top.user_id, u.username, top.total_posts, top.published_posts, top.total_views, top.total_likes
        FROM (SELECT * FROM pa ORDER BY total_views DESC, user_id LIMIT 5) top
        JOIN users u USING (user_id)  -- five primary-key look-ups
        ORDER BY top.total_views DESC, top.user_id
    ) t
), unused AS (
    SELECT json_agg(i) AS rows, count(*) AS n FROM (
        SELECT relname AS table_name, indexrelname AS index_name,
               pg_relation_size(indexrelid) AS size_bytes
        FROM pg_stat_user_indexes
        WHERE idx_scan = 0 AND schemaname = 'public'
        ORDER BY pg_relation_size(indexrelid) DESC
        LIMIT 10
    ) i
)
SELECT json_build_object(
    'users_total', u.users_total, 'users_verified', u.users_verified,
    'users_active_30d', u.users_active_30d, 'users_new_7d', u.users_new_7d,
    'posts_published', p.posts_published, 'posts_draft', p.posts_draft, 'posts_archived', p.posts_archived,
    'posts_published_24h', p.posts_published_24h,
    'post_views_total', p.post_views_total, 'post_likes_total', p.post_likes_total,
    'comments_active', c.comments_active, 'comments_hidden', c.comments_hidden,
    'comments_deleted', c.comments_deleted,
    'connections_active', act.connections_active, 'connections_idle', act.connections_idle,
    'connections_idle_in_transaction', act.connections_idle_in_transaction,
    'connections_total', act.connections_total,
    'longest_query_seconds', round(act.longest_query_seconds::numeric, 3),
    'database_size_bytes', db.database_size_bytes, 'cache_hit_ratio', db.cache_hit_ratio,
    'xact_commit_total', db.xact_commit, 'xact_rollback_total', db.xact_rollback,
    'deadlocks_total', db.deadlocks,
    'dead_tuple_ratio_users', (dead.ratios ->> 'users')::numeric,
    'dead_tuple_ratio_posts', (dead.ratios ->> 'posts')::numeric,
    'dead_tuple_ratio_comments', (dead.ratios ->> 'comments')::numeric,
    'unused_indexes', unused.n,
    'replica_lag_seconds', CASE WHEN pg_is_in_recovery()
        THEN coalesce(round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 3), 0) END
) AS metrics,
json_build_object(
    'top_authors', coalesce(top_authors.rows, '[]'::json),
    'unused_indexes', coalesce(unused.rows, '[]'::json),
    'in_recovery', pg_is_in_recovery(),
    'pg_stat_statements', to_regclass('pg_stat_statements') IS NOT NULL AND EXISTS (
        -- created is not enough: reading the view fails unless the library is preloaded
        SELECT 1 FROM pg_settings
        WHERE name = 'shared_preload_libraries'
          AND 'pg_stat_statements' = ANY (string_to_array(replace(setting, ' ', ''), ','))
    )
) AS details
FROM u, p, c, act, db, dead, top_authors, unused

-- name: slow_statements
-- The ten slowest statements by mean time (pg_stat_statements, when preloaded).
SELECT json_agg(s) FROM (
    SELECT queryid::text AS query_id, calls, round(mean_exec_time::numeric, 3) AS mean_ms,
           round(total_exec_time::numeric, 1) AS total_ms
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY mean_exec_time DESC
    LIMIT 10
) s

-- name: previous_counters
-- The snapshot before :scheduled_at, whose cumulative counters give this run's deltas.
SELECT metrics
FROM stats_snapshots
WHERE scheduled_at < :scheduled_at
ORDER BY scheduled_at DESC
LIMIT 1

-- name: record
-- The run's snapshot, keyed by its scheduled time: a retried run for the same slot writes nothing.
INSERT INTO stats_snapshots (scheduled_at, source, duration_ms, metrics, details)
VALUES (:scheduled_at, :source, :duration_ms, CAST(:metrics AS jsonb), CAST(:details AS jsonb))
ON CONFLICT (scheduled_at) DO NOTHING
RETURNING scheduled_at

-- name: latest_public
-- The public numbers of the latest snapshot as JSON text.
SELECT json_build_object(
    'generated_at', scheduled_at,
    'users', (metrics ->> 'users_total')::bigint,
    'posts_published', (metrics ->> 'posts_published')::bigint,
    'comments', (metrics ->> 'comments_active')::bigint,
    'post_views', (metrics ->> 'post_views_total')::bigint,
    'post_likes', (metrics ->> 'post_likes_total')::bigint
)
FROM stats_snapshots
ORDER BY scheduled_at DESC
LIMIT 1

-- name: history
-- One metric's values since :since, oldest first, at most :limit points, as JSON text.
SELECT coalesce(
    json_agg(json_build_object('at', scheduled_at, 'value', metrics -> :metric) ORDER BY scheduled_at),
    '[]')
FROM (
    SELECT scheduled_at, metrics
    FROM stats_snapshots
    WHERE scheduled_at >= :since
    ORDER BY scheduled_at
    LIMIT :limit
) s

-- name: schema_version
-- The newest applied migration (0 before any).
SELECT coalesce(max(version), 0) AS schema_version FROM schema_migrations

-- name: refresh_timeout
-- The refresh reads a year of posts: its time grows with them (7.1 s at 1M posts, BENCHMARKS.md),
-- past blog_app's 5 s statement_timeout, which is sized for requests. This raises the limit for
-- the rest of this transaction only (set_config(..., true) is SET LOCAL); it runs in the same
-- implicit transaction as refresh_popular, and PostgreSQL arms each statement's timeout when
-- the statement starts, so the refresh gets :timeout.
SELECT set_config('statement_timeout', CAST(:timeout AS text), true)

-- name: refresh_popular
-- GET /posts/popular's precomputed ranking (sql/migrations/0012): each complete UTC day's top 50,
-- recomputed on every scheduled run. Runs on the writer; returns the rows ranked.
SELECT refresh_popular_post_days() AS ranked
