"""The reliability and security suite's harness: the local HTTP API over the test database.

`local_api` serves the real handlers the way `make dev` does (devstack.server's
LocalApi: routes from template.yaml, the JWT authorizer, one worker process per
function), but on a free port, against the session's test database and moto's
secrets, with a signing key of its own. Everything the workers print goes to
`LOGS`, which test_no_secrets_logged.py searches at the end of the suite, together
with the output of handlers called in-process (`captured_logs`).

Counts of inputs and requests are recorded in `TALLY` and printed at the end of
the session (docs/RELIABILITY.md quotes them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from devstack import jwt_local, provision
from devstack.postgres import free_port
from devstack.template import Function, Template, placeholder_text
from devstack.template import load as load_template
from tests.conftest import APP_SECRET, OWNER_SECRET, READONLY_SECRET, ROOT, layer_env
from tests.support.api import Reply
from tests.support.http import LogCapture, http_request

LOGS = LogCapture()
# (method, path) of every response that carried a password_hash (asserted empty by the suite).
PASSWORD_HASH_LEAKS: list[tuple[str, str]] = []
# Every secret value the suite handed out (passwords, tokens, secret strings), searched for in LOGS.
SECRETS_SEEN: set[str] = set()
TALLY: Counter[str] = Counter()


@dataclass
class LocalApiClient:
    url: str
    key: jwt_local.SigningKey
    template: Template
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # Invocations that reached a function's handler, per function (the authorizer's refusals never do).
    invocations: Counter[str] = field(default_factory=Counter)

    def token(self, sub: str, *, groups: list[str] | None = None, email: str | None = None, **kwargs: Any) -> str:
        token = jwt_local.mint(self.key, sub, groups=groups, email=email, **kwargs)
        SECRETS_SEEN.add(token)
        return token

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> Reply:
        reply = http_request(
            self.url, method, path, token=token, body=body, raw_body=raw_body, headers=headers, timeout=60
        )
        self.requests += 1
        self.statuses[reply.status] += 1
        TALLY["http requests"] += 1
        if b"password_hash" in reply.raw and _has_key(reply.body, "password_hash"):
            PASSWORD_HASH_LEAKS.append((method, path))
        return reply

    def register(self, *, groups: list[str] | None = None, prefix: str = "u") -> tuple[str, str]:
        """A new signed-in user: (sub, token), registered through POST /users."""
        sub = str(uuid.uuid4())
        token = self.token(sub, groups=groups, email=f"{prefix}-{sub[:8]}@example.com")
        reply = self.request(
            "POST", "/users", token=token, body={"username": f"{prefix}_{sub[:8]}", "first_name": prefix.title()}
        )
        assert reply.status == 201, (reply.status, reply.body)
        return sub, token


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, key) for v in value)
    return isinstance(value, str) and re.search('"' + key + r'"\s*:', value) is not None


def function_environment(database: provision.Database, moto_url: str, template: Template, fn: Function) -> dict:
    """The function's environment as the template declares it, pointed at the test database."""
    env = {k: placeholder_text(v) for k, v in fn.environment.items() if not isinstance(v, dict)}
    secret_for = {provision.APP: APP_SECRET, provision.READONLY: READONLY_SECRET, provision.OWNER: OWNER_SECRET}
    for key in fn.environment:
        if key.endswith("SECRET_ID"):
            role = fn.environment.get(key.removesuffix("SECRET_ID") + "USER")
            if not isinstance(role, str):
                role = provision.READONLY if key.startswith("READONLY_") else provision.APP
            env[key] = secret_for[role]
    base = layer_env(database)
    base.pop("DB_SECRET_ID")
    base.pop("POWERTOOLS_SERVICE_NAME")
    env.update(base)
    env.update(
        {
            "DB_AUTH": "secret",
            # The most talkative level: whatever a handler or the layer logs, the suite sees.
            "POWERTOOLS_LOG_LEVEL": "DEBUG",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "TZ": "UTC",
        }
    )
    return env


