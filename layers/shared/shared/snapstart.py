"""Lambda SnapStart: prime before the snapshot, make the restored environment its own.

With SnapStart (`SnapStart: ApplyOn: PublishedVersions` in template.yaml) Lambda runs a
function's init once per published version, snapshots the memory and restores that snapshot
for every later cold start. Python hooks come from `snapshot-restore-py`, which the managed
Python runtimes (3.12 and later) include; before-snapshot hooks run in reverse order of
registration, after-restore hooks in order, and the after-restore hooks must finish within
10 s (AWS Lambda Developer Guide, "Lambda SnapStart runtime hooks for Python").

A function module calls `register(app)` once, after building its handler:

* before the snapshot, `prime(app)` sends one synthetic request per route (and per error path:
  malformed JSON, an invalid parameter) through the resolver, so Powertools builds every
  route's validation models and the JSON and error paths are warm in the snapshot. The
  database is replaced by an offline stand-in meanwhile: priming opens no socket. It also
  imports what the first connect imports lazily (Powertools parameters, boto3), and leaves the
  resolver's last event anonymous.
* after a restore, `restore()` makes the environment unique again: it drops every database
  connection without sending anything (a socket in a snapshot is shared by every restored
  copy; it must never carry a request), drops Powertools' parameter providers (their cached
  secrets' age counts from before the snapshot; their boto3 clients pool HTTPS sockets) and
  re-seeds `random` (Powertools' log sampling draws from it). Then, on the hook's own thread and
  without the network, it resolves the function's warm-up routes once (`register(app, warm=...)`,
  anonymous, the database replaced by the offline stand-in as in priming): that touches, in this
  copy of memory, what a request touches (measured by bench/restore.py: the first request after a
  restore went from 4.2-6.4x a warm one to 2.5-3.1x). Last it opens the environment's own
  connection, which the invocation that caused the restore needs anyway, and runs the function's
  warm-up statements on it (`register(app, statements=...)`: a new session loads its catalog
  caches and plans on its first statements), on a worker thread that holds the connection's lock
  (the first request waits for that connection rather than opening a second) for at most
  CONNECT_AHEAD_SECONDS of the hook's time. The
  IAM auth token is never cached: each connect signs a new one with the current clock and
  credentials (shared.iam_auth), so one older than its 15 minutes is never sent.

Outside Lambda (tests, the local stack, bench/) the hooks can be run by hand:
`run_before_snapshot_hooks()` in a parent, fork, then `run_after_restore_hooks()` in the
child, which then plays a restored environment.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import ServiceUnavailable

try:  # provided by Lambda's Python runtimes; on PyPI for local runs (requirements-dev.txt)
    import snapshot_restore_py as _hooks
except ImportError:  # pragma: no cover - no SnapStart outside Lambda without the package
    _hooks = None  # type: ignore[assignment]

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
_registered: set[int] = set()
# (app, "METHOD /path/{param}") resolved once after a restore, offline, on the hook's thread.
_warm_routes: list[tuple[Any, str]] = []
# Read-only (sql, params) run once after a restore on the new connection: a new database session
# loads its catalog caches and plans on its first statements (measured locally: 7-14 ms for the
# first GET /posts/{id} statement on a new backend, 0.5-1 ms after).
_warm_statements: list[tuple[str, dict[str, Any]]] = []


class _OfflineDatabase:
    """Stands in for every database while priming: each use answers 503, nothing connects."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def unavailable(*_: Any, **__: Any) -> Any:
            raise ServiceUnavailable("priming: the database is not used before a snapshot")

        return unavailable


def _routes(app: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path template, OpenAPI operation) for every route, from the app's OpenAPI schema."""
    schema = app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield method.upper(), path, operation


