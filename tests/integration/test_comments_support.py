"""Helpers shared by the comments tests (no tests here).

Rows are written as the owner with plain SQL (bypassing the API); the
migration's trigger fills thread_key and depth like it does for the dev seed.
"""

from __future__ import annotations

import importlib.util
import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.factories import make_post, make_user

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


def make_comment(
    conn: Any,
    post_id: Any,
    user_id: Any,
    *,
    parent: Any = None,
    status: str = "active",
    content: str | None = None,
    created_at: Any = None,
    like_count: int = 0,
) -> dict[str, Any]:
    """A comment row; posts.comment_count follows (it counts active comments)."""
    comment_id = str(uuid.uuid4())
    return _row(
        conn,
        """
        WITH ins AS (
            INSERT INTO comments
                (comment_id, post_id, user_id, parent_comment_id, content, status, like_count, created_at)
            VALUES (:id, :post, :user, :parent, :content, :status, :likes, COALESCE(:created_at::timestamptz, now()))
            RETURNING *
        ), counted AS (
            UPDATE posts SET comment_count = comment_count + 1
            WHERE post_id = (SELECT post_id FROM ins WHERE status = 'active')
        )
        SELECT * FROM ins
        """,
        id=comment_id,
        post=str(post_id),
        user=str(user_id),
        parent=str(parent) if parent else None,
        content=content or f"comment {comment_id[:8]}",
        status=status,
        likes=like_count,
        created_at=created_at,
    )


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


@pytest.fixture()
def handler(db: Any) -> Any:
    # Imported once the layer is configured: make_handler reads the settings.
    import comments_app

    return comments_app.handler


@pytest.fixture()
def world(db: Any, owner_conn: Any) -> dict[str, Any]:
    """Given: an admin, two users, a published post by `author` and a thread on it."""
    admin = make_user(owner_conn, username="admin_" + uuid.uuid4().hex[:6])
    author = make_user(owner_conn)
    reader = make_user(owner_conn)
    post = make_post(owner_conn, author["user_id"])
    top = make_comment(owner_conn, post["post_id"], reader["user_id"], content="first!")
    return {
        "admin": str(admin["user_id"]),
        "author": str(author["user_id"]),
        "reader": str(reader["user_id"]),
        "post": str(post["post_id"]),
        "comment": str(top["comment_id"]),
    }


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
