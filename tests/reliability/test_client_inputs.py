"""Inputs a client can send that JSON, HTTP or the parser accept and the driver or the database
refuse: each kind answered with a 4xx naming what is wrong, on every route, never a 5xx.

1. Media types (RFC 9110 §8.3): case-insensitive, with parameters; `application/*+json` is JSON;
   a body of another type is 415 `unsupported_media_type`.
2. NUL and lone surrogates in any string or object key at any depth of any body, and in query
   and path parameters: 422 naming the field (`metadata.k`).
3. Datetimes outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z once in UTC: 422
   naming the parameter (a cursor carrying one: 400 invalid_cursor).
4. Numbers: NaN, Infinity, beyond the double range, underflowing to 0 (1e-400) or with more digits
   than a double holds (12345678901234567890.5): 422 naming the field; huge integers are stored
   exactly in jsonb; numeric parameters out of range are 422.
5. Idempotency-Key reused with a different body: 422 `idempotency_key_reused`, nothing stored;
   the same body (any key order or spacing) replays.
6. Trailing-slash paths are served as their route; methods no HTTP API route can have answer
   404 {"message":"Not Found"} in JSON.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import uuid
from typing import Any

import pytest

from tests.reliability.conftest import TALLY, LocalApiClient, row_counts, seed_ids, table_hashes

SURROGATE = "a\ud800b"


@pytest.fixture(scope="module")
def doc(local_api: LocalApiClient) -> dict[str, Any]:
    return local_api.request("GET", "/openapi.json").body


@pytest.fixture(scope="module")
def ids(local_api: LocalApiClient) -> dict[str, str]:
    return seed_ids(local_api, "inp")


def _path(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def _body_operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m.upper(), p) for p, ops in doc["paths"].items() for m, op in ops.items() if op.get("requestBody")]


def _raw(value: Any) -> bytes:
    """JSON as a client may send it: lone surrogates as \\uXXXX escapes (valid JSON syntax)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def _error(reply: Any, status: int, code: str) -> list[dict[str, Any]]:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.body["error"]["code"] == code, reply.body
    assert reply.body["error"]["message"]
    return list(reply.body["error"]["details"])


def _fields(details: list[dict[str, Any]]) -> list[str]:
    return [str(d.get("field")) for d in details]


# -- 1. media types ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "ct",
    [
        "Application/Json",
        "APPLICATION/JSON; charset=UTF-8",
        'application/json;charset="utf-8"',
        "application/json ; foo=bar",
        "application/vnd.blog+json",
        "application/json, application/json",  # a repeated header, joined by API Gateway
    ],
)
def test_json_media_types_in_any_case_and_with_parameters_are_json(local_api: LocalApiClient, ids, ct):
    reply = local_api.request(
        "POST",
        "/posts",
        token=ids["token"],
        raw_body=_raw({"title": "M", "content": "m"}),
        headers={"Content-Type": ct},
    )
    assert reply.status == 201, (ct, reply.status, reply.body)
    TALLY["inputs: JSON media types accepted"] += 1


