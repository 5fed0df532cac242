"""The statistics function's scheduled run (EventBridge): collect, record, publish.

It collects users, content and database-health numbers in one statement on the read-only
role (the read replica when one is configured), records them as a `stats_snapshots` row
through the primary, and publishes them as EMF metrics (through the log: no CloudWatch
endpoint needed in the VPC). The row's key is the scheduled time, so an overlapping or retried
run for the same slot neither writes nor publishes twice.

A run that cannot reach the database fails loudly: a `StatsRunFailed` metric and an exception,
so the schedule's retry policy and DLQ apply. It never publishes zeros as if they were real.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import stats_queries as queries

from shared.db import Database, get_database
from shared.errors import AppError
from shared.observability import MetricUnit, logger, metrics
from shared.settings import get_settings

C, B, P, S = MetricUnit.Count, MetricUnit.Bytes, MetricUnit.Percent, MetricUnit.Seconds
# snapshot key -> (metric name, unit). Cumulative counters are published as deltas.
GAUGES: dict[str, tuple[str, MetricUnit]] = {
    "users_total": ("UsersTotal", C),
    "users_verified": ("UsersVerified", C),
    "users_active_30d": ("UsersActive30d", C),
    "users_new_7d": ("UsersNew7d", C),
    "posts_published": ("PostsPublished", C),
    "posts_draft": ("PostsDraft", C),
    "posts_archived": ("PostsArchived", C),
    "posts_published_24h": ("PostsPublished24h", C),
    "post_views_total": ("PostViewsTotal", C),
    "post_likes_total": ("PostLikesTotal", C),
    "comments_active": ("CommentsActive", C),
    "comments_hidden": ("CommentsHidden", C),
    "comments_deleted": ("CommentsDeleted", C),
    "connections_active": ("ConnectionsActive", C),
    "connections_idle": ("ConnectionsIdle", C),
    "connections_idle_in_transaction": ("ConnectionsIdleInTransaction", C),
    "connections_total": ("ConnectionsTotal", C),
    "longest_query_seconds": ("LongestQueryAge", S),
    "database_size_bytes": ("DatabaseSize", B),
    "cache_hit_ratio": ("CacheHitRatio", P),
    "dead_tuple_ratio_users": ("DeadTupleRatioUsers", P),
    "dead_tuple_ratio_posts": ("DeadTupleRatioPosts", P),
    "dead_tuple_ratio_comments": ("DeadTupleRatioComments", P),
    "unused_indexes": ("UnusedIndexes", C),
    "replica_lag_seconds": ("ReplicaLag", S),
}
DELTAS: dict[str, tuple[str, MetricUnit]] = {
    "xact_commit_total": ("TransactionsCommitted", C),
    "xact_rollback_total": ("TransactionsRolledBack", C),
    "deadlocks_total": ("Deadlocks", C),
}
HISTORY_METRICS = frozenset(GAUGES) | frozenset(DELTAS)


def scheduled_time(event: dict[str, Any]) -> datetime:
    raw = event.get("time")
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise ValueError(f"schedule event has no valid 'time': {raw!r}") from None


def _source_database() -> tuple[Database, str]:
    settings = get_settings()
    if settings.reader_db is not None:
        return get_database("reader"), "replica"
    return get_database("primary"), "primary"


def publish(values: dict[str, Any], previous: dict[str, Any] | None, duration_ms: int) -> int:
    published = 0
    for key, (name, unit) in GAUGES.items():
        if values.get(key) is not None:
            metrics.add_metric(name=name, unit=unit, value=float(values[key]))
            published += 1
    for key, (name, unit) in DELTAS.items():
        now, before = values.get(key), (previous or {}).get(key)
        if now is not None and before is not None and now >= before:  # a stats reset makes it negative: skip
            metrics.add_metric(name=name, unit=unit, value=float(now - before))
            published += 1
    metrics.add_metric(name="StatsRunDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
    metrics.add_metric(name="StatsRunSucceeded", unit=C, value=1)
    return published + 2


def refresh_popular(writer: Database) -> tuple[int | None, int]:
    """Recompute GET /posts/popular's per-day ranking: (rows ranked or None if it failed, ms).

    A failed refresh (e.g. cancelled by the writer role's statement_timeout on a large table)
    never fails the statistics: the ranking keeps its last state, and GET /posts/popular reads
    the days it has not ranked live (correct, slower). PopularRankingFailed says so.
    """
    started = time.perf_counter()
    try:
        ranked = queries.refresh_popular(writer)
    except AppError as exc:
        logger.warning("popular ranking not refreshed", extra={"code": exc.code, "error": exc.message})
        return None, int((time.perf_counter() - started) * 1000)
    return ranked, int((time.perf_counter() - started) * 1000)


def run(event: dict[str, Any]) -> dict[str, Any]:
    at = scheduled_time(event)
    source_db, source = _source_database()
    writer = get_database("writer") if get_settings().writer_db is not None else get_database("primary")
    started = time.perf_counter()
    values, details = queries.collect(source_db)
    duration_ms = int((time.perf_counter() - started) * 1000)
    ranked, ranking_ms = refresh_popular(writer)  # before the duplicate check: a retried slot refreshes too
    previous = queries.previous_counters(writer, at)
    if not queries.record(writer, at, source, duration_ms, values, details):
        logger.info(
            "snapshot for this slot already recorded; nothing published", extra={"scheduled_at": at.isoformat()}
        )
        return {"status": "duplicate", "scheduled_at": at.isoformat()}
    count = publish(values, previous, duration_ms)
    if ranked is None:
        metrics.add_metric(name="PopularRankingFailed", unit=C, value=1)
    else:
        metrics.add_metric(name="PopularRankingDuration", unit=MetricUnit.Milliseconds, value=ranking_ms)
    logger.info(
        "statistics published",
        extra={
            "scheduled_at": at.isoformat(),
            "source": source,
            "duration_ms": duration_ms,
            "metrics_published": count,
            "popular_posts_ranked": ranked,
            "top_authors": details.get("top_authors"),
            "unused_indexes": details.get("unused_indexes"),
            "slow_statements": details.get("slow_statements"),
        },
    )
    return {"status": "published", "scheduled_at": at.isoformat(), "metrics": count, "source": source}


def on_schedule(event: dict[str, Any], context: Any) -> Any:
    if event.get("source") != "aws.events" and event.get("detail-type") != "Scheduled Event":
        return NotImplemented
    try:
        return run(event)
    except Exception:
        # Publish only the failure, never zeros; raising lets retries and the DLQ work.
        metrics.clear_metrics()
        metrics.add_metric(name="StatsRunFailed", unit=C, value=1)
        logger.exception("statistics run failed")
        raise
