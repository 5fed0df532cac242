-- The statements of shared/migrations.py (the schema_migrations history and its lock).

-- name: create_table
-- The history table; created by the first run.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL DEFAULT current_user,
    duration_ms integer     NOT NULL
)

-- name: history_exists
SELECT to_regclass('schema_migrations') IS NOT NULL

-- name: applied
SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version

-- name: record
INSERT INTO schema_migrations (version, name, checksum, duration_ms)
VALUES (CAST(:v AS integer), CAST(:n AS text), CAST(:c AS text), CAST(:d AS integer))
ON CONFLICT (version) DO NOTHING

-- name: lock
-- One run at a time: a transaction-level advisory lock on LOCK_KEY.
SELECT pg_advisory_xact_lock(CAST(:k AS bigint))

-- name: is_applied
SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = CAST(:v AS integer))