def test_merge_patch_json_on_patch_is_json(local_api: LocalApiClient, ids):
    reply = local_api.request(
        "PATCH",
        f"/posts/{ids['post_id']}",
        token=ids["token"],
        raw_body=_raw({"excerpt": "merge-patch"}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200, reply.body
    assert reply.body["excerpt"] == "merge-patch"


NOT_JSON = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",  # no boundary: Powertools raised ValueError (a 500)
    "multipart/form-data; boundary=x",
    "application/xml",
    "text/x+json",  # a +json suffix, but not an application/ type
    "application/json; charset=latin-1",  # JSON is UTF-8 (RFC 8259 §8.1)
    "application/json, text/plain",
    "garbage",
    "application/",
    "/json",
    "application/json/x",
]


def test_a_body_of_another_media_type_is_415_on_every_route(local_api: LocalApiClient, owner, doc, ids):
    before = table_hashes(owner), row_counts(owner)
    tried = 0
    operations = _body_operations(doc)
    assert len(operations) == 9, operations  # every route with a request body
    for method, path in operations:
        for content_type in NOT_JSON:
            reply = local_api.request(
                method,
                _path(path, ids),
                token=ids["token"],
                raw_body=_raw({"content": "x", "title": "x"}),
                headers={"Content-Type": content_type},
            )
            details = _error(reply, 415, "unsupported_media_type")
            assert _fields(details) == ["Content-Type"], details
            tried += 1
    assert (table_hashes(owner), row_counts(owner)) == before
    TALLY["inputs: non-JSON bodies refused with 415"] += tried


# -- 2. text that PostgreSQL cannot store -------------------------------------------------
def test_lone_surrogate_in_metadata_is_422_naming_the_field_and_nothing_is_stored(local_api, owner, ids):
    before = row_counts(owner)
    body = {"title": "S", "content": "s", "metadata": {"k": SURROGATE}}
    reply = local_api.request("POST", "/posts", token=ids["token"], raw_body=_raw(body))
    details = _error(reply, 422, "validation_error")
    assert _fields(details) == ["metadata.k"], details
    assert "surrogate" in details[0]["message"]
    assert row_counts(owner) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": SURROGATE, "content": "c"}, "title"),
        ({"title": "t", "content": "c", "tags": ["ok", SURROGATE]}, "tags.1"),
        ({"title": "t", "content": "c", "metadata": {"a": [{"b": {"c": SURROGATE}}]}}, "metadata.a.0.b.c"),
        ({"title": "t", "content": "c", "metadata": {"a": {"k\ud800": 1}}}, "metadata.a.k\\ud800"),
        ({"title": "t", "content": "c", "metadata": {"k": "a\x00b"}}, "metadata.k"),
        ({"title": "t", "content": "c", "metadata": {"k\x00": 1}}, "metadata.k\\u0000"),
        ({"title": "t\x00", "content": "c"}, "title"),
    ],
)
def test_nul_and_surrogates_at_any_depth_name_their_field(local_api, ids, body, field):
    reply = local_api.request("POST", "/posts", token=ids["token"], raw_body=_raw(body))
    details = _error(reply, 422, "validation_error")
    assert _fields(details) == [field], details


def test_surrogates_and_nul_are_422_on_every_route_with_a_body(local_api: LocalApiClient, owner, doc, ids):
    before = table_hashes(owner), row_counts(owner)
    tried = 0
    for method, path in _body_operations(doc):
        for bad, field in ((SURROGATE, "x.k.0"), ("a\x00", "x.k.0")):
            reply = local_api.request(method, _path(path, ids), token=ids["token"], raw_body=_raw({"x": {"k": [bad]}}))
            details = _error(reply, 422, "validation_error")
            assert _fields(details) == [field], (method, path, details)
            tried += 1
        reply = local_api.request(method, _path(path, ids), token=ids["token"], raw_body=_raw({"content": SURROGATE}))
        assert _fields(_error(reply, 422, "validation_error")) == ["content"], (method, path)
        tried += 1
    assert (table_hashes(owner), row_counts(owner)) == before
    TALLY["inputs: unstorable text refused with 422 (bodies)"] += tried


