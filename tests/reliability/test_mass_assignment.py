"""Item 3, property-level authorization: bodies naming fields the caller may not set
(ids, flags, counters, timestamps, password_hash, a status the route does not allow)
are refused with a 4xx naming the field, and the stored rows are unchanged. No response
ever carries password_hash; private fields go only to the user themself or an admin.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.conftest import PASSWORD_HASH_LEAKS, TALLY, LocalApiClient, table_hashes

FAKE_ID = "00000000-0000-4000-8000-00000000beef"
STOLEN_HASH = "$2b$12$Lm3xjRkS0AbcDEFghijkOuQ1b9Wq8vC7xYzAbCdEfGhIjKlMnOpQr"

# field -> a value an attacker would send
SERVER_OWNED = {
    "user_id": FAKE_ID,
    "is_verified": True,
    "is_active": True,
    "like_count": 1_000_000,
    "view_count": 1_000_000,
    "comment_count": 1_000_000,
    "published_at": "2000-01-01T00:00:00Z",
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": "2000-01-01T00:00:00Z",
    "password_hash": STOLEN_HASH,
    "author": {"user_id": FAKE_ID},
    "version": 99,
    "depth": 0,
    "post_id": FAKE_ID,
    "email": "other@example.com",
    "username": "renamed_user",
    "last_login_at": "2000-01-01T00:00:00Z",
}


@pytest.fixture(scope="module")
def world(local_api: LocalApiClient, owner: Any) -> dict[str, Any]:
    sub, token = local_api.register(prefix="mass")
    post = local_api.request("POST", "/posts", token=token, body={"title": "T", "content": "C", "status": "published"})
    assert post.status == 201
    comment = local_api.request("POST", f"/posts/{post.body['post_id']}/comments", token=token, body={"content": "c"})
    assert comment.status == 201
    assert local_api.request("PUT", f"/users/{sub}/profile", token=token, body={"bio": "b"}).status == 201
    owner.run("UPDATE users SET password_hash = :h WHERE user_id = :u", h=STOLEN_HASH, u=sub)
    return {"sub": sub, "token": token, "post": post.body["post_id"], "comment": comment.body["comment_id"]}


def _cases(w: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], set[str]]]:
    """(method, path, a valid body, fields that body's route must refuse)."""
    sub, post, comment = w["sub"], w["post"], w["comment"]
    every = set(SERVER_OWNED)
    return [
        ("PATCH", f"/users/{sub}", {"first_name": "Ok"}, every - {"is_verified", "is_active"}),
        ("PUT", f"/users/{sub}/profile", {"bio": "ok"}, every),
        ("POST", "/posts", {"title": "ok", "content": "ok"}, every - {"post_id"}),
        ("PATCH", f"/posts/{post}", {"title": "ok"}, every),
        ("POST", f"/posts/{post}/comments", {"content": "ok"}, every),
        ("PATCH", f"/comments/{comment}", {"content": "ok"}, every),
    ]


def test_server_owned_fields_are_refused_and_nothing_changes(local_api: LocalApiClient, owner: Any, world: dict):
    before = table_hashes(owner)
    tried = 0
    for method, path, valid, refused_fields in _cases(world):
        for name in sorted(refused_fields):
            reply = local_api.request(method, path, token=world["token"], body={**valid, name: SERVER_OWNED[name]})
            assert reply.status == 422, (method, path, name, reply.status, reply.body)
            fields = [d.get("field") for d in reply.body["error"]["details"]]
            assert name in fields, (method, path, name, reply.body)
            tried += 1
    assert table_hashes(owner) == before
    TALLY["mass assignment: bodies with a server-owned field refused"] += tried


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/posts", {"title": "t", "content": "c", "status": "archived"}),
        ("PATCH", "/posts/{post}", {"status": "archived"}),
        ("PATCH", "/posts/{post}", {"status": "deleted"}),
        ("PATCH", "/posts/{post}", {"status": None}),
        ("PATCH", "/comments/{comment}", {"content": "c", "status": "hidden"}),
        ("POST", "/posts/{post}/comments", {"content": "c", "status": "hidden"}),
        ("PATCH", "/users/{sub}", {"is_verified": None}),
    ],
)
def test_a_status_the_route_does_not_allow_is_refused(
    local_api: LocalApiClient, owner: Any, world: dict, method: str, path: str, body: dict
):
    before = table_hashes(owner)
    reply = local_api.request(method, path.format(**world), token=world["token"], body=body)
    assert reply.status == 422, reply.body
    assert table_hashes(owner) == before
    TALLY["mass assignment: disallowed status values refused"] += 1


