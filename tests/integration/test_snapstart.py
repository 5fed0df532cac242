"""SnapStart, simulated by fork: the parent is the snapshot, a forked child a restored environment.

Lambda restores one snapshot into many environments. Whatever the parent holds at fork time (a
database socket, cached secrets, random state) a child inherits exactly as a restored copy would.
These tests run the registered hooks as Lambda does (before the snapshot in the parent, after
the restore in the child) against the real test PostgreSQL.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from devstack import provision
from shared import db as shared_db
from shared import iam_auth, snapstart
from shared.db import Database, get_database
from shared.secrets import Credentials, database_credentials
from shared.settings import load_settings
from testing.events import prepare
from testing.relay import Relay
from tests.conftest import layer_env, load_event
from tests.support.api import call


def in_child(work: Callable[[], Any]) -> Any:
    """Run `work` in a forked child and return what it returned (JSON), or raise what it raised."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with the moto server's threads running
        pid = os.fork()
    if pid == 0:  # the restored environment
        os.close(read_end)
        code = 0
        try:
            payload = {"ok": work()}
        except BaseException as exc:
            payload, code = {"error": repr(exc)}, 1
        with os.fdopen(write_end, "w") as out:
            out.write(json.dumps(payload, default=str))
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as inp:
        payload = json.loads(inp.read() or '{"error": "no answer"}')
    os.waitpid(pid, 0)
    if "error" in payload:
        raise AssertionError("in the restored child: " + payload["error"])
    return payload["ok"]


def backend_pid() -> int:
    return int(get_database().value("SELECT pg_backend_pid()"))


def test_every_function_primes_every_route_without_opening_a_socket(layer, monkeypatch):
    import comments_app
    import posts_app
    import stats_app
    import users_app

    def no_socket(*_: Any, **__: Any) -> Any:
        raise AssertionError("priming opened a database socket")

    monkeypatch.setattr(shared_db, "open_socket", no_socket)
    for module in (users_app, posts_app, comments_app, stats_app):
        routes = list(snapstart._routes(module.app))
        statuses = snapstart.prime(module.app)
        # one answer per route at least, each an error of the documented shape, none a 500
        assert sum(statuses.values()) >= len(routes) > 0, module.__name__
        assert set(statuses) <= {400, 401, 403, 404, 409, 412, 422, 503}, (module.__name__, statuses)
    assert shared_db._databases == {}  # the offline stand-in is gone; nothing is cached


def test_functions_register_their_hooks_at_import():
    from snapshot_restore_py import get_after_restore, get_before_snapshot

    import posts_app
    import users_app

    primed = [args[0] for func, args, _ in get_before_snapshot() if func is snapstart.prime]
    assert posts_app.app in primed and users_app.app in primed
    assert [f for f, _, _ in get_after_restore()].count(snapstart.restore) == 1


def test_without_the_restore_hook_a_child_would_answer_on_the_parents_session(db):
    """The hazard the hook removes, shown: a forked copy talks on the parent's socket."""
    parent = backend_pid()
    assert in_child(backend_pid) == parent


def test_a_restored_child_never_answers_on_the_parents_session(db):
    # Given a parent that primed (the snapshot) and holds an open session anyway
    snapstart.run_before_snapshot_hooks()
    parent = backend_pid()

    # When a restored child serves its first request
    def restored() -> dict[str, Any]:
        snapstart.run_after_restore_hooks()
        pid = backend_pid()
        import posts_app

        reply = call(posts_app.handler, prepare(load_event("posts/popular.json")))
        return {"pid": pid, "status": reply.status}

    child = in_child(restored)

    # Then it answered on a session of its own, and the parent's session is intact
    assert child["status"] == 200
    assert child["pid"] != parent
    assert backend_pid() == parent


def test_a_restored_child_has_its_connection_before_the_first_request(db):
    snapstart.run_before_snapshot_hooks()

    def restored() -> bool:
        snapstart.run_after_restore_hooks()
        return shared_db._databases["primary"]._conn is not None  # opened by the hook, not by a request

    assert in_child(restored) is True


def test_a_restored_child_warms_its_hot_read_on_its_own_session_and_keeps_nothing_of_it(db):
    """After a restore the posts function resolves GET /posts/{post_id} once (anonymous, an id that
    matches nothing) on the new session, before any request; no metric of it reaches the first
    invocation's EMF line."""
    import posts_app  # noqa: F401 - registers its hooks and warm-up route

    snapstart.run_before_snapshot_hooks()

    def restored() -> dict[str, Any]:
        from shared.observability import metrics

        snapstart.run_after_restore_hooks()
        watcher = db.connect(provision.OWNER)  # the child's own connection, to look at the layer's
        try:
            sessions = watcher.run(
                "SELECT pid, query FROM pg_stat_activity WHERE usename = :u AND pid <> pg_backend_pid()",
                u=provision.APP,
            )
        finally:
            watcher.close()
        own = backend_pid()
        return {
            "last": [q for pid, q in sessions if pid == own],
            "metrics": dict(metrics.metric_set),
        }

    child = in_child(restored)
    # the session's last statement is a warm-up route's read (the last registered; users_app's
    # when another test imported it), not the connect's
    assert len(child["last"]) == 1, child["last"]
    assert child["last"][0].startswith("SELECT") and (
        "FROM posts p" in child["last"][0] or "FROM users u" in child["last"][0] or "FROM comments" in child["last"][0]
    ), child["last"]
    assert child["metrics"] == {}