@pytest.fixture(scope="session")
def local_api(
    database: provision.Database, aws: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalApiClient]:
    from devstack.server import LocalApi, http_functions, make_server
    from devstack.workers import WorkerPool

    SECRETS_SEEN.update(database.passwords.values())
    key = jwt_local.load_or_create_key(tmp_path_factory.mktemp("jwt"))
    template_path = ROOT / "template.yaml"
    template = load_template(template_path)
    moto_url = aws["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
    pool = WorkerPool(template, lambda t, fn: function_environment(database, moto_url, t, fn), sink=LOGS, reload=False)
    httpd = make_server(None, "127.0.0.1", free_port())
    base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    api = LocalApi(template_path, pool, key, base_url, log_requests=False)
    httpd.RequestHandlerClass.api = api  # type: ignore[attr-defined]
    pool.warm([f.name for f in http_functions(template)])
    client = LocalApiClient(base_url, key, template)
    invoke = pool.invoke

    def counted_invoke(name: str, event: Any, request_id: str | None = None) -> Any:
        client.invocations[name] += 1
        return invoke(name, event, request_id)

    pool.invoke = counted_invoke  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, name="reliability-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while client.request("GET", "/health").status != 200:
        if time.monotonic() > deadline:
            pytest.fail("the local API did not become healthy:\n" + LOGS.tail())
        time.sleep(0.2)
    try:
        yield client
    finally:
        httpd.shutdown()
        httpd.server_close()
        pool.stop()


class _LineHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            LOGS.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


@pytest.fixture(scope="session", autouse=True)
def captured_logs() -> Iterator[LogCapture]:
    """In-process handler output (the functions' Powertools logger) also goes to LOGS."""
    from shared.observability import logger

    handler = _LineHandler()
    formatter = logger.registered_handler.formatter
    if formatter is not None:
        handler.setFormatter(formatter)
    logger._logger.addHandler(handler)
    # Other libraries' records (botocore, the moto server...) through the root logger, once.
    others = _LineHandler()
    others.addFilter(lambda record: record.name != logger._logger.name)
    root = logging.getLogger()
    root.addHandler(others)
    try:
        yield LOGS
    finally:
        logger._logger.removeHandler(handler)
        root.removeHandler(others)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """The log search (test_no_secrets_logged.py) runs after every other test of the session."""
    last = [i for i in items if i.nodeid.startswith("tests/reliability/test_no_secrets_logged.py")]
    if last:
        items[:] = [i for i in items if i not in last] + last


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY:
        terminalreporter.write_sep("-", "reliability counts")
        for name, count in sorted(TALLY.items()):
            terminalreporter.write_line(f"{name}: {count}")


# -- database snapshots ------------------------------------------------------------------
APP_TABLES_SQL = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1"
)


def seed_ids(api: LocalApiClient, prefix: str) -> dict[str, str]:
    """An admin user, a published post and a comment on it, made through the local API: the
    ids that fill route paths ({user_id}, {post_id}, {comment_id}, {slug}) and the token."""
    sub, token = api.register(groups=["admin"], prefix=prefix)
    post = api.request("POST", "/posts", token=token, body={"title": prefix, "content": "x", "status": "published"})
    comment = api.request("POST", f"/posts/{post.body['post_id']}/comments", token=token, body={"content": "x"})
    assert post.status == comment.status == 201
    return {
        "token": token,
        "user_id": sub,
        "post_id": post.body["post_id"],
        "comment_id": comment.body["comment_id"],
        "slug": post.body["slug"],
    }


def table_names(conn: Any) -> list[str]:
    return [r[0] for r in conn.run(APP_TABLES_SQL)]


def table_hashes(conn: Any) -> dict[str, str]:
    """One hash per application table over all its rows (in a stable order)."""
    out = {}
    for table in table_names(conn):
        (digest,) = conn.run(
            "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM \"" + table + '" t'
        )[0]
        out[table] = digest
    return out


def row_counts(conn: Any) -> dict[str, int]:
    return {t: conn.run('SELECT count(*) FROM "' + t + '"')[0][0] for t in table_names(conn)}


SCHEMA_SQL = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT 'col ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type
         || ' ' || is_nullable || ' ' || coalesce(column_default, '')
    FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
  UNION ALL
  SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
  UNION ALL
  SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'fn ' || p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trg ' || tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'role ' || rolname || ' ' || rolsuper::text || rolcreaterole::text || rolcreatedb::text FROM pg_roles
  UNION ALL
  SELECT 'acl ' || c.relname || ' ' || coalesce(c.relacl::text, '')
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
) s(x)
"""


def schema_hash(conn: Any) -> str:
    """A hash of the schema: tables, columns, constraints, functions, triggers, roles and grants."""
    return conn.run(SCHEMA_SQL)[0][0]


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@pytest.fixture(scope="session")
def owner(database: provision.Database) -> Iterator[Any]:
    """A session-long owner connection for snapshots (never used by the functions)."""
    conn = database.connect(provision.OWNER)
    yield conn
    conn.close()


__all__ = [
    "LOGS",
    "PASSWORD_HASH_LEAKS",
    "SECRETS_SEEN",
    "TALLY",
    "LocalApiClient",
    "Reply",
    "digest",
    "row_counts",
    "schema_hash",
    "table_hashes",
]