def test_admin_only_flags_are_403_for_the_user_themself(local_api: LocalApiClient, owner: Any, world: dict):
    before = table_hashes(owner)
    for body in ({"is_verified": True}, {"is_active": True}, {"first_name": "x", "is_verified": True}):
        reply = local_api.request("PATCH", f"/users/{world['sub']}", token=world["token"], body=body)
        assert reply.status == 403, reply.body
        assert reply.body["error"]["details"], reply.body
        TALLY["mass assignment: admin-only flags refused"] += 1
    assert table_hashes(owner) == before


def test_registration_cannot_pick_its_id_flags_or_hash(local_api: LocalApiClient, owner: Any):
    import uuid

    sub = str(uuid.uuid4())
    token = local_api.token(sub, email=f"reg-{sub[:8]}@example.com")
    before = table_hashes(owner)
    for name in ("user_id", "is_verified", "is_active", "password_hash", "created_at", "last_login_at"):
        reply = local_api.request(
            "POST", "/users", token=token, body={"username": f"reg_{sub[:8]}", name: SERVER_OWNED[name]}
        )
        assert reply.status == 422, (name, reply.body)
        TALLY["mass assignment: bodies with a server-owned field refused"] += 1
    assert table_hashes(owner) == before
    # the email of the token wins over a different one in the body
    reply = local_api.request(
        "POST", "/users", token=token, body={"username": f"reg_{sub[:8]}", "email": "x@evil.test"}
    )
    assert reply.status == 422, reply.body


def test_no_response_carries_password_hash(local_api: LocalApiClient, world: dict):
    # Given the user's row has a password hash (seeded data from the RDS lesson has them)
    _admin_sub, admin_token = local_api.register(groups=["admin"], prefix="hashadm")
    sub, token, post = world["sub"], world["token"], world["post"]
    email = f"mass-{sub[:8]}@example.com"
    reads = [
        ("GET", f"/users/{sub}", None),
        ("GET", "/me", token),
        ("GET", "/me/posts", token),
        ("GET", f"/me/posts/{post}", token),
        ("GET", f"/admin/posts/{post}", admin_token),
        ("GET", f"/users?q=mass_{sub[:8]}", None),
        ("GET", "/users?limit=100", None),
        ("GET", f"/admin/users/by-email?email={email}", admin_token),
        ("GET", f"/users/{sub}/profile", None),
        ("GET", f"/users/{sub}/posts", None),
        ("GET", f"/posts/{post}", None),
        ("GET", f"/posts?author={sub}&fields=post_id,title,author", None),
        ("GET", "/posts/popular?days=1", None),
        ("GET", f"/posts/{post}/comments", None),
        ("GET", f"/admin/posts/{post}/comments", admin_token),
        ("GET", "/admin/users/statistics", admin_token),
    ]
    for method, path, who in reads:
        reply = local_api.request(method, path, token=who)
        assert reply.status == 200, (path, reply.body)
        assert STOLEN_HASH.encode() not in reply.raw and b"password_hash" not in reply.raw, path
    writes = [
        ("PATCH", f"/users/{sub}", {"first_name": "Again"}),
        ("PUT", f"/users/{sub}/profile", {"bio": "again"}),
        ("PATCH", f"/posts/{post}", {"title": "again"}),
    ]
    for method, path, body in writes:
        reply = local_api.request(method, path, token=token, body=body)
        assert reply.status == 200 and b"password_hash" not in reply.raw, (path, reply.body)
    TALLY["mass assignment: responses checked for password_hash"] += len(reads) + len(writes)
    # and no response of the whole suite so far carried one
    assert PASSWORD_HASH_LEAKS == []


def test_private_fields_only_to_self_or_admin(local_api: LocalApiClient, world: dict):
    _other_sub, other_token = local_api.register(prefix="peek")
    _, admin_token = local_api.register(groups=["admin"], prefix="peekadm")
    sub = world["sub"]
    assert (
        local_api.request("PATCH", f"/users/{sub}", token=world["token"], body={"date_of_birth": "1990-01-02"}).status
        == 200
    )
    as_other = local_api.request("GET", f"/users/{sub}", token=other_token).body
    as_anyone = local_api.request("GET", f"/users/{sub}").body
    email = f"mass-{sub[:8]}@example.com"
    as_admin = local_api.request("GET", f"/admin/users/by-email?email={email}", token=admin_token).body
    as_self = local_api.request("GET", "/me", token=world["token"]).body
    for private in ("email", "phone_number", "date_of_birth"):
        assert as_other.get(private) is None, as_other
        assert as_anyone.get(private) is None, as_anyone
    assert as_self["email"] == as_admin["email"] == f"mass-{sub[:8]}@example.com"
    assert as_self["date_of_birth"] == as_admin["date_of_birth"] == "1990-01-02"
    listing = local_api.request("GET", f"/users?q=mass_{sub[:8]}", token=other_token)
    assert listing.status == 200 and listing.body["items"]
    for item in listing.body["items"]:
        assert not {"email", "phone_number", "date_of_birth"} & set(item), item
