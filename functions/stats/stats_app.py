"""StatsFunction: scheduled statistics as CloudWatch metrics, plus /stats and /health.

On the EventBridge schedule it collects users, content and database-health
numbers in one statement on the read-only role (the read replica when one is
configured), records them as a `stats_snapshots` row through the primary, and
publishes them as EMF metrics (through the log: no CloudWatch endpoint needed in
the VPC). The row's key is the scheduled time, so an overlapping or retried run
for the same slot neither writes nor publishes twice.

A run that cannot reach the database fails loudly: a `StatsRunFailed` metric and
an exception, so the schedule's retry policy and DLQ apply. It never publishes
zeros as if they were real.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import stats_queries as q
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared import snapstart
from shared.db import Database, get_database
from shared.errors import AppError, ServiceUnavailable, Unprocessable
from shared.http import IsoDateTime, create_app, json_response, make_handler, require_admin
from shared.observability import MetricUnit, logger, metrics
from shared.settings import get_settings

app = create_app()

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


# -- the scheduled run ---------------------------------------------------------------
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


def collect(database: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    row = database.one(q.COLLECT)
    assert row is not None
    values, details = json.loads(row["metrics"]), json.loads(row["details"])
    if details.pop("pg_stat_statements"):
        slow = database.value(q.SLOW_STATEMENTS)
        details["slow_statements"] = json.loads(slow) if slow else []
    return values, details


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
        ranked = int(writer.value(q.REFRESH_POPULAR))
    except AppError as exc:
        logger.warning("popular ranking not refreshed", extra={"code": exc.code, "error": exc.message})
        return None, int((time.perf_counter() - started) * 1000)
    return ranked, int((time.perf_counter() - started) * 1000)


def run(event: dict[str, Any]) -> dict[str, Any]:
    at = scheduled_time(event)
    source_db, source = _source_database()
    writer = get_database("writer") if get_settings().writer_db is not None else get_database("primary")
    started = time.perf_counter()
    values, details = collect(source_db)
    duration_ms = int((time.perf_counter() - started) * 1000)
    ranked, ranking_ms = refresh_popular(writer)  # before the duplicate check: a retried slot refreshes too
    previous_row = writer.one(q.PREVIOUS_COUNTERS, scheduled_at=at)
    previous = previous_row["metrics"] if previous_row else None
    recorded = writer.write_one(
        q.RECORD,
        scheduled_at=at,
        source=source,
        duration_ms=duration_ms,
        metrics=json.dumps(values),
        details=json.dumps(details, default=str),
    )
    if recorded is None:
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


# -- HTTP routes -----------------------------------------------------------------------
@app.get("/stats", summary="Latest public statistics", tags=["stats"], operation_id="getStats")
def latest_stats():
    body = get_database().value(q.LATEST_PUBLIC)
    if body is None:
        return json_response(
            {
                "generated_at": None,
                "users": None,
                "posts_published": None,
                "comments": None,
                "post_views": None,
                "post_likes": None,
            }
        )
    return json_response(body)


@app.get(
    "/admin/stats/history",
    summary="A metric's history (administrators)",
    tags=["stats"],
    operation_id="getStatsHistory",
    responses={
        200: {"description": "The metric and its recorded points since `since`"},
        401: {"description": "No verified identity"},
        403: {"description": "Not an administrator"},
        422: {"description": "Unknown metric or invalid input"},
    },
)
def stats_history(
    metric: Annotated[str, Query(min_length=1, max_length=64, json_schema_extra={"enum": sorted(HISTORY_METRICS)})],
    since: Annotated[IsoDateTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 288,
):
    require_admin(app)
    if metric not in HISTORY_METRICS:
        raise Unprocessable(
            "unknown metric",
            [{"field": "metric", "in": "query", "message": f"one of {', '.join(sorted(HISTORY_METRICS))}"}],
        )
    since = since or datetime.now(UTC) - timedelta(days=1)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    points = get_database().value(q.HISTORY, metric=metric, since=since, limit=limit)
    return json_response('{"metric":' + json.dumps(metric) + ',"points":' + points + "}")


@app.get("/health", summary="Database reachable and schema version", tags=["ops"], operation_id="getHealth")
def health():
    try:
        version = get_database().value(q.HEALTH)
    except AppError as exc:
        raise ServiceUnavailable("the database is unreachable", code="unhealthy") from exc
    return json_response({"status": "ok", "database": "reachable", "schema_version": version})


handler = make_handler(app, extra=on_schedule)
snapstart.register(app)  # SnapStart: primed before the snapshot, reset after a restore
