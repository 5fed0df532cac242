"""Item 1, identity: every protected route refuses a missing or forged token with 401
before any handler runs, and no row changes.

Through the local HTTP API (devstack's JWT authorizer, which checks tokens as API
Gateway's does), then at the handler itself: a protected handler reached without a
verified identity (a route misconfigured as public) still answers 401 and writes nothing.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import jwt_local
from testing.events import http_event
from tests.reliability.conftest import SECRETS_SEEN, TALLY, LocalApiClient, row_counts, table_hashes
from tests.support.api import call


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(api: LocalApiClient, victim: str) -> dict[str, str | None]:
    """Tokens API Gateway's JWT authorizer refuses, each claiming to be `victim`, an admin."""
    key = api.key
    good = api.token(victim, groups=["admin"])
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    other_key = jwt_local.SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), key.kid)
    public_pem = key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = time.time()
    tokens: dict[str, str | None] = {
        "no token": None,
        "empty bearer": "",
        "not a jwt": "not-a-token",
        "expired": jwt_local.mint(key, victim, groups=["admin"], hours=1, now=now - 7200),
        "not yet valid (nbf)": jwt_local.mint(key, victim, groups=["admin"], extra={"nbf": int(now) + 3600}),
        "issued in the future (iat)": jwt_local.mint(key, victim, groups=["admin"], now=now + 3600),
        "wrong issuer": jwt_local.mint(key, victim, groups=["admin"], issuer="https://evil.example.com/pool"),
        "wrong audience": jwt_local.mint(key, victim, groups=["admin"], audience="someone-elses-client"),
        "alg none": _b64({"alg": "none", "typ": "JWT", "kid": key.kid}) + "." + payload + ".",
        "alg none, no signature part": _b64({"alg": "none", "kid": key.kid}) + "." + payload,
        "tampered payload (sub)": header + "." + _b64({**claims, "sub": str(uuid.uuid4())}) + "." + signature,
        "tampered signature": header
        + "."
        + payload
        + "."
        + signature[:-4]
        + ("AAAA" if signature[-4:] != "AAAA" else "BBBB"),
        "signed by another key, same kid": jwt_local.mint(other_key, victim, groups=["admin"]),
        "HS256 with the public key as secret": _hs256(claims, public_pem, key.kid),
        "unknown kid": jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": "another-kid"}),
        "RS512": jwt.encode(claims, key.private, algorithm="RS512", headers={"kid": key.kid}),
    }
    SECRETS_SEEN.update(t for t in tokens.values() if t and len(t) > 40)
    return tokens


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """HMAC-signed with the public key (the classic algorithm confusion), built by hand:
    PyJWT rightly refuses to use a PEM key as an HMAC secret."""
    import hashlib
    import hmac

    signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + _b64(claims)
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def _concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


PLAUSIBLE_BODY = {
    "username": "intruder",
    "first_name": "Mallory",
    "title": "forged",
    "content": "forged",
    "status": "published",
    "new_author_id": "00000000-0000-4000-8000-00000000dead",
    "bio": "forged",
}


def test_every_protected_route_refuses_every_bad_token_before_any_handler(local_api: LocalApiClient, owner: Any):
    # Given a user with a post and a comment, and every protected route of the template
    victim, victim_token = local_api.register(prefix="victim")
    post = local_api.request(
        "POST", "/posts", token=victim_token, body={"title": "Mine", "content": "text", "status": "published"}
    )
    assert post.status == 201, post.body
    comment = local_api.request(
        "POST", f"/posts/{post.body['post_id']}/comments", token=victim_token, body={"content": "mine"}
    )
    assert comment.status == 201, comment.body
    ids = {"user_id": victim, "post_id": post.body["post_id"], "comment_id": comment.body["comment_id"]}
    protected = [r for r in local_api.template.routes if r.authorizer is not None]
    assert len(protected) >= 20
    tokens = bad_tokens(local_api, victim)
    before_hashes, before_counts = table_hashes(owner), row_counts(owner)
    invoked_before = sum(local_api.invocations.values())

    # When each route is called with each bad token
    answers: dict[tuple[str, str], tuple[int, Any]] = {}
    for route in protected:
        path = _concrete(route.path, ids)
        for name, token in tokens.items():
            headers = {"Authorization": "Basic dXNlcjpwYXNz"} if name == "empty bearer" else None
            reply = local_api.request(
                route.method,
                path,
                token=token if name != "empty bearer" else None,
                body=PLAUSIBLE_BODY if route.method in ("POST", "PUT", "PATCH") else None,
                headers=headers,
            )
            answers[(route.route_key, name)] = (reply.status, reply.body)

    # Then every one is 401 with API Gateway's body, no handler ran, and no row changed
    wrong = {k: v for k, v in answers.items() if v != (401, {"message": "Unauthorized"})}
    assert not wrong, wrong
    assert sum(local_api.invocations.values()) == invoked_before
    assert table_hashes(owner) == before_hashes
    assert row_counts(owner) == before_counts
    TALLY["identity: protected routes"] = len(protected)
    TALLY["identity: bad token kinds"] = len(tokens)
    TALLY["identity: requests refused with 401"] = len(answers)


