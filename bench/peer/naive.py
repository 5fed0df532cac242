"""The naive baseline: the seed 000 style, written with pg8000.

A psycopg2-like DB-API pool (minconn=2 opened at import, startup options,
pg8000's defaults: an SSLContext per connect, Nagle on), DB-API transactions
(every read inside BEGIN ... ROLLBACK, as psycopg2's pool does on putconn),
pg8000's own three-round-trip parameterized statements, a DAO that reads the
post and then its author (N+1), and OFFSET pagination with an exact COUNT(*).
It is what the design's traps describe, measured for contrast.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pg8000.dbapi


class ThreadedConnectionPool:
    """What psycopg2.pool.ThreadedConnectionPool does, over pg8000.dbapi."""

    def __init__(self, minconn: int, maxconn: int, **kwargs: Any):
        self.maxconn = maxconn
        self.kwargs = kwargs
        self._idle: list[Any] = []
        self._used = 0
        self._lock = threading.Lock()
        for _ in range(minconn):
            self._idle.append(self._connect())

    def _connect(self) -> Any:
        kwargs = dict(self.kwargs)
        cafile = kwargs.pop("sslrootcert", None)
        if cafile:
            kwargs["ssl_context"] = ssl.create_default_context(cafile=cafile)
        return pg8000.dbapi.connect(**kwargs)

    def getconn(self) -> Any:
        with self._lock:
            if self._idle:
                self._used += 1
                return self._idle.pop()
            if self._used >= self.maxconn:
                raise RuntimeError("connection pool exhausted")
            self._used += 1
        return self._connect()

    def putconn(self, conn: Any) -> None:
        conn.rollback()  # psycopg2 rolls back a connection that is not idle
        with self._lock:
            self._used -= 1
            self._idle.append(conn)

    def closeall(self) -> None:
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()


class DatabaseManager:
    def __init__(self) -> None:
        secret = json.loads(os.environ["BENCH_DB_SECRET"])
        tls = os.environ.get("DB_TLS", "verify-full") != "disable"
        self.pool = ThreadedConnectionPool(
            minconn=2,
            maxconn=20,
            host=os.environ["DB_HOST"],
            port=int(os.environ["DB_PORT"]),
            database=os.environ["DB_NAME"],
            user=secret["username"],
            password=secret["password"],
            sslrootcert=os.environ.get("DB_CA_BUNDLE") if tls else None,
            application_name="web-application",
            timeout=10,
            startup_params={"options": "-c timezone=UTC"},
        )

    @contextmanager
    def get_cursor(self) -> Iterator[Any]:
        conn = self.pool.getconn()
        try:
            cursor = conn.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            self.pool.putconn(conn)


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    return str(value)


class PostDAO:
    def __init__(self, db: DatabaseManager):
        self.db = db

    def get_post(self, post_id: str) -> dict[str, Any] | None:
        with self.db.get_cursor() as cursor:
            cursor.execute("SELECT * FROM posts WHERE post_id = %s AND status = 'published'", (post_id,))
            rows = _rows(cursor)
            if not rows:
                return None
            post = rows[0]
            cursor.execute(
                "SELECT user_id, username, first_name, last_name, profile_image_url FROM users WHERE user_id = %s",
                (post["user_id"],),
            )
            post["author"] = _rows(cursor)[0]
            return post

    def list_posts(self, limit: int, offset: int) -> dict[str, Any]:
        with self.db.get_cursor() as cursor:
            cursor.execute(
                "SELECT p.post_id, p.user_id, p.title, p.slug, p.excerpt, p.featured_image_url, p.tags, "
                "p.view_count, p.like_count, p.comment_count, p.published_at, "
                "u.username, u.first_name, u.last_name, u.profile_image_url "
                "FROM posts p LEFT JOIN users u ON u.user_id = p.user_id "
                "WHERE p.status = 'published' ORDER BY p.published_at DESC, p.post_id DESC LIMIT %s OFFSET %s",
                (limit, offset),
            )
            items = _rows(cursor)
            cursor.execute("SELECT COUNT(*) FROM posts WHERE status = 'published'")
            total = cursor.fetchone()[0]
            return {"items": items, "total": total, "limit": limit, "offset": offset}


_db: DatabaseManager | None = None


def dao() -> PostDAO:
    global _db
    if _db is None:
        _db = DatabaseManager()
    return PostDAO(_db)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    route = event.get("routeKey")
    if route == "GET /posts/{post_id}":
        body: Any = dao().get_post(event["pathParameters"]["post_id"])
        if body is None:
            return {"statusCode": 404, "body": '{"message": "not found"}'}
    elif route == "GET /posts":
        q = event.get("queryStringParameters") or {}
        body = dao().list_posts(int(q.get("limit", 20)), int(q.get("offset", 0)))
    else:
        return {"statusCode": 404, "body": '{"message": "no route"}'}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=_default),
    }


def close() -> None:
    global _db
    if _db is not None:
        _db.pool.closeall()
        _db = None