# -- 3. datetimes ---------------------------------------------------------------------------
OUT_OF_RANGE = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+00:31"]
IN_RANGE = ["9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "9999-12-31T22:59:59-01:00", "2026-01-01T09:00"]


def test_datetimes_outside_the_range_are_422_on_every_datetime_parameter(local_api: LocalApiClient, doc, ids):
    params = [
        (m.upper(), p, prm["name"], bool(op.get("security")))
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        for prm in op.get("parameters") or []
        if "date-time" in json.dumps(prm.get("schema"))
    ]
    assert {name for _, _, name, _ in params} == {"published_after", "published_before", "since"}, params
    for method, path, name, protected in params:
        extra = "metric=users_total&" if path == "/admin/stats/history" else ""
        token = ids["token"] if protected else None
        for value in OUT_OF_RANGE:
            reply = local_api.request(method, f"{path}?{extra}{name}={value.replace('+', '%2B')}", token=token)
            details = _error(reply, 422, "validation_error")
            assert _fields(details) == [name], (path, value, details)
            assert "range" in details[0]["message"]
        for value in IN_RANGE:
            reply = local_api.request(method, f"{path}?{extra}{name}={value.replace('+', '%2B')}", token=token)
            assert reply.status == 200, (path, name, value, reply.body)
        TALLY["inputs: datetime parameters checked"] += 1


def _forged(cursor: str, value: str) -> str:
    """`cursor` with its timestamp replaced by `value`, signed again as the layer does."""
    from shared.pagination import _digest

    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    kind, values = json.loads(raw[:-6])
    values = [{"t": value} if isinstance(v, dict) else v for v in values]
    payload = json.dumps([kind, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload + _digest(payload)).rstrip(b"=").decode()


def test_a_cursor_carrying_an_overflowing_datetime_is_invalid_not_a_500(local_api: LocalApiClient, ids):
    for title in ("c1", "c2"):
        body = {"title": title, "content": "c", "status": "published"}
        assert local_api.request("POST", "/posts", token=ids["token"], body=body).status == 201
    for path in ("/posts?limit=1", f"/users/{ids['user_id']}/posts?limit=1"):
        cursor = local_api.request("GET", path, token=ids["token"]).body["next_cursor"]
        assert cursor, path
        for value in OUT_OF_RANGE:
            reply = local_api.request("GET", f"{path}&cursor={_forged(cursor, value)}", token=ids["token"])
            assert _fields(_error(reply, 400, "invalid_cursor")) == ["cursor"], (path, value)
        reply = local_api.request("GET", f"{path}&cursor={_forged(cursor, IN_RANGE[0])}", token=ids["token"])
        assert reply.status == 200, (path, reply.body)


# -- 4. numbers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        (b'{"title":"n","content":"n","metadata":{"x":NaN}}', "metadata.x", "finite"),
        (b'{"title":"n","content":"n","metadata":{"x":[Infinity]}}', "metadata.x.0", "finite"),
        (b'{"title":"n","content":"n","metadata":{"x":-Infinity}}', "metadata.x", "finite"),
        (b'{"title":"n","content":"n","metadata":{"x":1e400}}', "metadata.x", "finite"),
        (b'{"title":"n","content":"n","metadata":{"x":1e-400}}', "metadata.x", "underflows"),
        (b'{"title":"n","content":"n","metadata":{"x":-0.000e-9999}}', None, None),  # a zero is a zero
        # more digits than a double holds: stored as another number, so refused
        (b'{"title":"n","content":"n","metadata":{"x":12345678901234567890.5}}', "metadata.x", "would be stored as"),
        (b'{"title":"n","content":"n","metadata":{"x":{"y":[1.00000000000000000001]}}}', "metadata.x.y.0", "stored as"),
        (b'{"title":"n","content":"n","metadata":{"x":3e-324}}', "metadata.x", "would be stored as 5e-324"),
    ],
)
def test_numbers_json_allows_and_doubles_cannot_hold(local_api: LocalApiClient, owner, ids, raw, field, says):
    before = row_counts(owner)
    reply = local_api.request("POST", "/posts", token=ids["token"], raw_body=raw)
    if field is None:
        assert reply.status == 201, reply.body
        return
    details = _error(reply, 422, "validation_error")
    assert _fields(details) == [field] and says in details[0]["message"], details
    assert row_counts(owner) == before


def test_numbers_a_double_holds_are_stored_as_their_value(local_api: LocalApiClient, owner, ids):
    # Given numbers written in ways that name the same double (1E2 is 100, 1.50 is 1.5)
    raw = b'{"title":"D","content":"d","metadata":{"a":0.1,"b":1E2,"c":1.50,"d":2.5e-10,"e":5e-324}}'
    # When they are sent in free JSON
    reply = local_api.request("POST", "/posts", token=ids["token"], raw_body=raw)
    # Then they are accepted and stored as those values
    assert reply.status == 201, reply.body
    stored = owner.run("SELECT metadata::text FROM posts WHERE post_id = :p", p=reply.body["post_id"])[0][0]
    assert json.loads(stored) == {"a": 0.1, "b": 100, "c": 1.5, "d": 2.5e-10, "e": 5e-324}


