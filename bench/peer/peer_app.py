"""The peer: our three hottest read routes as a FastAPI app behind Mangum.

What a reviewer would otherwise build: FastAPI with its validation, Mangum as
the Lambda adapter, the same Powertools Logger and Metrics (one module owns
them, decorated in the same order), the same connection (shared.db: TLS,
TCP_NODELAY, one round trip per statement) and the same SQL (peer_sql). Only
the web framework differs, so cold start and per-request overhead compare the
frameworks.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from mangum import Mangum

from bench.peer import peer_sql
from shared.db import get_database
from shared.errors import AppError
from shared.observability import logger, metrics
from shared.pagination import decode_cursor, page
from shared.settings import get_settings

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.exception_handler(AppError)
async def _app_error(_: Request, exc: AppError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def _caller(request: Request) -> tuple[str, bool]:
    event = request.scope.get("aws.event") or {}
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
    sub = claims.get("sub")
    if not sub:
        raise HTTPException(401, "sign in")
    return str(sub).lower(), "admin" in str(claims.get("cognito:groups") or "")


def _json(body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(content=body, media_type="application/json", headers=headers)


@app.get("/posts")
def list_posts(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    params: dict[str, Any] = {
        "author": None,
        "tag": None,
        "q": None,
        "like": None,
        "ilike": None,
        "after": None,
        "before": None,
    }
    params["limit"] = limit
    sql = peer_sql.LIST_FIRST
    if cursor is not None:
        params["c_1"], params["c_2"] = decode_cursor(peer_sql.LIST_KIND, cursor, 2)
        sql = peer_sql.LIST_NEXT
    rows = get_database().all(sql, **params)
    items, next_cursor = page(rows, limit, peer_sql.LIST_KIND, ("published_at", "post_id"))
    tail = '"' + next_cursor + '"' if next_cursor else "null"
    return _json('{"items":[' + ",".join(r["item"] for r in items) + '],"next_cursor":' + tail + "}")


@app.get("/posts/{post_id}")
def get_post(post_id: str, request: Request) -> Response:
    caller, is_admin = _caller(request)
    row = get_database().one(peer_sql.GET_POST, post_id=post_id, caller=caller, is_admin=is_admin)
    if row is None:
        raise HTTPException(404, "post not found")
    return _json(row["body"], {"ETag": f'"{row["version"]}"'})


@app.get("/users/{user_id}")
def get_user(user_id: str, request: Request) -> Response:
    caller, is_admin = _caller(request)
    sql = peer_sql.GET_USER_PRIVATE if is_admin or caller == user_id else peer_sql.GET_USER_PUBLIC
    row = get_database().one(sql, user_id=user_id)
    if row is None:
        raise HTTPException(404, "user not found")
    return _json(row["body"])


_mangum = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> Any:
    metrics.set_default_dimensions(Stage=get_settings().stage)
    return _mangum(event, context)