def test_restore_never_fails_when_the_database_is_down(layer, monkeypatch, free_tcp_port):
    from shared.settings import get_settings

    monkeypatch.setenv("DB_PORT", str(free_tcp_port))  # nothing listens there
    get_settings.cache_clear()
    snapstart.restore()  # no exception: the first request will answer 503 and try again
    assert shared_db._databases["primary"]._conn is None
    get_settings.cache_clear()


def test_restored_children_draw_different_random_numbers(db):
    snapstart.run_before_snapshot_hooks()
    random.seed(1234)  # a snapshot holds one random state

    def restored() -> float:
        snapstart.run_after_restore_hooks()
        return random.random()

    assert in_child(restored) != in_child(restored)


def test_restore_forgets_cached_secrets(db):
    from aws_lambda_powertools.utilities import parameters

    backend_pid()  # fetched and cached the secret
    provider = parameters.base.DEFAULT_PROVIDERS["secrets"]
    assert provider.store
    snapstart.restore()
    # the provider goes with its cache and its client (whose pooled HTTPS sockets were in the snapshot)
    assert parameters.base.DEFAULT_PROVIDERS.get("secrets") is not provider


# -- the IAM auth token: signed at each connect, never older than its 15 minutes -------------
class Clock:
    """Stands in for shared.iam_auth's datetime: `now` is set by the test."""

    def __init__(self, now: datetime):
        self.now_value = now

    def now(self, tz: Any = None) -> datetime:
        return self.now_value


def token_time(token: str) -> datetime:
    query = parse_qs(urlparse("https://" + token).query)
    assert query["X-Amz-Expires"] == ["900"]
    return datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.fixture()
def iam_database(db, monkeypatch):
    """A Database whose logins sign an IAM token (recorded with the clock), then log in with the
    test server's password (the test server does not check IAM tokens)."""
    clock = Clock(datetime.now(UTC))
    monkeypatch.setattr(iam_auth, "datetime", clock)
    iam = load_settings(layer_env(db, DB_AUTH="iam", DB_USER="blog_app")).db
    real = load_settings(layer_env(db)).db
    used: list[tuple[datetime, datetime]] = []  # (token time, clock at login)

    def credentials(_: Any, *, force: bool = False) -> Credentials:
        token = database_credentials(iam).password
        used.append((token_time(token), clock.now_value))
        return database_credentials(real, force=force)

    database = Database(real, credentials=credentials)
    monkeypatch.setitem(shared_db._databases, "primary", database)
    yield database, clock, used
    database.close()


def test_an_iam_token_is_signed_at_each_login_never_reused(iam_database):
    database, clock, used = iam_database
    database.value("SELECT 1")
    # 16 minutes later the session is gone (say, the proxy's idle timeout): the next login signs anew
    clock.now_value += timedelta(minutes=16)
    database.discard()
    database.value("SELECT 1")
    assert len(used) == 2
    for signed, login in used:
        assert timedelta(0) <= login - signed <= timedelta(minutes=15)


def test_a_restored_child_never_logs_in_with_a_token_from_before_the_snapshot(iam_database):
    database, clock, used = iam_database
    snapstart.run_before_snapshot_hooks()
    shared_db._databases["primary"] = database
    database.value("SELECT 1")  # the parent logged in at T
    snapshot_time = clock.now_value

    def restored() -> list[str]:
        clock.now_value = snapshot_time + timedelta(hours=2)  # restored two hours later
        snapstart.run_after_restore_hooks()
        shared_db._databases["primary"] = database  # the test's recording Database again
        database.value("SELECT 1")
        return [f"{s.isoformat()}|{login.isoformat()}" for s, login in used[1:]]

    logins = [tuple(datetime.fromisoformat(x) for x in item.split("|")) for item in in_child(restored)]
    assert len(logins) == 1
    signed, login = logins[0]
    assert signed > snapshot_time
    assert login - signed <= timedelta(minutes=15)


