"""The local stack's parts without a database: template reading, API Gateway's
event and response shapes, route selection, the JWT authorizer, environments."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devstack import apigw, jwt_local
from devstack.server import LocalApi
from devstack.stack import LocalStack, secret_name
from devstack.template import Route, Template
from devstack.template import load as load_template
from devstack.workers import Invocation
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> jwt_local.SigningKey:
    return jwt_local.load_or_create_key(tmp_path_factory.mktemp("jwt"))


# -- template.yaml ----------------------------------------------------------------------------
def test_template_functions_get_globals_merged(template: Template) -> None:
    posts = template.function("PostsFunction")
    assert posts.handler == "posts_app.handler" and posts.code_uri == ROOT / "functions" / "posts"
    # Globals' variables merged with the function's own
    assert posts.environment["DB_NAME"] == "blog" and posts.environment["POWERTOOLS_SERVICE_NAME"] == "posts"
    assert template.function("posts") is posts  # by code directory too
    assert template.function("StatsFunction").timeout == 60  # the function overrides Globals


def test_template_routes_and_authorizers(template: Template) -> None:
    routes = {r.route_key: r for r in template.routes}
    assert routes["GET /posts"].authorizer is None  # Authorizer: NONE
    assert routes["GET /posts/{post_id}"].authorizer is None  # public: published posts
    assert routes["GET /me/posts/{post_id}"].authorizer in template.authorizers
    assert routes["GET /health"].function == "StatsFunction"
    assert all(r.function != "MigrateFunction" for r in template.routes)


def test_function_environment_is_local(template: Template, tmp_path: Path) -> None:
    stack = LocalStack(local_dir=tmp_path)
    stack.passwords = {"blog_owner": "o", "blog_app": "a", "blog_readonly": "r"}
    stack.cluster.port, stack.moto_url = 54999, "http://127.0.0.1:45999"
    overrides = {"Parameters": {"POWERTOOLS_LOG_LEVEL": "DEBUG", "NOT_DECLARED": "x"}, "StatsFunction": {"STAGE": "qa"}}
    stats = stack.function_environment(template, template.function("StatsFunction"), overrides)
    assert (stats["DB_HOST"], stats["DB_PORT"], stats["DB_TLS"]) == ("127.0.0.1", "54999", "disable")
    # The read-only role for reads, the app role for the snapshot: the template's own secrets
    assert stats["DB_SECRET_ID"] == secret_name("blog_readonly")
    assert stats["WRITER_DB_SECRET_ID"] == secret_name("blog_app")
    assert stats["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://127.0.0.1:45999"
    assert stats["POWERTOOLS_LOG_LEVEL"] == "DEBUG" and stats["STAGE"] == "qa"
    assert "NOT_DECLARED" not in stats  # as with sam local --env-vars
    migrate = stack.function_environment(template, template.function("MigrateFunction"))
    assert migrate["DB_SECRET_ID"] == secret_name("blog_owner")  # the RDS master secret
    assert migrate["APP_DB_SECRET_ID"] == secret_name("blog_app")
    assert template.function("UsersFunction").environment["DB_USER"] == "blog_app"


# -- routing ----------------------------------------------------------------------------------
def test_most_specific_route_wins(template: Template) -> None:
    router = apigw.Router(template.routes)
    popular = router.match("GET", "/posts/popular")
    assert isinstance(popular, apigw.Match) and popular.route.path == "/posts/popular"
    by_id = router.match("GET", "/posts/abc%20def")
    assert isinstance(by_id, apigw.Match) and by_id.path_parameters == {"post_id": "abc def"}
    assert router.match("GET", "/posts/a/b/c/d") is None
    wrong = router.match("PUT", "/posts")
    assert isinstance(wrong, apigw.WrongMethod) and set(wrong.allowed) == {"GET", "POST"}


def test_greedy_and_any_routes() -> None:
    router = apigw.Router([Route("ANY", "/files/{proxy+}", "F", None), Route("GET", "/files/readme", "G", None)])
    exact = router.match("GET", "/files/readme")
    assert isinstance(exact, apigw.Match) and exact.route.function == "G"
    greedy = router.match("DELETE", "/files/a/b%2Fc")
    assert isinstance(greedy, apigw.Match) and greedy.path_parameters == {"proxy": "a/b/c"}


# -- events and responses -----------------------------------------------------------------------
def _event(**kwargs: Any) -> dict[str, Any]:
    match = apigw.Match(
        Route("POST", "/posts/{post_id}/comments", "CommentsFunction", "CognitoJwt"), {"post_id": "p 1"}
    )
    defaults: dict[str, Any] = {
        "method": "POST",
        "raw_path": "/posts/p%201/comments",
        "raw_query": "",
        "header_pairs": [("Host", "127.0.0.1:3000"), ("User-Agent", "curl/8")],
        "body": b"",
        "match": match,
        "source_ip": "127.0.0.1",
        "request_id": "req-1",
    }
    defaults.update(kwargs)
    return apigw.build_event(**defaults)


def test_event_shape_like_api_gateway() -> None:
    event = _event(
        raw_query="tag=a&tag=b&q=x%20y&empty=",
        header_pairs=[
            ("Host", "127.0.0.1:3000"),
            ("X-Thing", "1"),
            ("x-thing", "2"),
            ("Cookie", "a=1; b=2"),
            ("Content-Type", "application/json"),
        ],
        body=b'{"content": "hi"}',
        claims={"sub": "s", "cognito:groups": "[admin]"},
        now=1763899200.5,
    )
    assert event["version"] == "2.0" and event["routeKey"] == "POST /posts/{post_id}/comments"
    assert event["rawPath"] == "/posts/p%201/comments" and event["pathParameters"] == {"post_id": "p 1"}
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "x y", "empty": ""}
    assert event["headers"]["x-thing"] == "1,2" and "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == '{"content": "hi"}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["stage"] == "$default" and ctx["http"]["method"] == "POST" and ctx["timeEpoch"] == 1763899200500
    assert ctx["time"] == "23/Nov/2025:12:00:00 +0000" and ctx["domainName"] == "127.0.0.1"
    assert ctx["authorizer"] == {"jwt": {"claims": {"sub": "s", "cognito:groups": "[admin]"}, "scopes": None}}


def test_binary_bodies_are_base64_and_public_routes_have_no_authorizer() -> None:
    event = _event(header_pairs=[("Content-Type", "image/png")], body=b"\x89PNG\x00")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x89PNG\x00"
    assert "authorizer" not in event["requestContext"] and "queryStringParameters" not in event


def test_results_become_http_responses() -> None:
    plain = apigw.to_http({"hello": "world"})  # no statusCode: 200 JSON of the whole result
    assert (plain.status, json.loads(plain.body), plain.header("content-type")) == (
        200,
        {"hello": "world"},
        "application/json",
    )
    full = apigw.to_http(
        {
            "statusCode": 201,
            "headers": {"Location": "/x"},
            "multiValueHeaders": {"X-Multi": ["1", "2"]},
            "cookies": ["a=1; Path=/"],
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert full.status == 201 and full.body == b"\x00\x01"
    assert ("X-Multi", "1") in full.headers and ("X-Multi", "2") in full.headers
    assert ("Set-Cookie", "a=1; Path=/") in full.headers
    assert apigw.to_http({"statusCode": "nope"}).status == 500


# -- the authorizer ---------------------------------------------------------------------------
def test_claims_arrive_as_api_gateway_strings(key: jwt_local.SigningKey) -> None:
    token = jwt_local.mint(key, jwt_local.ADMIN_SUB, groups=["admin", "editors"])
    claims = jwt_local.verify(token, key)
    strings = jwt_local.gateway_claims(claims)
    assert strings["cognito:groups"] == "[admin editors]"
    assert strings["email_verified"] == "true" and strings["exp"] == str(claims["exp"])
    assert all(isinstance(v, str) for v in strings.values())
    assert jwt_local.scopes(claims) is None
    assert jwt_local.scopes({"scope": "read write"}) == ["read", "write"]


def test_token_checks(key: jwt_local.SigningKey) -> None:
    now = time.time()
    with pytest.raises(jwt_local.TokenRejected):
        jwt_local.verify(jwt_local.mint(key, jwt_local.USER1_SUB, hours=1, now=now - 7200), key)
    with pytest.raises(jwt_local.TokenRejected):
        jwt_local.verify(jwt_local.mint(key, jwt_local.USER1_SUB, audience="x"), key)
    access = jwt_local.mint(key, jwt_local.USER1_SUB, extra={"client_id": jwt_local.AUDIENCE, "token_use": "access"})
    no_aud = jwt_local.mint(key, jwt_local.USER1_SUB, extra={"client_id": jwt_local.AUDIENCE})
    assert jwt_local.verify(access, key)["token_use"] == "access"
    assert jwt_local.verify(no_aud, key)
    with pytest.raises(ValueError):
        jwt_local.mint(key, "not-a-uuid")


class _RecordingPool:
    """Stands in for the worker pool: records the event, answers 200."""

    def __init__(self, template: Template):
        self.template = template
        self.sink_lock = threading.Lock()
        self.events: list[dict[str, Any]] = []

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        self.events.append(event)
        return Invocation(
            True, result={"statusCode": 200, "body": "{}", "headers": {"content-type": "application/json"}}
        )


def test_authorizer_runs_before_the_handler(template: Template, key: jwt_local.SigningKey) -> None:
    pool = _RecordingPool(template)
    api = LocalApi(ROOT / "template.yaml", pool, key, "http://127.0.0.1:3000")  # type: ignore[arg-type]
    token = jwt_local.mint(key, jwt_local.USER1_SUB)
    # No token on a protected route: 401 and no invocation
    response, served = api.handle("GET", "/me/posts/x", [("Host", "h")], b"", "127.0.0.1")
    assert (response.status, served, pool.events) == (401, None, [])
    # A valid token: the claims reach the function as strings
    response, served = api.handle("GET", "/me/posts/x", [("Authorization", f"Bearer {token}")], b"", "127.0.0.1")
    assert (response.status, served) == (200, "PostsFunction")
    assert pool.events[-1]["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == jwt_local.USER1_SUB
    assert pool.events[-1]["headers"]["x-forwarded-for"] == "127.0.0.1"
    # A public route ignores a token: no authorizer block, even for a valid one
    response, served = api.handle("GET", "/posts", [("Authorization", f"Bearer {token}")], b"", "127.0.0.1")
    assert response.status == 200 and "authorizer" not in pool.events[-1]["requestContext"]