def test_huge_integers_and_negative_zero_are_stored_exactly(local_api: LocalApiClient, owner, ids):
    big = 10**400  # beyond bigint and beyond the double range; jsonb stores it as numeric
    raw = b'{"title":"B","content":"b","metadata":{"big":' + str(big).encode() + b',"neg":-' + str(big).encode()
    raw += b',"z":-0,"zf":-0.0}}'
    reply = local_api.request("POST", "/posts", token=ids["token"], raw_body=raw)
    assert reply.status == 201, reply.body
    stored = owner.run("SELECT metadata::text FROM posts WHERE post_id = :p", p=reply.body["post_id"])[0][0]
    assert json.loads(stored)["big"] == big and json.loads(stored)["neg"] == -big
    assert json.loads(reply.raw)["metadata"]["big"] == big
    # over Python's 4300-digit limit: the JSON parser's refusal, a 400
    reply = local_api.request(
        "POST",
        "/posts",
        token=ids["token"],
        raw_body=b'{"title":"B","content":"b","metadata":{"x":' + b"9" * 5000 + b"}}",
    )
    assert _error(reply, 400, "malformed_json") is not None


@pytest.mark.parametrize("value", ["99999999999999999999999", "9223372036854775808", "1e999", "NaN", "-0", "Infinity"])
def test_numeric_query_parameters_at_the_edges_are_422(local_api: LocalApiClient, ids, value):
    for path in ("/posts?limit=", "/posts/popular?days=", f"/posts/{ids['post_id']}/comments?limit="):
        reply = local_api.request("GET", path + value, token=ids["token"])
        name = path.rsplit("?", 1)[1].rstrip("=")
        assert _fields(_error(reply, 422, "validation_error")) == [name], (path, value, reply.body)


# -- 5. Idempotency-Key ---------------------------------------------------------------------
def test_idempotency_key_reused_with_another_post_is_422_and_the_same_post_replays(local_api, owner, ids):
    key = {"Idempotency-Key": f"k1-{uuid.uuid4()}"}
    a = {"title": "A", "content": "a", "tags": ["x"]}
    first = local_api.request("POST", "/posts", token=ids["token"], body=a, headers=key)
    assert first.status == 201
    # the same request, keys in another order and other spacing: a replay
    same = json.dumps(dict(reversed(list(a.items()))), indent=2).encode()
    again = local_api.request("POST", "/posts", token=ids["token"], raw_body=same, headers=key)
    assert again.status == 200 and again.body["post_id"] == first.body["post_id"]
    before = row_counts(owner)
    other = local_api.request("POST", "/posts", token=ids["token"], body={"title": "B", "content": "b"}, headers=key)
    details = _error(other, 422, "idempotency_key_reused")
    assert _fields(details) == ["Idempotency-Key"]
    assert row_counts(owner) == before
    assert owner.run("SELECT title FROM posts WHERE post_id = :p", p=first.body["post_id"]) == [["A"]]


def test_idempotency_key_reused_with_another_comment_is_422_and_the_same_comment_replays(local_api, owner, ids):
    key = {"Idempotency-Key": f"c1-{uuid.uuid4()}"}
    path = f"/posts/{ids['post_id']}/comments"
    first = local_api.request("POST", path, token=ids["token"], body={"content": "A"}, headers=key)
    assert first.status == 201
    again = local_api.request("POST", path, token=ids["token"], body={"content": "A"}, headers=key)
    assert again.status == 200 and again.body["comment_id"] == first.body["comment_id"]
    before = row_counts(owner)
    other = local_api.request("POST", path, token=ids["token"], body={"content": "B"}, headers=key)
    assert _fields(_error(other, 422, "idempotency_key_reused")) == ["Idempotency-Key"]
    assert row_counts(owner) == before
    assert owner.run("SELECT content FROM comments WHERE comment_id = :c", c=first.body["comment_id"]) == [["A"]]


def test_every_route_taking_an_idempotency_key_refuses_its_reuse(doc):
    """The routes whose documents mention the header are exactly the two tested above."""
    routes = {
        (m.upper(), p)
        for p, ops in doc["paths"].items()
        for m, op in ops.items()
        if "Idempotency-Key" in json.dumps(op)
    }
    assert routes == {("POST", "/posts"), ("POST", "/posts/{post_id}/comments")}, routes


