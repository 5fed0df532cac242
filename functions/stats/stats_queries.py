"""The statistics data module: runs the statements of stats.sql and returns domain values.

`collect` gathers every number of a run in one statement (see stats.sql). pg_stat_statements
may not be installed (or installed but not preloaded, when reading it fails), so it has its
own statement, run only when `collect` reports it usable.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared import statements
from shared.db import Database, get_database

SQL = statements.beside(__file__, "stats.sql")
"""The statements, by name (stats.sql)."""


def collect(database: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metric values, details) of one run, read through `database` (the replica when configured)."""
    row = database.one(SQL.collect)
    assert row is not None
    values, details = json.loads(row["metrics"]), json.loads(row["details"])
    if details.pop("pg_stat_statements"):
        slow = database.value(SQL.slow_statements)
        details["slow_statements"] = json.loads(slow) if slow else []
    return values, details


def previous_counters(database: Database, scheduled_at: datetime) -> dict[str, Any] | None:
    """The metrics of the snapshot before `scheduled_at`, or None for the first run."""
    row = database.one(SQL.previous_counters, scheduled_at=scheduled_at)
    return row["metrics"] if row else None


def record(
    database: Database,
    scheduled_at: datetime,
    source: str,
    duration_ms: int,
    values: dict[str, Any],
    details: dict[str, Any],
) -> bool:
    """Store the run's snapshot; False when this slot was recorded already (a retried run)."""
    recorded = database.write_one(
        SQL.record,
        scheduled_at=scheduled_at,
        source=source,
        duration_ms=duration_ms,
        metrics=json.dumps(values),
        details=json.dumps(details, default=str),
    )
    return recorded is not None


# The refresh's own statement_timeout: above its 7.1 s at 1M posts (linear in the year's posts:
# about 4M posts a year fit), below the writer's DB_QUERY_TIMEOUT (40 s in template.yaml) so the
# server cancels it first, and within the function's 60 s beside the statistics' own statement.
REFRESH_TIMEOUT_SECONDS = 30


def refresh_popular(database: Database) -> int:
    """Recompute GET /posts/popular's per-day ranking through `database` (the writer): rows ranked.

    One round trip, one transaction: the refresh runs with a statement_timeout of
    REFRESH_TIMEOUT_SECONDS instead of the login's 5 s (stats.sql, refresh_timeout).
    Raises the layer's typed errors (503 kinds) when the database cancels or fails it.
    """
    _, (row,) = database.run_atomic(
        [(SQL.refresh_timeout, {"timeout": f"{REFRESH_TIMEOUT_SECONDS}s"}), (SQL.refresh_popular, {})]
    )
    return int(row["ranked"])


def latest_public() -> str | None:
    """The public numbers of the latest snapshot as JSON text, or None before the first run."""
    value: str | None = get_database().value(SQL.latest_public)
    return value


def history(metric: str, since: datetime, limit: int) -> str:
    """`[{"at", "value"}, ...]` of `metric` since `since`, oldest first, as JSON text."""
    points: str = get_database().value(SQL.history, metric=metric, since=since, limit=limit)
    return points


def schema_version() -> int:
    """The newest applied migration; raises the layer's typed errors when the database is unreachable."""
    return int(get_database().value(SQL.schema_version))