def _event(
    method: str, path: str, *, query: str = "", body: str | None = None, anonymous: bool = False
) -> dict[str, Any]:
    params = {}
    concrete = path
    while "{" in concrete:
        start = concrete.index("{")
        end = concrete.index("}", start)
        params[concrete[start + 1 : end]] = PLACEHOLDER_ID
        concrete = concrete[:start] + PLACEHOLDER_ID + concrete[end + 1 :]
    headers = {"accept": "application/json", "host": "prime.invalid"}
    if body is not None:
        headers["content-type"] = "application/json"
    claims = {
        "sub": PLACEHOLDER_ID,
        "email": "prime@example.com",
        "email_verified": "true",
        "cognito:groups": "[admin]",
    }
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": concrete,
        "rawQueryString": query,
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
        "headers": headers,
        "pathParameters": params or None,
        "requestContext": {
            "http": {"method": method, "path": concrete, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "requestId": "prime",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            **({} if anonymous else {"authorizer": {"jwt": {"claims": claims, "scopes": None}}}),
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _events(method: str, path: str, operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield _event(method, path)  # the handler itself (answered 503 by the offline database)
    queries = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    if queries:  # the validation error path: a value no parameter accepts
        yield _event(method, path, query="&".join(f"{q}=%00" for q in queries))
    if "requestBody" in operation:
        yield _event(method, path, body="{")  # malformed JSON: 400
        yield _event(method, path, body="{}")  # a body model's validation


@contextmanager
def _offline() -> Iterator[None]:
    """Every database replaced by the offline stand-in, the logger at ERROR (the synthetic 503s
    are not incidents); afterwards no database is cached and metrics added meanwhile are dropped."""
    from . import db
    from .observability import logger, metrics

    level = logger.log_level
    logger.setLevel("ERROR")
    db.reset_databases()  # nothing opened before may survive
    offline = _OfflineDatabase()
    for role in ("primary", "reader", "writer"):
        db._databases[role] = offline  # type: ignore[assignment]
    try:
        yield
    finally:
        db._databases.clear()  # the first request after a restore opens its own connection
        logger.setLevel(level)
        metrics.clear_metrics()


def prime(app: Any) -> dict[int, int]:
    """Resolve synthetic requests for every route of `app` without touching a database.

    Returns {status code: count} of the answers, for tests and the bench. Every answer is an
    error by design (no database); what matters is what got built and imported on the way.
    """
    from .settings import get_settings

    get_settings()  # a malformed setting fails the version's publish, not every restored request
    statuses: dict[int, int] = {}
    with _offline():
        for method, path, operation in _routes(app):
            for event in _events(method, path, operation):
                reply = app.resolve(event, None)
                json.loads(reply["body"])
                statuses[reply["statusCode"]] = statuses.get(reply["statusCode"], 0) + 1
        # The snapshot keeps the resolver's last event: leave an anonymous one, not the admin claims.
        app.resolve(_event("GET", "/", anonymous=True), None)
    _import_lazy_modules()
    return statuses


def _import_lazy_modules() -> None:
    """What the first connect would import: secrets.py imports Powertools parameters and boto3
    on the first fetch of a secret."""
    try:
        import boto3  # noqa: F401
        from aws_lambda_powertools.utilities import parameters  # noqa: F401
    except ImportError:  # pragma: no cover - boto3 is part of the Lambda runtime
        pass


def restore() -> None:
    """Make a restored environment its own: no inherited socket, cache age or random state."""
    from . import db

    for database in list(db._databases.values()):
        discard = getattr(database, "discard", None)
        if discard is not None:
            discard()  # closes this copy's descriptor; sends nothing on the shared session
    db._databases.clear()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
    random.seed()
    from .observability import logger

    # Powertools draws the DEBUG-sampling decision when the Logger is built (at import, so in the
    # snapshot): draw again, or every restored environment shares the snapshot's decision.
    logger.refresh_sample_rate_calculation()
    _warm_up()
    _connect_ahead()


def _warm_up() -> None:
    """Resolve each registered warm-up route once, offline (no socket, so no wait), on the hook's
    own thread: Powertools' resolver keeps the current event on the app, so it must never run
    beside a request. Anonymous requests; their answers (503), log lines below ERROR and metrics
    are discarded."""
    from .observability import logger

    with _offline():
        for app, route in _warm_routes:
            method, path = route.split(" ", 1)
            try:
                app.resolve(_event(method, path, anonymous=True), None)
            except Exception as exc:  # noqa: BLE001 - the hook must not fail the restore
                logger.error("a warm-up request after restore failed", extra={"route": route, "error": repr(exc)})


# Lambda allows the runtime's load plus the after-restore hooks 10 s in all (Lambda Developer
# Guide, "Lambda SnapStart runtime hooks for Python"), and a Cognito trigger must answer within
# 5 s. The early connect gets a share of that, no more; the first request waits for it if it is late.
CONNECT_AHEAD_SECONDS = 1.5


def _connect_ahead(budget: float = CONNECT_AHEAD_SECONDS) -> bool:
    """Open this environment's own connection and run the warm-up statements on it, so the first
    request does not wait for them. True when done within `budget` seconds.

    Never fails the restore and never holds it longer than `budget`: the work runs on a worker
    thread that holds the database's lock throughout, so a request arriving meanwhile waits for
    this connection instead of opening a second one; when the database or Secrets Manager is
    slow, the hook returns at the budget and the worker finishes (or fails) on its own timeouts.
    """
    import threading

    from . import db
    from .observability import logger

    done = threading.Event()

    def work() -> None:
        try:
            db.get_database().prepare(_warm_statements)
            done.set()
        except Exception as exc:  # noqa: BLE001 - the hook must not fail the restore
            logger.warning(
                "no database connection after restore; the first request opens it", extra={"error": repr(exc)}
            )

    worker = threading.Thread(target=work, name="snapstart-connect-ahead", daemon=True)
    worker.start()
    worker.join(budget)
    if worker.is_alive():
        logger.warning("the connection after restore is still opening; the first request waits for it")
    return done.is_set()


def register(app: Any, warm: tuple[str, ...] = (), statements: tuple[tuple[str, dict[str, Any]], ...] = ()) -> bool:
    """Register `prime(app)` before the snapshot and `restore()` after it. False without SnapStart's library.

    `warm`: routes of `app` ("GET /posts/{post_id}") a restored environment resolves once, offline
    and anonymously, before its first request. `statements`: read-only (sql, params) it runs once
    on its new connection (rows discarded; use ids that match nothing, e.g. PLACEHOLDER_ID).
    """
    if _hooks is None or id(app) in _registered:
        return False
    _warm_routes.extend((app, route) for route in warm)
    _warm_statements.extend(statements)
    if not _registered:
        _hooks.register_after_restore(restore)
    _registered.add(id(app))
    _hooks.register_before_snapshot(prime, app)
    return True


def run_before_snapshot_hooks() -> None:
    """What Lambda does before the snapshot: the registered hooks, last registered first."""
    if _hooks is not None:
        for func, args, kwargs in reversed(_hooks.get_before_snapshot()):
            func(*args, **kwargs)


def run_after_restore_hooks() -> None:
    """What Lambda does after a restore: the registered hooks, in order of registration."""
    if _hooks is not None:
        for func, args, kwargs in _hooks.get_after_restore():
            func(*args, **kwargs)
