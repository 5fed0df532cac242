"""Running the functions' handlers against a benchmark database.

A handler gets the environment a Lambda function would (settings from DB_*,
Powertools names) and its database credentials from BENCH_DB_SECRET instead
of Secrets Manager: benchmarks measure our code and PostgreSQL, not an AWS
API (the cost of importing boto3 for the first secret fetch is listed by the
import-time measure instead). The same replacement serves the cold-start
children, our functions and the peer alike.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CODE_PATHS = [
    ROOT,
    ROOT / "layers" / "shared",
    ROOT / "functions" / "users",
    ROOT / "functions" / "posts",
    ROOT / "functions" / "comments",
]
SECRET_ENV = "BENCH_DB_SECRET"


def pythonpath() -> str:
    return os.pathsep.join(str(p) for p in CODE_PATHS)


def function_env(env: dict[str, str], user: str, password: str) -> dict[str, str]:
    """The process environment of a function (or the peer) on the benchmark database."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "AWS_", "POWERTOOLS_"))}
    out.update(env)
    out.update(
        {
            SECRET_ENV: json.dumps({"username": user, "password": password}),
            "PYTHONPATH": pythonpath(),
            "POWERTOOLS_DEV": "false",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "bench-function",
        }
    )
    return out


def install_secret() -> None:
    """Serve the database secret from BENCH_DB_SECRET (no boto3, no network)."""
    import shared.secrets

    secret = json.loads(os.environ[SECRET_ENV])

    def from_env(
        secret_id: str, *, max_age: int, force: bool = False, version_stage: str | None = None
    ) -> dict[str, Any]:
        if version_stage not in (None, "AWSCURRENT"):
            raise shared.secrets.ServiceUnavailable("no rotation under way")  # no AWSPENDING here
        return dict(secret)

    shared.secrets.get_secret_json = from_env  # type: ignore[assignment]


def configure(env: dict[str, str]) -> None:
    """Point this process's layer at `env` (as function_env built it)."""
    for key in [k for k in os.environ if k.startswith(("DB_", "POWERTOOLS_"))]:
        del os.environ[key]
    os.environ.update(env)
    for p in reversed(CODE_PATHS):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    install_secret()
    from shared.db import reset_databases
    from shared.settings import get_settings

    get_settings.cache_clear()
    reset_databases()


class LambdaContext:
    function_name = "bench-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-function"
    log_group_name = "/aws/lambda/bench-function"
    log_stream_name = "2026/11/29/[$LATEST]bench"

    def __init__(self) -> None:
        self.aws_request_id = secrets.token_hex(16)

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Logs and EMF metrics go to stdout in Lambda; here they go to /dev/null."""
    saved = sys.stdout
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            yield
        finally:
            sys.stdout = saved


class PerThreadDatabases(dict):  # type: ignore[type-arg]
    """Stands in for shared.db's registry: one Database per thread, like one
    connection per Lambda container."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()
        self.opened: list[Any] = []
        self._lock = threading.Lock()

    def get(self, role: str, default: Any = None) -> Any:
        from shared.db import Database
        from shared.settings import get_settings

        db = getattr(self.local, role, None)
        if db is None:
            db = Database(get_settings().db)
            setattr(self.local, role, db)
            with self._lock:
                self.opened.append(db)
        return db


@contextmanager
def per_thread_connections() -> Iterator[PerThreadDatabases]:
    import shared.db

    saved = shared.db._databases
    registry = PerThreadDatabases()
    shared.db._databases = registry
    try:
        yield registry
    finally:
        shared.db._databases = saved
        for db in registry.opened:
            db.close()
