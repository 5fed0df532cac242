"""Helpers shared by the comments tests (no tests here).

Rows are written as the owner with plain SQL (bypassing the API); the
migration's trigger fills thread_key and depth like it does for the dev seed.
"""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

SEED = ROOT / "sql" / "seed"
APP_MODULE = ROOT / "functions" / "comments" / "comments_app.py"
_containers = itertools.count(1)

# The development seed's fixed ids (sql/seed/).
ADMIN = "00000000-0000-4000-8000-000000000001"
USER1 = "00000000-0000-4000-8000-000000000002"
USER2 = "00000000-0000-4000-8000-000000000003"
POST1 = "10000000-0000-4000-8000-000000000001"
COMMENT1 = "20000000-0000-4000-8000-000000000001"
COMMENT2 = "20000000-0000-4000-8000-000000000002"
COMMENT3 = "20000000-0000-4000-8000-000000000003"


def _row(conn: Any, sql: str, **params: Any) -> dict[str, Any]:
    rows = conn.run(sql, **params)
    names = [c["name"] for c in conn.columns]
    return dict(zip(names, rows[0], strict=True))


def comment_row(conn: Any, comment_id: Any) -> dict[str, Any]:
    return _row(conn, "SELECT * FROM comments WHERE comment_id = :id", id=str(comment_id))


def comment_count(conn: Any, post_id: Any) -> int:
    return int(conn.run("SELECT comment_count FROM posts WHERE post_id = :id", id=str(post_id))[0][0])


def active_comments(conn: Any, post_id: Any) -> int:
    return int(
        conn.run("SELECT count(*) FROM comments WHERE post_id = :id AND status = 'active'", id=str(post_id))[0][0]
    )


def load_dev_seed(conn: Any) -> None:
    """The development seed (fixed ids), applied like `make dev` does."""
    for path in sorted(Path(SEED).glob("*.sql")):
        conn.run(path.read_text())


def container_handler() -> Any:
    """A handler with its own copy of the app module, like a separate Lambda container.

    Powertools' resolver keeps the current event on the app object (one
    request at a time per container), so threads that stand for concurrent
    containers must not share one app.
    """
    spec = importlib.util.spec_from_file_location(f"comments_app_container_{next(_containers)}", APP_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler
