"""Test harness: real PostgreSQL, moto's Secrets Manager, Lambda-like imports.

* PostgreSQL: a throwaway cluster started from the server binaries (as an
  unprivileged OS user when run as root, on a free port, with TLS), or the
  server behind DATABASE_URL, where the suite creates and drops its own
  database. Migrations are applied once per session as the owner role.
* Each test that asks for `db` starts from empty tables.
* AWS: moto's server on loopback holds the database secrets exactly as Secrets
  Manager would; the layer reaches it through AWS_ENDPOINT_URL_SECRETS_MANAGER,
  the same way the local stack does. moto is for AWS APIs only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack import provision
from devstack.postgres import Cluster, free_port, throwaway_cluster
from devstack.tls import TlsFiles, make_tls_files
from testing.events import load_event as load_event  # re-exported: tests import it from here too

# Like Lambda, the Powertools settings exist before any function module is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "blog-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BlogTest")


def _thread_safe_apps() -> None:
    """Every app a test imports keeps its request state per thread: the concurrency tests run
    one module's handler in threads, which Lambda never does (tests/support/threads.py)."""
    import shared.http
    from tests.support.threads import thread_safe

    create_app = shared.http.create_app
    shared.http.create_app = lambda: thread_safe(create_app())  # type: ignore[assignment]


_thread_safe_apps()

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "sql" / "migrations"
EVENTS = ROOT / "events"
REGION = "us-east-1"
APP_SECRET = "blog/test/app"
READONLY_SECRET = "blog/test/readonly"
OWNER_SECRET = "blog/test/owner"


@dataclass
class PgServer:
    admin_url: str
    cluster: Cluster | None
    tls: TlsFiles | None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield PgServer(url, None, None)
        return
    # A short path: the socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="blogpg-"))
    os.chmod(root, 0o755)
    tls = make_tls_files(root / "tls")
    cluster = throwaway_cluster(root / "cluster", tls_files=(tls.server_cert, tls.server_key))
    try:
        yield PgServer(cluster.superuser_url, cluster, tls)
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def role_passwords() -> dict[str, str]:
    """One password per role for the whole session.

    Roles are cluster-wide: every database of the session (and every test that
    provisions one, or runs the migrate function) logs in as the same roles, so
    they all share this one mutable dict. A test that rotates a password
    updates it here, and every later connection uses the new one.
    """
    return {role: secrets.token_urlsafe(18) for role in (provision.OWNER, provision.APP, provision.READONLY)}


@pytest.fixture(scope="session")
def database(pg_server: PgServer, role_passwords: dict[str, str]) -> Iterator[provision.Database]:
    """The session's database, migrated, with the application roles' passwords set."""
    name = f"blog_test_{secrets.token_hex(4)}"
    db = provision.create(pg_server.admin_url, name, role_passwords, MIGRATIONS)
    db.passwords = role_passwords
    try:
        yield db
    finally:
        from shared.db import reset_databases

        reset_databases()
        provision.drop(pg_server.admin_url, name)


@pytest.fixture()
def scratch_database(pg_server: PgServer, role_passwords: dict[str, str]) -> Iterator[provision.Database]:
    """An empty database owned by the owner role, not migrated (migration tests)."""
    name = f"blog_scratch_{secrets.token_hex(4)}"
    from shared.migrations import connect_url

    passwords = role_passwords
    admin = connect_url(pg_server.admin_url)
    try:
        provision._ensure_role(admin, provision.OWNER, passwords[provision.OWNER], "CREATEROLE")
        admin.run("GRANT pg_monitor TO " + provision.OWNER + " WITH ADMIN OPTION")
        admin.run('CREATE DATABASE "' + name + '" OWNER ' + provision.OWNER)
    finally:
        admin.close()
    # The superuser installs what the owner may not (as the RDS master can).
    su = connect_url(provision._with_db(pg_server.admin_url, name))
    su.run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    su.close()
    from urllib.parse import urlparse

    u = urlparse(pg_server.admin_url)
    try:
        yield provision.Database(u.hostname or "127.0.0.1", u.port or 5432, name, passwords)
    finally:
        provision.drop(pg_server.admin_url, name)


@pytest.fixture(scope="session")
def aws(database: provision.Database) -> Iterator[dict[str, str]]:
    """moto's server with the database secrets, shaped like RDS-managed secrets."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://127.0.0.1:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    client = boto3.client("secretsmanager", region_name=REGION)
    for name, role in (
        (APP_SECRET, provision.APP),
        (READONLY_SECRET, provision.READONLY),
        (OWNER_SECRET, provision.OWNER),
    ):
        client.create_secret(Name=name, SecretString=database.secret(role))
    try:
        yield {**env, "client": client}  # type: ignore[dict-item]
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def layer_env(database: provision.Database, **overrides: str) -> dict[str, str]:
    env = {
        "STAGE": "test",
        "DB_HOST": database.host,
        "DB_PORT": str(database.port),
        "DB_NAME": database.name,
        "DB_SECRET_ID": APP_SECRET,
        "DB_TLS": "disable",
        "DB_CONNECT_TIMEOUT": "5",
        "DB_QUERY_TIMEOUT": "10",
        "POWERTOOLS_SERVICE_NAME": "blog-test",
        "POWERTOOLS_METRICS_NAMESPACE": "BlogTest",
        "POWERTOOLS_DEV": "false",
    }
    env.update(overrides)
    return env


@pytest.fixture()
def layer(
    database: provision.Database, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[provision.Database]:
    """The shared layer configured for the test database, as a function's environment would."""
    from aws_lambda_powertools.utilities import parameters

    from shared.db import reset_databases
    from shared.settings import get_settings

    for k, v in layer_env(database).items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    reset_databases()
    parameters.clear_caches()
    yield database
    reset_databases()
    get_settings.cache_clear()
    parameters.clear_caches()


@pytest.fixture()
def owner_conn(database: provision.Database) -> Iterator[Any]:
    conn = database.connect(provision.OWNER)
    yield conn
    conn.close()


@pytest.fixture()
def db(layer: provision.Database, owner_conn: Any) -> provision.Database:
    """Empty application tables, and the layer pointed at them."""
    tables = [
        r[0]
        for r in owner_conn.run(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
    ]
    if tables:
        owner_conn.run("TRUNCATE " + ", ".join('"' + t + '"' for t in tables) + " CASCADE")
    return layer


class LambdaContext:
    """What handlers read from the Lambda context object."""

    function_name = "blog-test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:blog-test-function"
    log_group_name = "/aws/lambda/blog-test-function"
    log_stream_name = "2026/11/23/[$LATEST]test"

    def __init__(self, remaining_ms: int = 30_000):
        self.aws_request_id = secrets.token_hex(16)
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


@pytest.fixture()
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture()
def free_tcp_port() -> int:
    return free_port()