# -- 6. paths and methods --------------------------------------------------------------------
def test_the_local_api_serves_trailing_slashes_and_answers_unroutable_methods_as_api_gateway(
    local_api: LocalApiClient, ids
):
    assert local_api.request("GET", "/posts/").status == 200
    assert local_api.request("GET", f"/posts/by-slug/{ids['slug']}/").status == 200
    for method in ("TRACE", "CONNECT", "PROPFIND", "BREW"):
        for path in ("/posts", "/nowhere"):
            reply = local_api.request(method, path)
            assert reply.status == 404, (method, path, reply.status, reply.raw[:200])
            assert reply.headers["content-type"].startswith("application/json")
            assert reply.body == {"message": "Not Found"}


# -- found by trying the API from outside ----------------------------------------------------
def test_a_client_chosen_id_reused_with_another_body_is_422_on_posts_and_comments(local_api, owner, ids):
    """A client-chosen `post_id`/`comment_id` names a record the way an Idempotency-Key does:
    the same body replays (200), another body is refused and the first one stays."""
    post_id = str(uuid.uuid4())
    first = local_api.request(
        "POST", "/posts", token=ids["token"], body={"post_id": post_id, "title": "最初", "content": "a"}
    )
    assert first.status == 201
    again = local_api.request(
        "POST", "/posts", token=ids["token"], body={"post_id": post_id, "title": "最初", "content": "a"}
    )
    assert again.status == 200 and again.body["title"] == "最初"
    other = local_api.request(
        "POST", "/posts", token=ids["token"], body={"post_id": post_id, "title": "二番目", "content": "b"}
    )
    assert _fields(_error(other, 422, "idempotency_key_reused")) == ["post_id"]
    assert owner.run("SELECT title FROM posts WHERE post_id = :p", p=post_id) == [["最初"]]

    path = f"/posts/{ids['post_id']}/comments"
    comment_id = str(uuid.uuid4())
    first = local_api.request(
        "POST", path, token=ids["token"], body={"comment_id": comment_id, "content": "最初のコメント"}
    )
    assert first.status == 201
    again = local_api.request(
        "POST", path, token=ids["token"], body={"comment_id": comment_id, "content": "最初のコメント"}
    )
    assert again.status == 200
    other = local_api.request("POST", path, token=ids["token"], body={"comment_id": comment_id, "content": "別の内容"})
    assert _fields(_error(other, 422, "idempotency_key_reused")) == ["comment_id"]
    assert owner.run("SELECT content FROM comments WHERE comment_id = :c", c=comment_id) == [["最初のコメント"]]


def test_an_idempotency_key_with_a_client_chosen_id_is_422_and_stores_nothing(local_api, owner, ids):
    """Each names the request on its own; together, a later request under the key could not be
    matched to what the first one made under the client's id (it made a second record)."""
    before = row_counts(owner)
    key = {"Idempotency-Key": f"both-{uuid.uuid4()}"}
    body = {"post_id": str(uuid.uuid4()), "title": "両方", "content": "c"}
    reply = local_api.request("POST", "/posts", token=ids["token"], body=body, headers=key)
    assert _fields(_error(reply, 422, "validation_error")) == ["post_id"]
    path = f"/posts/{ids['post_id']}/comments"
    reply = local_api.request(
        "POST", path, token=ids["token"], body={"comment_id": str(uuid.uuid4()), "content": "c"}, headers=key
    )
    assert _fields(_error(reply, 422, "validation_error")) == ["comment_id"]
    assert row_counts(owner) == before


