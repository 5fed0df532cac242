"""Request events in shapes a client or API Gateway can produce that reach the handler directly:
the Content-Type header's name in any case and empty values, NUL and lone surrogates in query
and path parameters (API Gateway delivers them decoded), and a trailing-slash rawPath."""

from __future__ import annotations

import uuid

from tests.support.api import call
from tests.support.events import claims, http_event

SURROGATE = "a\ud800b"


def _fields(reply) -> list[str]:
    assert reply.status == 422, (reply.status, reply.body)
    assert reply.body["error"]["code"] == "validation_error"
    return [str(d.get("field")) for d in reply.body["error"]["details"]]


def test_content_type_header_names_and_values_in_any_shape(db, owner_conn):
    """The event as API Gateway or a test builds it: header name in any case, empty values."""
    from posts_app import handler
    from tests.support.factories import make_user

    who = claims(str(make_user(owner_conn)["user_id"]))
    for headers, status in [
        ({"Content-Type": "Application/Json"}, 201),
        ({"CONTENT-TYPE": "application/json"}, 201),
        ({"content-type": ""}, 201),  # no type: the API speaks JSON only
        ({"content-type": "   "}, 201),
        ({"Content-Type": "text/plain"}, 415),
    ]:
        event = http_event("POST", "/posts", body={"title": "H", "content": "h"}, claims=who)
        event["headers"].pop("content-type")
        event["headers"].update(headers)
        reply = call(handler, event)
        assert reply.status == status, (headers, reply.status, reply.body)


def test_surrogates_and_nul_in_query_and_path_parameters_are_422(db, owner_conn):
    """API Gateway delivers parameters decoded: they can carry what a body can."""
    from posts_app import handler as posts
    from users_app import handler as users

    for bad in (SURROGATE, "a\x00b"):
        event = http_event("GET", "/posts")
        event["queryStringParameters"] = {"tag": bad}
        reply = call(posts, event)
        assert _fields(reply) == ["tag"]
        assert reply.body["error"]["details"][0]["in"] == "query"
        event = http_event("GET", "/posts/by-slug/{slug}", path_params={"slug": "s"})
        event["pathParameters"] = {"slug": bad}
        event["rawPath"] = "/posts/by-slug/" + bad
        reply = call(posts, event)
        assert _fields(reply) == ["slug"]
        assert reply.body["error"]["details"][0]["in"] == "path"
        event = http_event("GET", "/users", claims=claims(str(uuid.uuid4())))
        event["queryStringParameters"] = {"q" + bad: "x"}
        reply = call(users, event)
        assert _fields(reply) and reply.body["error"]["details"][0]["in"] == "query"


def test_a_trailing_slash_path_is_served_as_its_route(db, owner_conn):
    from posts_app import handler

    event = http_event("GET", "/posts")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/posts/"
    reply = call(handler, event)
    assert reply.status == 200, reply.body
    assert "items" in reply.body


def test_a_base64_flagged_body_that_is_raw_text_is_400_not_a_crash(db, owner_conn):
    """API Gateway sets isBase64Encoded for bodies it encoded; an event claiming it for raw
    non-ASCII text (b64decode raises ValueError, not binascii.Error) is a clean 400, as
    undecodable base64 already is."""
    from posts_app import handler
    from tests.support.factories import make_user

    who = claims(str(make_user(owner_conn)["user_id"]))
    event = http_event("POST", "/posts", body={"title": "base64 本文テスト", "content": "c"}, claims=who)
    event["isBase64Encoded"] = True
    reply = call(handler, event)
    assert reply.status == 400, (reply.status, reply.body)
    assert reply.body["error"]["code"] == "malformed_body"
    assert owner_conn.run("SELECT count(*) FROM posts") == [[0]]
