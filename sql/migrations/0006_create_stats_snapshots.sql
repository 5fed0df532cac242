-- One row per scheduled statistics run. The primary key is the schedule's
-- time, so an overlapping or retried run for the same slot cannot write twice.
CREATE TABLE stats_snapshots (
    scheduled_at timestamptz PRIMARY KEY,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    source       text        NOT NULL CHECK (source IN ('primary', 'replica')),
    duration_ms  integer     NOT NULL CHECK (duration_ms >= 0),
    metrics      jsonb       NOT NULL,
    details      jsonb       NOT NULL DEFAULT '{}'::jsonb
);

-- The read-only role reads pg_stat_activity, pg_stat_statements and the other
-- statistics views of every session (connections by state, slow statements).
GRANT pg_monitor TO blog_readonly;
