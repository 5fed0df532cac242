"""Rows for tests, written with plain SQL as the owner (bypassing the API)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

_seq = itertools.count(1)


def _row(conn: Any, sql: str, **params: Any) -> dict[str, Any]:
    rows = conn.run(sql, **params)
    names = [c["name"] for c in conn.columns]
    return dict(zip(names, rows[0], strict=True))


def make_user(conn: Any, **overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    values = {
        "user_id": str(uuid.uuid4()),
        "email": f"user{n}-{uuid.uuid4().hex[:6]}@example.com",
        "username": f"user_{n}_{uuid.uuid4().hex[:6]}",
        "first_name": "Test",
        "last_name": f"User{n}",
        "is_verified": False,
        "is_active": True,
    }
    values.update(overrides)
    cols = ", ".join(values)
    params = ", ".join(":" + k for k in values)
    return _row(conn, f"INSERT INTO users ({cols}, password_hash) VALUES ({params}, 'x') RETURNING *", **values)


def make_post(conn: Any, user_id: str, **overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    values: dict[str, Any] = {
        "post_id": str(uuid.uuid4()),
        "user_id": user_id,
        "title": f"Post {n}",
        "content": f"Content of post {n}",
        "slug": f"post-{n}-{uuid.uuid4().hex[:6]}",
        "status": "published",
    }
    values.update(overrides)
    if values["status"] == "published" and "published_at" not in values:
        values["published_at"] = None  # set below by SQL default of now()
    cols = ", ".join(k for k in values if not (k == "published_at" and values[k] is None))
    params = ", ".join(":" + k for k in values if not (k == "published_at" and values[k] is None))
    extra_col = ", published_at" if values.get("published_at") is None and values["status"] == "published" else ""
    extra_val = ", now()" if extra_col else ""
    clean = {k: v for k, v in values.items() if not (k == "published_at" and v is None)}
    return _row(conn, f"INSERT INTO posts ({cols}{extra_col}) VALUES ({params}{extra_val}) RETURNING *", **clean)


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
