"""Calling handlers in-process like Lambda does, and reading their answers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.conftest import LambdaContext


@dataclass
class Reply:
    """An answer: status, lower-cased headers, the body parsed when JSON, and `raw` (the Lambda
    result dict for a handler called in-process, the bytes received over HTTP)."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: Any = None

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


def call(handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any]) -> Reply:
    result = handler(event, LambdaContext())
    body = result.get("body")
    if result.get("isBase64Encoded") and body:
        body = base64.b64decode(body).decode()
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    parsed = json.loads(body) if body and headers.get("content-type", "").startswith("application/json") else body
    return Reply(result["statusCode"], headers, parsed, result)


class StatementCounter:
    """Counts round trips on the layer's primary connection during a block."""

    def __init__(self) -> None:
        from shared.db import get_database

        self.db = get_database()
        self.start = 0
        self.count = 0

    def __enter__(self) -> StatementCounter:
        self.db.connection()  # open it first: connecting is not a statement
        self.start = self.db.round_trips
        return self

    def __exit__(self, *exc: object) -> None:
        self.count = self.db.round_trips - self.start


class _PerThreadDatabases(dict):  # type: ignore[type-arg]
    """Stands in for shared.db's registry: every thread gets its own Database,
    like every Lambda container has its own connection."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.local = threading.local()
        self.opened: list[Any] = []

    def get(self, role: str, default: Any = None) -> Any:
        from shared.db import Database
        from shared.settings import get_settings

        db = getattr(self.local, role, None)
        if db is None:
            settings = get_settings()
            db = Database(settings.db if role == "primary" else settings.reader_db)
            setattr(self.local, role, db)
            self.opened.append(db)
        return db


class per_thread_connections:
    """`with per_thread_connections(): run threads` — handlers in each thread
    use their own connection (simulated containers), closed afterwards."""

    def __enter__(self) -> _PerThreadDatabases:
        import shared.db

        self.saved = shared.db._databases
        self.registry = _PerThreadDatabases()
        shared.db._databases = self.registry
        return self.registry

    def __exit__(self, *exc: object) -> None:
        import shared.db

        shared.db._databases = self.saved
        for db in self.registry.opened:
            db.close()
