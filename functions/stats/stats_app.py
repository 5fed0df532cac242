"""StatsFunction's routes: /stats, /stats/history and /health (HTTP only).

The scheduled run (EventBridge) is stats_schedule.py; the statements run in stats_queries.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import stats_queries as queries
from aws_lambda_powertools.event_handler.openapi.params import Query
from stats_models import Health, PublicStats, StatsHistory
from stats_schedule import HISTORY_METRICS, on_schedule

from shared import snapstart
from shared.errors import AppError, ServiceUnavailable, Unprocessable
from shared.http import create_app, json_response, make_handler, require_admin
from shared.schemas import IsoDateTime, error_docs, json_doc

app = create_app()


# -- HTTP routes -----------------------------------------------------------------------
@app.get(
    "/stats",
    summary="Latest public statistics",
    tags=["stats"],
    operation_id="getStats",
    responses={200: json_doc(PublicStats, "The latest snapshot's numbers (all null before the first run)")},
)
def latest_stats():
    body = queries.latest_public()
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
        200: json_doc(StatsHistory, "The metric and its recorded points since `since`"),
        **error_docs(401, 403, meanings={403: "Not an administrator.", 422: "Unknown metric or invalid input."}),
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
    points = queries.history(metric, since, limit)
    return json_response('{"metric":' + json.dumps(metric) + ',"points":' + points + "}")


@app.get(
    "/health",
    summary="Database reachable and schema version",
    tags=["ops"],
    operation_id="getHealth",
    responses={
        200: json_doc(Health, "The database answered"),
        **error_docs(503, meanings={503: "The database is unreachable."}),
    },
)
def health():
    try:
        version = queries.schema_version()
    except AppError as exc:
        raise ServiceUnavailable("the database is unreachable", code="unhealthy") from exc
    return json_response({"status": "ok", "database": "reachable", "schema_version": version})


handler = make_handler(app, extra=on_schedule)
snapstart.register(app)  # SnapStart: primed before the snapshot, reset after a restore