def test_the_same_request_replays_however_its_ids_and_path_are_spelled(local_api, owner, ids):
    # Given a comment created under a key, with the post's id in lower case
    key = {"Idempotency-Key": f"case-{uuid.uuid4()}"}
    path = f"/posts/{ids['post_id']}/comments"
    first = local_api.request("POST", path, token=ids["token"], body={"content": "同じ"}, headers=key)
    assert first.status == 201
    # When it is retried with the id upper-cased and a trailing slash
    again = local_api.request(
        "POST",
        path.upper().replace("/POSTS/", "/posts/").replace("/COMMENTS", "/comments/"),
        token=ids["token"],
        body={"content": "同じ"},
        headers=key,
    )
    # Then it replays the first comment
    assert again.status == 200 and again.body["comment_id"] == first.body["comment_id"], again.body
    # And a post with a client-chosen id, retried with the id upper-cased, replays too
    post_id = str(uuid.uuid4())
    first = local_api.request(
        "POST", "/posts", token=ids["token"], body={"post_id": post_id, "title": "t", "content": "c"}
    )
    assert first.status == 201
    again = local_api.request(
        "POST", "/posts/", token=ids["token"], body={"content": "c", "title": "t", "post_id": post_id.upper()}
    )
    assert again.status == 200 and again.body["post_id"] == post_id, again.body


def test_an_encoded_body_that_is_not_text_is_415_too(local_api: LocalApiClient, owner, ids):
    import gzip

    before = row_counts(owner)
    raw = gzip.compress(json.dumps({"title": "z", "content": "z"}).encode())
    reply = local_api.request("POST", "/posts", token=ids["token"], raw_body=raw, headers={"Content-Encoding": "gzip"})
    assert _fields(_error(reply, 415, "unsupported_media_type")) == ["Content-Encoding"]
    assert row_counts(owner) == before


def test_a_field_named_twice_is_422_naming_it_on_every_route_with_a_body(local_api: LocalApiClient, owner, doc, ids):
    before = table_hashes(owner), row_counts(owner)
    for method, path in _body_operations(doc):
        raw = b'{"title": "t", "content": "c", "title": "u"}'
        reply = local_api.request(method, _path(path, ids), token=ids["token"], raw_body=raw)
        details = _error(reply, 422, "validation_error")
        assert _fields(details) == ["title"], (method, path, details)
        nested = b'{"title": "t", "content": "c", "metadata": {"k": 1, "k": 2}}'
        reply = local_api.request(method, _path(path, ids), token=ids["token"], raw_body=nested)
        assert _fields(_error(reply, 422, "validation_error")) == ["k"], (method, path)
    assert (table_hashes(owner), row_counts(owner)) == before


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "GZIP", "identity, gzip"])
def test_an_encoded_body_is_415_naming_content_encoding(local_api: LocalApiClient, owner, ids, coding):
    before = row_counts(owner)
    reply = local_api.request(
        "POST", "/posts", token=ids["token"], body={"title": "z", "content": "z"}, headers={"Content-Encoding": coding}
    )
    assert _fields(_error(reply, 415, "unsupported_media_type")) == ["Content-Encoding"]
    assert row_counts(owner) == before
    plain = local_api.request(
        "POST",
        "/posts",
        token=ids["token"],
        body={"title": "z", "content": "z"},
        headers={"Content-Encoding": "identity"},
    )
    assert plain.status == 201


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/posts", {"title": "\u200b", "content": "c"}, "title"),
        ("/posts", {"title": "t", "content": "\u200b\u2060\u3000\u3164"}, "content"),
        ("/posts", {"title": "\u202e\u200d", "content": "c"}, "title"),
        ("/posts/{post_id}/comments", {"content": "\u200b \u3000"}, "content"),
    ],
)
def test_text_that_renders_as_nothing_is_blank(local_api: LocalApiClient, owner, ids, path, body, field):
    before = row_counts(owner)
    reply = local_api.request("POST", _path(path, ids), token=ids["token"], body=body)
    assert _fields(_error(reply, 422, "validation_error")) == [field], reply.body
    assert row_counts(owner) == before


def test_tags_fold_full_width_and_the_tag_filter_finds_them(local_api: LocalApiClient, ids):
    tag = f"\uff44\uff42{uuid.uuid4().hex[:6]}"  # full-width "db"
    made = local_api.request(
        "POST", "/posts", token=ids["token"], body={"title": "t", "content": "c", "status": "published", "tags": [tag]}
    )
    assert made.status == 201
    folded = "db" + tag[2:]
    assert made.body["tags"] == [folded]
    for spelling in (folded, tag, folded.upper()):
        found = local_api.request("GET", f"/posts?tag={urllib.parse.quote(spelling)}")
        assert [p["post_id"] for p in found.body["items"]] == [made.body["post_id"]], spelling
