"""Item 5, injection and nasty strings, through the local HTTP API.

Every path segment, every query parameter and every body field of every operation
in the OpenAPI document gets each string of NASTY (quotes, SQL, wildcards, NUL,
lone surrogates, control characters, huge numbers as text, ...), and every body
route gets malformed bodies (invalid UTF-8, deep nesting, huge numbers, arrays where
objects belong). Asserted for every request: no 5xx; a 4xx carries a readable message;
row counts change only when the request succeeded. Asserted at the end: the schema
(tables, columns, constraints, functions, triggers, roles, grants) is unchanged.
Separately: `%`, `_` and `\\` in searches match literally.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from tests.reliability.conftest import TALLY, LocalApiClient, Reply, schema_hash, table_hashes

NASTY: list[str] = [
    "'",
    '"',
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    '"; DROP TABLE posts; --',
    "1); TRUNCATE posts CASCADE; --",
    "$$; DROP TABLE comments; $$",
    "'||pg_sleep(3)||'",
    "1 UNION SELECT password_hash FROM users",
    "\\",
    "\\'",
    "%",
    "_",
    "%%",
    "%_%",
    "\x00",
    "a\x00b",
    "\ud800",
    "\r\n\t",
    "\x1b[31m",
    "\u202eevil",
    "😀" * 20,
    "\uff21\uff24\uff2d\uff29\uff2e",  # fullwidth ADMIN
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}",
    "${jndi:ldap://example.invalid/a}",
    "null",
    "-1",
    "9" * 400,
    "1e999",
    "NaN",
    " ",
    "",
    "x" * 5000,
]

# Bodies that are not what any route expects (sent as raw bytes).
MALFORMED_BODIES: list[tuple[str, bytes]] = [
    ("invalid UTF-8", b"\xff\xfe\xfd"),
    ("invalid UTF-8 inside a string", b'{"title": "\xff\xfe", "content": "\xc3\x28"}'),
    ("deeply nested arrays", b"[" * 100_000 + b"]" * 100_000),
    ("deeply nested objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("huge integer", b'{"title": ' + b"9" * 100_000 + b"}"),
    ("huge exponent", b'{"title": 1e999999, "days": -1e999999}'),
    ("NaN and Infinity", b'{"title": NaN, "content": Infinity}'),
    ("array", b'[{"title": "t", "content": "c"}]'),
    ("string", b'"title"'),
    ("null", b"null"),
    ("number", b"12"),
    ("true", b"true"),
    ("empty", b""),
    ("whitespace", b"   \n"),
    ("truncated", b'{"title": "t", "content": '),
    ("duplicate keys", b'{"content": "a", "content": "b", "title": "t", "title": "u"}'),
    ("a BOM first", b'\xef\xbb\xbf{"title": "t", "content": "c"}'),
    ("NUL escapes", b'{"title": "\\u0000", "content": "\\u0000", "bio": "\\u0000"}'),
    ("lone surrogate escapes", b'{"title": "\\ud800", "content": "\\udfff", "bio": "\\ud800"}'),
]


# A value of the wrong JSON type for a field (arrays where objects belong, and so on).
def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": value}
    return value


WRONG_TYPES: list[Any] = [
    [],
    {},
    [[["x"]]],
    {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}},
    _nested(900),  # within json.loads' recursion limit and under 8 KB
    {"k\x00": "v", "k": "v\x00"},
    ["\x00"],
    10**30,
    -(10**30),
    1.5e308,
    True,
]

SAFE_ID = "00000000-0000-4000-8000-00000000f00d"


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def problem(reply: Reply) -> str | None:
    """What is wrong with an answer to bad input, or None."""
    if reply.status >= 500:
        return f"{reply.status} {reply.raw[:200]!r}"
    if reply.status >= 400:
        body = reply.body
        if not isinstance(body, dict):
            return f"{reply.status} without a JSON body: {reply.raw[:200]!r}"
        message = (body.get("error") or {}).get("message") if "error" in body else body.get("message")
        if not (isinstance(message, str) and message.strip()):
            return f"{reply.status} without a readable message: {body}"
    return None


COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM user_profiles), (SELECT count(*) FROM posts),"
    " (SELECT count(*) FROM comments), (SELECT count(*) FROM post_likes), (SELECT count(*) FROM comment_likes),"
    " (SELECT count(*) FROM post_transfers)"
)


class Probe:
    """Sends requests, checks each answer, and that rows change only on success."""

    def __init__(self, api: LocalApiClient, owner: Any):
        self.api, self.owner = api, owner
        self.requests = 0
        self.statuses: dict[int, int] = {}
        self.failures: list[tuple[str, str]] = []

    def counts(self) -> list[int]:
        return list(self.owner.run(COUNTS_SQL)[0])

    def record(self, what: str, reply: Reply) -> None:
        self.requests += 1
        self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1
        wrong = problem(reply)
        if wrong:
            self.failures.append((what, wrong))

    def send(self, what: str, method: str, path: str, **kwargs: Any) -> Reply:
        before = self.counts()
        reply = self.api.request(method, path, **kwargs)
        self.record(what, reply)
        if reply.status >= 400 and self.counts() != before:
            self.failures.append((what, f"rows changed by a refused request ({reply.status})"))
        return reply


@pytest.fixture(scope="module")
def doc(local_api: LocalApiClient) -> dict[str, Any]:
    reply = local_api.request("GET", "/openapi.json")
    assert reply.status == 200
    return reply.body


@pytest.fixture(scope="module")
def setting(local_api: LocalApiClient) -> dict[str, Any]:
    """An admin who owns a published post with a comment: every id in a path is real."""
    sub, token = local_api.register(groups=["admin"], prefix="inj")
    post = local_api.request("POST", "/posts", token=token, body={"title": "I", "content": "i", "status": "published"})
    comment = local_api.request("POST", f"/posts/{post.body['post_id']}/comments", token=token, body={"content": "i"})
    return {
        "token": token,
        "ids": {
            "user_id": sub,
            "post_id": post.body["post_id"],
            "comment_id": comment.body["comment_id"],
            "slug": post.body["slug"],
        },
    }


VALID_BODIES: dict[str, dict[str, Any]] = {
    "PostCreate": {"title": "valid", "content": "valid"},
    "PostPatch": {"title": "valid"},
    "UserCreate": {"username": "placeholder"},
    "UserUpdate": {"first_name": "Valid"},
    "ProfileIn": {"bio": "valid"},
    "CommentCreate": {"content": "valid"},
    "CommentUpdate": {"content": "valid"},
    "TransferRequest": {"new_author_id": SAFE_ID},
}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def _path(template: str, ids: dict[str, str], override: dict[str, str] | None = None) -> str:
    values = {**ids, **(override or {})}
    return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe="", errors="surrogatepass"), template)


def _token_for(api: LocalApiClient, setting: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> str | None:
    if not op.get("security"):
        return None
    if method == "POST" and path == "/users":
        sub = str(uuid.uuid4())  # a new person each time: registration really runs
        return api.token(sub, groups=["admin"], email=f"inj-{sub[:8]}@example.com")
    return setting["token"]


def _plan(api: LocalApiClient, doc: dict[str, Any], setting: dict[str, Any]) -> list[tuple[str, str, str, Any, Any]]:
    """Every (what, method, path, token, raw body) of the nasty-input run."""
    ids = setting["ids"]
    plan: list[tuple[str, str, str, Any, Any]] = []
    for method, path, op in _operations(doc):
        params = op.get("parameters") or []
        body_schema = ((op.get("requestBody") or {}).get("content") or {}).get("application/json", {}).get("schema")
        model = body_schema["$ref"].rsplit("/", 1)[1] if body_schema else None
        base_body = dict(VALID_BODIES[model]) if model else None
        base_raw = json.dumps(base_body).encode() if base_body else None
        fields = list(_resolve(doc, body_schema).get("properties", {})) if body_schema else []

        def add(what: str, target: str, raw: bytes | None, method: str = method, path: str = path, op: Any = op):
            plan.append((f"{method} {path} {what}", method, target, _token_for(api, setting, method, path, op), raw))

        for nasty in NASTY:
            for p in (x for x in params if x["in"] == "path"):
                add(f"path {p['name']}={nasty[:20]!r}", _path(path, ids, {p["name"]: nasty}), base_raw)
            for p in (x for x in params if x["in"] == "query"):
                query = f"{p['name']}={quote(nasty, safe='', errors='surrogatepass')}"
                add(f"query {p['name']}={nasty[:20]!r}", _path(path, ids) + "?" + query, None)
            for field in fields:
                body = {**base_body, field: nasty}  # type: ignore[dict-item]
                if model == "UserCreate" and field != "username":
                    body["username"] = "u_" + uuid.uuid4().hex[:12]
                # json.dumps: \ud800 travels as the JSON escape it is
                add(f"body {field}={nasty[:20]!r}", _path(path, ids), json.dumps(body).encode())
        for field in fields:
            for wrong in WRONG_TYPES:
                add(
                    f"body {field}={str(wrong)[:20]}",
                    _path(path, ids),
                    json.dumps({**base_body, field: wrong}).encode(),
                )
        if model:
            for name, raw in MALFORMED_BODIES:
                add(f"malformed: {name}", _path(path, ids), raw)
    return plan


def test_nasty_strings_everywhere(local_api: LocalApiClient, owner: Any, doc: dict[str, Any], setting: dict[str, Any]):
    from concurrent.futures import ThreadPoolExecutor

    plan = _plan(local_api, doc, setting)
    schema_before = schema_hash(owner)
    probe = Probe(local_api, owner)

    # Reads first, four at a time (one worker per function): no row may change at all.
    reads = [p for p in plan if p[1] == "GET"]
    before = table_hashes(owner)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda p: local_api.request(p[1], p[2], token=p[3]), reads))
    for (what, *_), reply in zip(reads, replies, strict=True):
        probe.record(what, reply)
    assert table_hashes(owner) == before

    # Writes one at a time: row counts change only when the request succeeded.
    for what, method, target, token, raw in (p for p in plan if p[1] != "GET"):
        reply = probe.send(what, method, target, token=token, raw_body=raw)
        malformed = what.split(" ", 2)[2].startswith("malformed: ")
        tolerable = what.endswith(("duplicate keys", "a BOM first"))  # valid enough JSON
        if malformed and not tolerable and not 400 <= reply.status < 500:
            probe.failures.append((what, f"accepted: {reply.status}"))

    assert probe.failures == [], "\n".join(f"{w}: {p}" for w, p in probe.failures)
    assert schema_hash(owner) == schema_before
    for table in ("users", "posts", "comments", "user_profiles", "post_likes"):
        assert owner.run("SELECT to_regclass(:t) IS NOT NULL", t="public." + table)[0][0], table
    TALLY["injection: nasty strings"] = len(NASTY)
    TALLY["injection: malformed bodies"] = len(MALFORMED_BODIES)
    TALLY["injection: wrong-type values"] = len(WRONG_TYPES)
    TALLY["injection: requests"] += len(plan)
    print("injection statuses:", dict(sorted(probe.statuses.items())))


def test_raw_bytes_in_paths_and_queries(local_api: LocalApiClient, owner: Any, setting: dict[str, Any]):
    """Percent-escapes that decode to invalid UTF-8 or NUL, straight in the URL."""
    probe = Probe(local_api, owner)
    token = setting["token"]
    post = setting["ids"]["post_id"]
    for raw in ("%FF", "%C3%28", "%00", "%ED%A0%80", "%25", "%5C", "%27%3B--", "%E2%80%AE"):
        for path in (
            f"/posts/{raw}",
            f"/posts/by-slug/{raw}",
            f"/users/{raw}/profile",
            f"/posts?q={raw}abc",
            f"/posts?tag={raw}",
            f"/posts?cursor={raw}",
            f"/posts?fields=title,{raw}",
            f"/users?q=abc{raw}",
            f"/posts/{post}/comments?cursor={raw}",
            f"/admin/users/by-email?email=a{raw}@example.com",
        ):
            probe.send(f"GET {path}", "GET", path, token=token)
    TALLY["injection: requests"] += probe.requests
    assert probe.failures == [], "\n".join(f"{w}: {p}" for w, p in probe.failures)


def test_like_wildcards_are_literal(local_api: LocalApiClient):
    _, token = local_api.register(prefix="wild")
    marker = uuid.uuid4().hex[:8]
    titles = {
        "pct": f"{marker} 100% pure",
        "under": f"{marker} snake_case",
        "back": f"{marker} back\\slash",
        "plain": f"{marker} plain words",
        "lookalike": f"{marker} 100X pure snakeXcase",
    }
    for title in titles.values():
        reply = local_api.request(
            "POST", "/posts", token=token, body={"title": title, "content": "x", "status": "published"}
        )
        assert reply.status == 201, reply.body

    def search(q: str) -> set[str]:
        reply = local_api.request("GET", "/posts?limit=100&fields=title&q=" + quote(f"{marker} {q}" if q else marker))
        assert reply.status == 200, reply.body
        return {i["title"] for i in reply.body["items"]}

    assert search("") == set(titles.values())
    assert search("100%") == {titles["pct"]}
    assert search("100% p") == {titles["pct"]}
    assert search("snake_case") == {titles["under"]}
    # Words separated by spaces must all occur: a lone % or _ matches only the
    # title holding that very character (as a wildcard it would match them all).
    assert search("%") == {titles["pct"]}
    assert search("_") == {titles["under"]}
    assert search("back\\slash") == {titles["back"]}
    assert search("back\\") == {titles["back"]}
    # users: the search pattern escapes too
    u_marker = "zq" + uuid.uuid4().hex[:6]
    for name in (f"{u_marker}_x", f"{u_marker}ax"):
        sub = str(uuid.uuid4())
        t = local_api.token(sub, email=f"{name}@example.com")
        assert local_api.request("POST", "/users", token=t, body={"username": name}).status == 201
    found = local_api.request("GET", "/users?limit=100&q=" + quote(f"{u_marker}_x"))
    assert found.status == 200, found.body
    assert {i["username"] for i in found.body["items"]} == {f"{u_marker}_x"}
    TALLY["injection: wildcard searches"] += 10


# -- the bugs this suite found, one event each, at the handler -----------------------------
def _b64_event(event: dict[str, Any], raw: bytes) -> dict[str, Any]:
    import base64

    event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    return event


@pytest.mark.parametrize(
    "name,module,event_args,raw,status",
    [
        ("body not UTF-8 (API Gateway sends it base64)", "posts_app", ("POST", "/posts", {}), b"\xff\xfe", 400),
        (
            "nesting deeper than json.loads recurses",
            "posts_app",
            ("POST", "/posts", {}),
            b"[" * 100_000 + b"]" * 100_000,
            400,
        ),
        (
            "an integer of 5000 digits",
            "comments_app",
            ("PATCH", "/comments/{comment_id}", {"comment_id": SAFE_ID}),
            b'{"content": ' + b"7" * 5000 + b"}",
            400,
        ),
        (
            "an array where the object belongs",
            "posts_app",
            ("POST", "/posts", {}),
            b'[{"title": "t", "content": "c"}]',
            422,
        ),
        ("JSON null as the body", "users_app", ("POST", "/users", {}), b"null", 422),
    ],
)
def test_hostile_bodies_at_the_handler(db: Any, name: str, module: str, event_args: tuple, raw: bytes, status: int):
    import importlib

    from testing.events import claims, http_event
    from tests.support.api import call

    method, path, params = event_args
    event = _b64_event(http_event(method, path, path_params=params, claims=claims(str(uuid.uuid4()))), raw)
    event["headers"]["content-type"] = "application/json"
    reply = call(importlib.import_module(module).handler, event)
    assert reply.status == status, (name, reply.body)
    assert reply.body["error"]["message"]


@pytest.mark.parametrize(
    "patch",
    [
        {"title": "a\x00b"},
        {"content": "\x00"},
        {"excerpt": "x\x00"},
        {"metadata": {"k": "v\x00"}},
        {"metadata": {"k\x00": 1}},
        {"metadata": _nested(200)},
        {"featured_image_url": "https://example.com/\x00.png"},
    ],
    ids=["title", "content", "excerpt", "metadata value", "metadata key", "metadata depth", "url"],
)
def test_post_edits_with_nul_or_deep_metadata_are_422(db: Any, owner_conn: Any, patch: dict[str, Any]):
    import posts_app
    import users_app
    from testing.events import claims, http_event
    from tests.support.api import call

    who = claims(str(uuid.uuid4()))
    reg = call(
        users_app.handler, http_event("POST", "/users", body={"username": "u" + uuid.uuid4().hex[:8]}, claims=who)
    )
    assert reg.status == 201, reg.body
    post = call(posts_app.handler, http_event("POST", "/posts", body={"title": "t", "content": "c"}, claims=who))
    assert post.status == 201, post.body
    before = table_hashes(owner_conn)
    for method, path, params, body in (
        ("PATCH", "/posts/{post_id}", {"post_id": post.body["post_id"]}, patch),
        ("POST", "/posts", {}, {"title": "t", "content": "c", **patch}),
    ):
        reply = call(posts_app.handler, http_event(method, path, path_params=params, body=body, claims=who))
        assert reply.status == 422, (method, reply.body)
        # the field, or the path inside it (metadata.k)
        field = reply.body["error"]["details"][0]["field"]
        assert field.split(".")[0] == next(iter(patch)), reply.body
    assert table_hashes(owner_conn) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/octet-stream",
    ],
)
def test_a_body_that_is_not_json_is_415(db: Any, owner_conn: Any, content_type: str):
    import posts_app
    from testing.events import claims, http_event
    from tests.support.api import call

    event = http_event("POST", "/posts", body={"title": "t", "content": "c"}, claims=claims(str(uuid.uuid4())))
    event["headers"]["content-type"] = content_type
    before = table_hashes(owner_conn)
    reply = call(posts_app.handler, event)
    assert reply.status == 415, reply.body  # Unsupported Media Type (RFC 9110 §15.5.16)
    assert (
        reply.body["error"]["code"] == "unsupported_media_type" and "application/json" in reply.body["error"]["message"]
    )
    assert table_hashes(owner_conn) == before


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "1e9", " 12 "])
def test_a_timestamp_that_is_a_number_is_422(db: Any, value: str):
    """Pydantic reads a number as Unix time; the document promises ISO 8601 (found by the fuzzer)."""
    import posts_app
    import stats_app
    from testing.events import claims, http_event
    from tests.support.api import call

    for handler, path, query, who in (
        (posts_app.handler, "/posts", {"published_before": value}, None),
        (posts_app.handler, "/posts", {"published_after": value}, None),
        (
            stats_app.handler,
            "/admin/stats/history",
            {"metric": "users_total", "since": value},
            claims(str(uuid.uuid4()), groups=["admin"]),
        ),
    ):
        reply = call(handler, http_event("GET", path, query=query, claims=who))
        assert reply.status == 422, (path, query, reply.body)
        assert "ISO 8601" in json.dumps(reply.body), reply.body
    ok = call(posts_app.handler, http_event("GET", "/posts", query={"published_before": "2026-11-23T12:00:00Z"}))
    assert ok.status == 200


def test_forged_cursors(local_api: LocalApiClient, owner: Any):
    """Cursors are signed with a public digest (they are not credentials): anyone can forge one.
    Whatever values a forged cursor carries, the answer is a page or 400 invalid_cursor, never a 5xx."""
    import comments_queries
    import posts_queries
    import users_queries

    from shared.pagination import _digest

    def forged(kind: str, values: list[Any]) -> str:
        """A cursor of `kind` holding `values` as JSON exactly (an object stays an object), signed."""
        payload = json.dumps([kind, values], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload + _digest(payload)).rstrip(b"=").decode()

    # Rows of its own: tests using the `db` fixture empty the tables, module fixtures included.
    sub, token = local_api.register(groups=["admin"], prefix="cur")
    post = local_api.request("POST", "/posts", token=token, body={"title": "C", "content": "c", "status": "published"})
    comment = local_api.request("POST", f"/posts/{post.body['post_id']}/comments", token=token, body={"content": "c"})
    ids = {"user_id": sub, "post_id": post.body["post_id"], "comment_id": comment.body["comment_id"]}
    feed = dict(author=None, tag=None, search=None, after=None, before=None)
    lists = [
        (users_queries.users_kind(None, None), 2, "/users?limit=5"),
        (users_queries.user_posts_kind(ids["user_id"], False), 2, f"/users/{ids['user_id']}/posts?limit=5"),
        (posts_queries.list_kind("published_at", **feed), 2, "/posts?limit=5"),
        (posts_queries.list_kind("popular", **feed), 2, "/posts?limit=5&sort=popular"),
        (
            comments_queries.thread_kind(comments_queries.PUBLIC_KIND, ids["post_id"]),
            1,
            f"/posts/{ids['post_id']}/comments?limit=5",
        ),
        (
            comments_queries.thread_kind(comments_queries.MODERATION_KIND, ids["post_id"]),
            1,
            f"/admin/posts/{ids['post_id']}/comments?limit=5",
        ),
    ]
    odd_values: list[Any] = [
        {"t": "9999-12-31T23:59:59.999999+14:00"},
        {"t": "0001-01-01T00:00:00-14:00"},
        {"t": "2026-01-01T00:00:00"},
        {"t": "2026-13-45T99:00:00Z"},
        {"t": "'; DROP TABLE posts; --"},
        1e308,
        -1e308,
        float("nan"),
        float("inf"),
        10**40,
        "1e999999",
        "Infinity",
        "-0",
        True,
        None,
        [],
        {},
        {"t": 1},
        "x'; DROP TABLE posts; --",
        "00000000-0000-0000-0000-000000000000",
        ids["post_id"].upper(),
        ids["comment_id"],
        "\x00",
    ]
    schema_before = schema_hash(owner)
    probe = Probe(local_api, owner)
    pages: dict[str, int] = {}
    for kind, arity, path in lists:
        pages[path] = 0
        for first in odd_values:
            seconds = [ids["post_id"], "x'; DROP TABLE posts; --", None, 10**40] if arity == 2 else [None]
            for second in seconds:
                values = [first] if arity == 1 else [first, second]
                cursor = forged(kind, values)
                reply = probe.send(f"{path} cursor={values!r:.60}", "GET", f"{path}&cursor={cursor}", token=token)
                # 422: a popular-sort score beyond numeric's range ("1e999999") is refused by PostgreSQL
                if reply.status not in (200, 400, 422):
                    probe.failures.append((f"{path} {values!r:.60}", f"answered {reply.status}"))
                pages[path] += reply.status == 200
    assert probe.failures == [], "\n".join(f"{w}: {p}" for w, p in probe.failures)
    # The forged cursors are of each list's own kind: the well-formed ones reach its query
    assert all(pages.values()), pages
    assert schema_hash(owner) == schema_before
    TALLY["injection: forged cursors"] += probe.requests


HEADER_VALUES = [
    "'",
    "' OR '1'='1",
    "'; DROP TABLE posts; --",
    "*",
    'W/"1"',
    '"99999999999999999999"',
    '"-1"',
    '"1", *',
    '"1"' * 1000,
    "x" * 8000,
    "caf\xe9",
    '""',
    ",,,,",
    "%00",
    " ",
]


def test_nasty_if_match_and_idempotency_keys(local_api: LocalApiClient, owner: Any):
    """Headers the functions read (If-Match, Idempotency-Key): never a 5xx, rows move only on success."""
    _, token = local_api.register(prefix="hdr")
    post = local_api.request("POST", "/posts", token=token, body={"title": "H", "content": "h", "status": "published"})
    post_id = post.body["post_id"]
    probe = Probe(local_api, owner)
    for value in HEADER_VALUES:
        for method, path, header, body in (
            ("PATCH", f"/posts/{post_id}", "If-Match", {"title": "changed"}),
            ("DELETE", f"/posts/{uuid.uuid4()}", "If-Match", None),
            ("POST", "/posts", "Idempotency-Key", {"title": "idem", "content": "c"}),
            ("POST", f"/posts/{post_id}/comments", "Idempotency-Key", {"content": "idem"}),
        ):
            raw = json.dumps(body).encode() if body else None
            probe.send(
                f"{method} {path} {header}={value[:20]!r}",
                method,
                path,
                token=token,
                raw_body=raw,
                headers={header: value},
            )
    assert probe.failures == [], "\n".join(f"{w}: {p}" for w, p in probe.failures)
    TALLY["injection: nasty header values"] += probe.requests