def test_the_good_token_still_works(local_api: LocalApiClient):
    # The refusals above are not an authorizer that refuses everything.
    sub, token = local_api.register(prefix="good")
    reply = local_api.request("GET", "/me", token=token)
    assert reply.status == 200 and reply.body["user_id"] == sub


# -- the handlers themselves (defence in depth) ---------------------------------------------
HANDLER_ROUTES = [
    ("users_app", "POST", "/users", {}, {"username": "nobody_here"}),
    ("users_app", "GET", "/me", {}, None),
    ("users_app", "PATCH", "/me", {}, {"first_name": "X"}),
    ("users_app", "GET", "/me/posts", {}, None),
    ("posts_app", "GET", "/me/posts/{post_id}", {"post_id": "00000000-0000-4000-8000-000000000009"}, None),
    ("posts_app", "GET", "/admin/posts/{post_id}", {"post_id": "00000000-0000-4000-8000-000000000009"}, None),
    (
        "users_app",
        "PATCH",
        "/users/{user_id}",
        {"user_id": "00000000-0000-4000-8000-000000000002"},
        {"first_name": "X"},
    ),
    ("users_app", "DELETE", "/users/{user_id}", {"user_id": "00000000-0000-4000-8000-000000000002"}, None),
    ("users_app", "PUT", "/users/{user_id}/profile", {"user_id": "00000000-0000-4000-8000-000000000002"}, {"bio": "x"}),
    ("users_app", "GET", "/admin/users/statistics", {}, None),
    ("posts_app", "POST", "/posts", {}, {"title": "t", "content": "c"}),
    ("posts_app", "PATCH", "/posts/{post_id}", {"post_id": "00000000-0000-4000-8000-000000000009"}, {"title": "t"}),
    ("posts_app", "DELETE", "/posts/{post_id}", {"post_id": "00000000-0000-4000-8000-000000000009"}, None),
    ("posts_app", "PUT", "/posts/{post_id}/like", {"post_id": "00000000-0000-4000-8000-000000000009"}, None),
    (
        "comments_app",
        "POST",
        "/posts/{post_id}/comments",
        {"post_id": "00000000-0000-4000-8000-000000000009"},
        {"content": "x"},
    ),
    (
        "comments_app",
        "POST",
        "/comments/{comment_id}/hide",
        {"comment_id": "00000000-0000-4000-8000-000000000009"},
        None,
    ),
]
FORGED_CLAIMS: list[dict[str, str] | None] = [
    None,  # no authorizer block at all
    {},
    {"sub": ""},
    {"sub": "admin"},
    {"sub": "' OR '1'='1"},
    {"sub": "00000000-0000-4000-8000-000000000001'; DROP TABLE users; --"},
]


@pytest.mark.parametrize(
    "module,method,path,params,body", HANDLER_ROUTES, ids=[f"{r[1]} {r[2]}" for r in HANDLER_ROUTES]
)
def test_a_handler_without_a_verified_identity_answers_401(
    db: Any, owner_conn: Any, module: str, method: str, path: str, params: dict[str, str], body: Any
):
    import importlib

    handler = importlib.import_module(module).handler
    before = table_hashes(owner_conn)
    for forged in FORGED_CLAIMS:
        event = http_event(method, path, path_params=params, body=body)
        if forged is not None:
            event["requestContext"]["authorizer"] = {
                "jwt": {"claims": dict(forged, **{"cognito:groups": "[admin]"}), "scopes": None}
            }
        reply = call(handler, event)
        assert reply.status == 401, (forged, reply.body)
        assert reply.error_code == "unauthorized"
        TALLY["identity: handler calls without a verified identity"] += 1
    assert table_hashes(owner_conn) == before
