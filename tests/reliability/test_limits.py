"""Item 6, resource limits.

* Every bounded query parameter of the OpenAPI document (`limit`, `days`, ...): above
  its maximum, below its minimum, absurdly large or not a number → 422 naming the
  parameter; the maximum itself is served.
* Every route with a body: one byte over the layer's limit (MAX_BODY_BYTES, 1.5 MB),
  a 1 MB string, and 11 MB (over API Gateway's 10 MB) → 413, and no row changes.
* A statement that runs into the app role's statement_timeout → 503 `timeout` with a
  clean body, no backend left running or idle in a transaction (pg_stat_activity),
  and the next request on the same warm connection succeeds.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from shared.settings import DEFAULT_MAX_BODY_BYTES
from testing.events import claims, http_event
from tests.reliability.conftest import TALLY, LocalApiClient, row_counts, seed_ids, table_hashes
from tests.support.api import call

MAX_BODY_BYTES = DEFAULT_MAX_BODY_BYTES  # the layer's default (MAX_BODY_BYTES unset)


@pytest.fixture(scope="module")
def doc(local_api: LocalApiClient) -> dict[str, Any]:
    return local_api.request("GET", "/openapi.json").body


@pytest.fixture(scope="module")
def ids(local_api: LocalApiClient) -> dict[str, str]:
    return seed_ids(local_api, "lim")


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def _path(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


REQUIRED_QUERY = {"/admin/stats/history": "metric=users_total", "/admin/users/by-email": "email=lim%40example.com"}


def test_bounded_query_parameters(local_api: LocalApiClient, doc: dict[str, Any], ids: dict[str, str]):
    checked = 0
    for method, path, op in _operations(doc):
        if method != "GET":
            continue
        for param in op.get("parameters") or []:
            schema = param.get("schema") or {}
            if param["in"] != "query" or "maximum" not in schema:
                continue
            lo, hi = int(schema.get("minimum", 0)), int(schema["maximum"])
            base = _path(path, ids) + "?" + (REQUIRED_QUERY.get(path, "") + "&" if path in REQUIRED_QUERY else "")
            token = ids["token"] if op.get("security") else None
            ok = local_api.request("GET", f"{base}{param['name']}={hi}", token=token)
            assert ok.status == 200, (path, param["name"], hi, ok.body)
            for bad in (hi + 1, hi * 1000, lo - 1, -1, 10**20, "1e3", "1.5", "abc", "", "0x10", quote("\u0661\u0660")):
                reply = local_api.request("GET", f"{base}{param['name']}={bad}", token=token)
                assert reply.status == 422, (path, param["name"], bad, reply.status, reply.body)
                fields = [d.get("field") for d in reply.body["error"]["details"]]
                assert param["name"] in fields, (path, param["name"], bad, reply.body)
                checked += 1
    assert checked >= 80  # limit on 6 list routes, days, history's limit...
    TALLY["limits: out-of-range query values refused with 422"] += checked


def test_long_query_strings_are_refused(local_api: LocalApiClient):
    for path in ("/posts?q=", "/posts?tag=", "/users?q=", "/posts?fields=", "/posts?cursor=", "/posts/by-slug/"):
        # 8 KB reaches the function (API Gateway's request line limit is about that): 4xx with our body
        reply = local_api.request("GET", path + "a" * 8000)
        assert reply.status in (404, 422), (path, reply.status, str(reply.body)[:200])
        assert reply.body["error"]["message"]
        # 1 MB never gets that far (414 from the front door) and is never a 5xx
        reply = local_api.request("GET", path + "a" * 1_000_000)
        assert 400 <= reply.status < 500, (path, reply.status)
        TALLY["limits: 8 KB and 1 MB query strings refused"] += 2


def _body_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for m, p, op in _operations(doc) if op.get("requestBody")]


def test_bodies_over_the_limit_are_413(local_api: LocalApiClient, owner: Any, doc: dict[str, Any], ids: dict):
    before_hashes, before_counts = table_hashes(owner), row_counts(owner)
    tried = 0
    for method, path, op in _body_operations(doc):
        target = _path(path, ids)
        assert "413" in op["responses"], (method, path)
        over = b'{"content": "' + b"x" * (MAX_BODY_BYTES - 14) + b'"}'
        assert len(over) == MAX_BODY_BYTES + 1
        bodies = [over, json.dumps({"content": "y" * 2_000_000, "title": "t"}).encode()]
        if tried == 0:  # over API Gateway's own 10 MB: the same for every route, tried once
            bodies.append(b" " * (11 * 1024 * 1024))
        for body in bodies:
            reply = local_api.request(method, target, token=ids["token"], raw_body=body)
            assert reply.status == 413, (method, path, len(body), reply.status, str(reply.body)[:200])
            message = reply.body["error"]["message"] if "error" in reply.body else reply.body["message"]
            assert message
            tried += 1
        # just under the limit: read, validated, refused for what it says (never 413, never 5xx)
        under = b'{"content": "' + b"x" * (MAX_BODY_BYTES - 16) + b'"}'
        reply = local_api.request(method, target, token=ids["token"], raw_body=under)
        assert reply.status in (403, 404, 409, 422), (method, path, reply.status, str(reply.body)[:200])
        tried += 1
    assert table_hashes(owner) == before_hashes and row_counts(owner) == before_counts
    TALLY["limits: oversized bodies refused with 413"] += tried


def test_the_longest_bodies_in_four_byte_characters_fit_the_limit(local_api: LocalApiClient, ids: dict):
    """Every documented maximum is reachable in any script and any JSON spelling: a post and a
    comment at their longest, written in characters that take 4 bytes in UTF-8 (emoji) or 3
    (Japanese), sent raw or escaped, are created, never refused as too large (413)."""
    for char, ascii_only in (("😀", False), ("あ", False), ("😀", True), ("あ", True)):
        post = {
            "title": char * 500,
            "content": char * 100_000,
            "excerpt": char * 1000,
            "tags": [char * 29 + str(i) for i in range(10)],
            "metadata": {"k": char * ((8 * 1024 - 16) // len(char.encode()))},
        }
        # as raw UTF-8, and as \uXXXX escapes (Python's json.dumps default: 6 or 12 bytes a character)
        body = json.dumps(post, ensure_ascii=ascii_only).encode()
        assert len(body) <= MAX_BODY_BYTES, len(body)
        reply = local_api.request("POST", "/posts", token=ids["token"], raw_body=body)
        assert reply.status == 201, (char, len(body), reply.status, str(reply.body)[:300])
        assert len(reply.body["content"]) == 100_000
        comment = json.dumps({"content": char * 10_000}, ensure_ascii=ascii_only).encode()
        reply = local_api.request("POST", f"/posts/{ids['post_id']}/comments", token=ids["token"], raw_body=comment)
        assert reply.status == 201, (char, reply.status, str(reply.body)[:300])
        TALLY["limits: longest bodies in 3- and 4-byte characters accepted"] += 2


# -- statement_timeout -------------------------------------------------------------------
def _role_setting(owner: Any, name: str) -> str | None:
    rows = owner.run(
        "SELECT s FROM pg_db_role_setting d, unnest(d.setconfig) s"
        " WHERE d.setrole = 'blog_app'::regrole AND d.setdatabase = 0 AND s LIKE :p",
        p=name + "=%",
    )
    return rows[0][0].split("=", 1)[1] if rows else None


def _app_backends(owner: Any, database: str) -> list[tuple[Any, ...]]:
    return owner.run(
        "SELECT pid, state, wait_event_type, left(query, 60) FROM pg_stat_activity"
        " WHERE usename = 'blog_app' AND datname = :d AND pid <> pg_backend_pid()"
        " AND (state <> 'idle' OR wait_event_type = 'Lock')",
        d=database,
    )


def test_statement_timeout_is_a_clean_503(db: Any, owner_conn: Any, database: Any, pg_server: Any):
    import posts_app
    import users_app
    from shared.db import reset_databases
    from shared.migrations import connect_url

    # Given a registered author with a published post
    who = claims(str(uuid.uuid4()))
    assert (
        call(
            users_app.handler, http_event("POST", "/users", body={"username": "u" + uuid.uuid4().hex[:8]}, claims=who)
        ).status
        == 201
    )
    created = call(
        posts_app.handler,
        http_event("POST", "/posts", body={"title": "T", "content": "c", "status": "published"}, claims=who),
    )
    assert created.status == 201
    post_id = created.body["post_id"]
    # and the app role's statement_timeout lowered below its lock_timeout (roles are cluster-wide:
    # a superuser changes it, and puts it back)
    admin = connect_url(pg_server.admin_url)
    saved = _role_setting(admin, "statement_timeout")
    admin.run("ALTER ROLE blog_app SET statement_timeout = '400ms'")
    reset_databases()  # role settings apply to new sessions
    holder = database.connect("blog_owner")
    try:
        # When another session holds the post's table, so the edit waits past the timeout
        holder.run("BEGIN")
        holder.run("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        reply = call(
            posts_app.handler,
            http_event(
                "PATCH", "/posts/{post_id}", path_params={"post_id": post_id}, body={"title": "late"}, claims=who
            ),
        )
        elapsed = time.monotonic() - started
        read = call(
            posts_app.handler, http_event("GET", "/posts/{post_id}", path_params={"post_id": post_id}, claims=who)
        )
        lingering = _app_backends(owner_conn, database.name)
        holder.run("ROLLBACK")
    finally:
        holder.close()
        admin.run("ALTER ROLE blog_app SET statement_timeout = '" + (saved or "5s") + "'")
        admin.close()
    # Then both answer 503 "timeout" quickly, with the one error shape and no SQL in it
    for r in (reply, read):
        assert r.status == 503, r.body
        assert r.body["error"]["code"] == "timeout" and "try again" in r.body["error"]["message"]
        assert "cancel" not in json.dumps(r.body).lower() and "statement" not in json.dumps(r.body).lower()
    assert elapsed < 3, elapsed
    # and no backend of the app is left running, waiting or idle in a transaction
    assert lingering == [], lingering
    # and the same warm connection serves the next request, with nothing written by the failed one
    after = call(posts_app.handler, http_event("GET", "/posts/{post_id}", path_params={"post_id": post_id}, claims=who))
    assert after.status == 200 and after.body["title"] == "T"
    TALLY["limits: statement timeouts answered 503"] += 2


def test_a_lock_wait_is_a_clean_503_busy(db: Any, owner_conn: Any, database: Any):
    """lock_timeout (2 s for the app role) fires before statement_timeout: 503 busy, no backend left."""
    import posts_app
    import users_app

    who = claims(str(uuid.uuid4()))
    assert (
        call(
            users_app.handler, http_event("POST", "/users", body={"username": "u" + uuid.uuid4().hex[:8]}, claims=who)
        ).status
        == 201
    )
    created = call(
        posts_app.handler,
        http_event("POST", "/posts", body={"title": "T", "content": "c", "status": "published"}, claims=who),
    )
    post_id = created.body["post_id"]
    holder = database.connect("blog_owner")
    release = threading.Event()
    try:
        holder.run("BEGIN")
        holder.run("SELECT 1 FROM posts WHERE post_id = CAST(:p AS uuid) FOR UPDATE", p=post_id)
        reply = call(
            posts_app.handler,
            http_event(
                "PATCH", "/posts/{post_id}", path_params={"post_id": post_id}, body={"title": "late"}, claims=who
            ),
        )
        lingering = _app_backends(owner_conn, database.name)
        holder.run("ROLLBACK")
        release.set()
    finally:
        holder.close()
    assert reply.status == 503 and reply.body["error"]["code"] == "busy", reply.body
    assert lingering == [], lingering
    title = owner_conn.run("SELECT title FROM posts WHERE post_id = CAST(:p AS uuid)", p=post_id)[0][0]
    assert title == "T"
    TALLY["limits: lock waits answered 503"] += 1