# -- found by checking the product against published SnapStart reports -----------------------
def test_restore_returns_within_its_budget_when_the_database_is_silent(layer, monkeypatch):
    """Lambda allows the runtime and its after-restore hooks 10 s, a Cognito trigger 5 s: a
    database that accepts and never answers must not hold the restore."""
    import socket
    import time

    from shared.settings import get_settings

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        monkeypatch.setenv("DB_PORT", str(silent.getsockname()[1]))
        get_settings.cache_clear()
        started = time.monotonic()
        snapstart.restore()
        took = time.monotonic() - started
        assert took < snapstart.CONNECT_AHEAD_SECONDS + 1.0, took
    finally:
        silent.close()
        get_settings.cache_clear()


def _app_sessions(database: provision.Database) -> set[int]:
    conn = database.connect(provision.OWNER)
    try:
        return {pid for (pid,) in conn.run("SELECT pid FROM pg_stat_activity WHERE usename = :u", u=provision.APP)}
    finally:
        conn.close()


def _point_layer_at(monkeypatch: pytest.MonkeyPatch, port: int, **env: str) -> None:
    from shared.settings import get_settings

    monkeypatch.setenv("DB_PORT", str(port))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    shared_db.reset_databases()


def test_restore_holds_to_its_budget_when_the_database_stalls_after_the_login(db, monkeypatch):
    """The login goes through, then every statement waits (a saturated database, a proxy's borrow
    wait): the warm-up statements must not hold the restore (10 s in all; a Cognito trigger 5 s)."""
    import time

    import users_app  # noqa: F401 - registers its warm-up route and statement

    relay = Relay(db.host, db.port)
    try:
        _point_layer_at(monkeypatch, relay.port, DB_QUERY_TIMEOUT="8")
        original = shared_db.Database.connection

        def connect_then_stall(self: Database) -> Any:
            conn = original(self)
            relay.delay = 9.0  # from now on every client chunk waits 9 s
            return conn

        monkeypatch.setattr(shared_db.Database, "connection", connect_then_stall)
        started = time.monotonic()
        snapstart.restore()
        took = time.monotonic() - started
        assert took < snapstart.CONNECT_AHEAD_SECONDS + 1.0, took
    finally:
        relay.close()
        shared_db.reset_databases()


def test_a_request_during_a_slow_connect_after_restore_waits_for_it_instead_of_opening_another(db, monkeypatch):
    """A login slower than the hook's budget: the first request uses the connection the hook
    started (one new database session), never a second one beside it."""
    import posts_app

    relay = Relay(db.host, db.port, delay=0.6)  # each client chunk held 0.6 s: a login takes ~2 s
    try:
        _point_layer_at(monkeypatch, relay.port)
        before = _app_sessions(db)
        snapstart.restore()  # returns at its budget, the connect still under way
        reply = call(posts_app.handler, prepare(load_event("posts/popular.json")))
        assert reply.status == 200
        database = shared_db._databases["primary"]
        assert database.connects == 1
        assert len(_app_sessions(db) - before) == 1
    finally:
        relay.close()
        shared_db.reset_databases()


def test_the_snapshot_keeps_no_administrator_event_in_the_resolver(layer):
    import posts_app

    snapstart.prime(posts_app.app)
    claims = posts_app.app.current_event.request_context.authorizer.jwt_claim or {}
    assert "cognito:groups" not in claims


def test_an_unreachable_secrets_manager_is_503_not_500(layer, monkeypatch, free_tcp_port):
    from aws_lambda_powertools.utilities import parameters

    from posts_app import handler
    from shared.db import reset_databases

    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{free_tcp_port}")
    parameters.clear_caches()
    reset_databases()
    reply = call(handler, prepare(load_event("posts/list.json")))
    assert (reply.status, reply.error_code) == (503, "database_unavailable"), reply.body
    parameters.clear_caches()
    reset_databases()


def test_iam_credentials_come_from_the_container_endpoint_without_environment_keys(monkeypatch):
    """A SnapStart function has no AWS_ACCESS_KEY_ID in its environment: Lambda serves the role's
    credentials at AWS_CONTAINER_CREDENTIALS_FULL_URI (Lambda Developer Guide, SnapStart)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from shared.settings import aws_credentials

    class Endpoint(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert self.headers["Authorization"] == "container-token"
            body = json.dumps(
                {
                    "AccessKeyId": "ASIACONTAINER",
                    "SecretAccessKey": "container-secret",
                    "Token": "container-session",
                    "Expiration": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{server.server_address[1]}/creds")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")
        assert aws_credentials() == ("ASIACONTAINER", "container-secret", "container-session")
    finally:
        server.shutdown()


def test_a_malformed_setting_fails_priming_not_every_restored_request(layer, monkeypatch):
    import posts_app
    from shared.settings import SettingsError, get_settings

    monkeypatch.setenv("DB_QUERY_TIMEOUT", "eight")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError):
            snapstart.prime(posts_app.app)
    finally:
        get_settings.cache_clear()
