"""Item 2, object-level authorization: user B tries every method on user A's user,
profile, posts, comments and likes through the local HTTP API; every attempt is
refused (403/404) or sees only public data, and A's rows hashed before and after
are identical. Admin-only routes refuse signed-in non-admins (also with forged group
names), and an admin can do them (the refusals are not a blanket 403).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.conftest import TALLY, LocalApiClient, Reply, row_counts, table_hashes

PRIVATE_USER_FIELDS = ("email", "phone_number", "date_of_birth", "is_active", "last_login_at")


@pytest.fixture(scope="module")
def alice(local_api: LocalApiClient) -> dict[str, Any]:
    """User A with a profile, a draft, a published post, an archived post, comments and likes."""
    sub, token = local_api.register(prefix="alice")
    req = local_api.request
    assert req("PATCH", f"/users/{sub}", token=token, body={"phone_number": "+33 6 12 34 56 78"}).status == 200
    assert (
        req(
            "PUT",
            f"/users/{sub}/profile",
            token=token,
            body={"bio": "A's bio", "preferences": {"theme": "dark", "newsletter": False}},
        ).status
        == 201
    )
    posts = {}
    for status in ("draft", "published", "archived"):
        reply = req(
            "POST",
            "/posts",
            token=token,
            body={
                "title": f"A {status}",
                "content": "A's words",
                "status": "published" if status != "draft" else status,
            },
        )
        assert reply.status == 201, reply.body
        posts[status] = reply.body["post_id"]
    assert req("DELETE", f"/posts/{posts['archived']}", token=token).status == 204
    comment = req("POST", f"/posts/{posts['published']}/comments", token=token, body={"content": "A's comment"})
    assert comment.status == 201, comment.body
    assert req("PUT", f"/posts/{posts['published']}/like", token=token).status == 200
    assert req("PUT", f"/comments/{comment.body['comment_id']}/like", token=token).status == 200
    return {"sub": sub, "token": token, "posts": posts, "comment": comment.body["comment_id"]}


def _attempts(a: dict[str, Any], b_sub: str) -> list[tuple[str, str, Any, tuple[int, ...]]]:
    """(method, path, body, accepted statuses) for everything B could try on A's things."""
    u, p, c = a["sub"], a["posts"], a["comment"]
    draft, published, archived = p["draft"], p["published"], p["archived"]
    out: list[tuple[str, str, Any, tuple[int, ...]]] = [
        ("PATCH", f"/users/{u}", {"first_name": "Owned"}, (403,)),
        ("PATCH", f"/users/{u}", {"phone_number": "+1 555 0100 999"}, (403,)),
        ("DELETE", f"/users/{u}", None, (403,)),
        ("PUT", f"/users/{u}/profile", {"bio": "Owned"}, (403,)),
        ("PUT", f"/users/{u}/profile", {}, (403,)),
        ("GET", f"/posts/{draft}", None, (404,)),
        ("GET", f"/posts/{archived}", None, (404,)),
        ("GET", f"/me/posts/{draft}", None, (404,)),
        ("GET", f"/me/posts/{archived}", None, (404,)),
        ("GET", f"/admin/posts/{draft}", None, (403,)),
        ("POST", f"/posts/{draft}/views", None, (404,)),
        ("PUT", f"/posts/{draft}/like", None, (404,)),
        ("POST", f"/posts/{draft}/comments", {"content": "B was here"}, (404,)),
        ("POST", f"/posts/{archived}/comments", {"content": "B was here"}, (404,)),
        ("GET", f"/posts/{draft}/comments", None, (404,)),
        ("POST", f"/posts/{published}/transfer", {"new_author_id": b_sub}, (403,)),
        ("POST", f"/posts/{draft}/transfer", {"new_author_id": b_sub}, (403,)),
        ("PATCH", f"/comments/{c}", {"content": "Owned"}, (403,)),
        ("DELETE", f"/comments/{c}", None, (403,)),
        ("POST", f"/comments/{c}/hide", None, (403,)),
        ("POST", f"/comments/{c}/unhide", None, (403,)),
        ("GET", f"/admin/posts/{published}/comments", None, (403,)),
        # B's own (absent) likes: removing them must not touch A's.
        ("DELETE", f"/posts/{published}/like", None, (200,)),
        ("DELETE", f"/comments/{c}/like", None, (200,)),
    ]
    # The same ids in upper case (UUIDs compare case-insensitively)
    out += [
        ("PATCH", f"/users/{u.upper()}", {"first_name": "Owned"}, (403,)),
        ("PUT", f"/users/{u.upper()}/profile", {"bio": "Owned"}, (403,)),
        ("PATCH", f"/posts/{published.upper()}", {"title": "Owned"}, (403,)),
        ("DELETE", f"/comments/{c.upper()}", None, (403,)),
    ]
    for post in (draft, published, archived):
        for body in ({"title": "Owned"}, {"status": "draft"}, {"status": "published"}, {"content": "Owned"}):
            out.append(("PATCH", f"/posts/{post}", body, (403, 404)))
        out.append(("DELETE", f"/posts/{post}", None, (403, 404)))
        out.append(("PATCH", f"/posts/{post}", {"title": "Owned"}, (403, 404)))
    return out


def _no_private_fields(reply: Reply) -> None:
    assert reply.status == 200, reply.body
    leaked = [f for f in PRIVATE_USER_FIELDS if reply.body.get(f) is not None]
    assert not leaked, (leaked, reply.body)
    assert (reply.body.get("profile") or {}).get("preferences") is None, reply.body


def test_user_b_cannot_touch_user_a(local_api: LocalApiClient, owner: Any, alice: dict[str, Any]):
    # Given user B, signed in and registered
    b_sub, b_token = local_api.register(prefix="bob")
    before = table_hashes(owner)
    refused = 0
    # When B tries every method on A's user, profile, posts, comments and likes
    attempts = _attempts(alice, b_sub)
    for method, path, body, accepted in attempts:
        reply = local_api.request(method, path, token=b_token, body=body)
        # Then each is refused (or, for B's own absent likes, changes nothing)
        assert reply.status in accepted, (method, path, body, reply.status, reply.body)
        if reply.status >= 400:
            refused += 1
            assert reply.error_code in ("forbidden", "not_found"), reply.body
            assert reply.body["error"]["message"]
    # and what B may read of A holds no private field and no draft
    _no_private_fields(local_api.request("GET", f"/users/{alice['sub']}", token=b_token))
    profile = local_api.request("GET", f"/users/{alice['sub']}/profile")
    assert profile.status == 200 and "preferences" not in profile.body, profile.body
    listed = local_api.request("GET", f"/users/{alice['sub']}/posts", token=b_token)
    assert listed.status == 200
    assert {i["post_id"] for i in listed.body["items"]} == {alice["posts"]["published"]}, listed.body
    public = local_api.request("GET", f"/posts?author={alice['sub']}")
    assert {i["post_id"] for i in public.body["items"]} == {alice["posts"]["published"]}
    # and A's rows are exactly as before
    assert table_hashes(owner) == before
    TALLY["authorization: cross-user attempts"] += len(attempts) + 4
    TALLY["authorization: cross-user attempts refused"] += refused


def test_a_sees_their_own_private_fields(local_api: LocalApiClient, alice: dict[str, Any]):
    me = local_api.request("GET", "/me", token=alice["token"])
    assert me.status == 200
    assert me.body["email"] and me.body["phone_number"] == "+33 6 12 34 56 78"
    assert me.body["profile"]["preferences"] == {"theme": "dark", "newsletter": False}
    drafts = local_api.request("GET", f"/me/posts/{alice['posts']['draft']}", token=alice["token"])
    assert drafts.status == 200
    mine = local_api.request("GET", "/me/posts", token=alice["token"])
    assert alice["posts"]["draft"] in {i["post_id"] for i in mine.body["items"]}
    # the public routes show no draft and no private field, even to the author
    assert local_api.request("GET", f"/posts/{alice['posts']['draft']}", token=alice["token"]).status == 404
    _no_private_fields(local_api.request("GET", f"/users/{alice['sub']}", token=alice["token"]))


ADMIN_ONLY = [
    ("GET", "/admin/users/statistics", None),
    ("GET", "/admin/users/by-email?email={email}", None),
    ("GET", "/admin/stats/history?metric=users_total", None),
    ("GET", "/admin/posts/{published}/comments", None),
    ("GET", "/admin/posts/{published}", None),
    ("POST", "/comments/{comment}/hide", None),
    ("POST", "/comments/{comment}/unhide", None),
    ("POST", "/posts/{published}/transfer", {"new_author_id": "{b}"}),
    ("PATCH", "/users/{b}", {"is_verified": True}),
    ("PATCH", "/users/{b}", {"is_active": False}),
]
# Group claims that are not the admin group (case, look-alikes, other claim names). A name with a
# space or comma is not tried: API Gateway renders lists as "[a b]", so "site admin" cannot be told
# from ["site", "admin"] (Cognito group names have no whitespace; docs/RELIABILITY.md notes it).
NOT_ADMIN_GROUPS: list[dict[str, Any]] = [
    {},
    {"groups": ["editors"]},
    {"groups": ["Admin"]},
    {"groups": ["ADMIN"]},
    {"groups": ["administrators"]},
    {"groups": ["admins"]},
    {"groups": ["[admin]"]},
    {"groups": ["admin-readonly"]},
    {"extra": {"custom:groups": "admin", "groups": ["admin"], "role": "admin", "cognito:roles": ["admin"]}},
]


def _fill(text: str, values: dict[str, str]) -> str:
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text


def test_admin_only_routes_refuse_non_admins(local_api: LocalApiClient, owner: Any, alice: dict[str, Any]):
    b_sub, _ = local_api.register(prefix="carol")
    values = {
        "email": f"alice-{alice['sub'][:8]}@example.com",
        "published": alice["posts"]["published"],
        "comment": alice["comment"],
        "b": b_sub,
    }
    before = table_hashes(owner)
    count = 0
    for groups in NOT_ADMIN_GROUPS:
        token = local_api.token(b_sub, **groups)
        for method, path, body in ADMIN_ONLY:
            filled = {k: _fill(v, values) if isinstance(v, str) else v for k, v in (body or {}).items()}
            reply = local_api.request(method, _fill(path, values), token=token, body=filled if body else None)
            assert reply.status == 403, (groups, method, path, reply.status, reply.body)
            assert reply.error_code == "forbidden" and reply.body["error"]["message"]
            count += 1
    assert table_hashes(owner) == before
    TALLY["authorization: admin-only requests by non-admins refused"] += count


def test_an_admin_can_do_them(local_api: LocalApiClient, owner: Any, alice: dict[str, Any]):
    admin_sub, admin_token = local_api.register(groups=["editors", "admin"], prefix="admin")
    values = {
        "email": f"alice-{alice['sub'][:8]}@example.com",
        "published": alice["posts"]["published"],
        "comment": alice["comment"],
        "b": admin_sub,
    }
    counts = row_counts(owner)
    for method, path, body in ADMIN_ONLY:
        filled = {k: _fill(v, values) if isinstance(v, str) else v for k, v in (body or {}).items()}
        reply = local_api.request(method, _fill(path, values), token=admin_token, body=filled if body else None)
        assert reply.status == 200, (method, path, reply.status, reply.body)
    assert row_counts(owner)["posts"] == counts["posts"]


def test_a_deactivated_account_writes_nothing(local_api: LocalApiClient, owner: Any, alice: dict[str, Any]):
    # Given D with a published post and a comment, who then deactivates the account
    d_sub, d_token = local_api.register(prefix="dave")
    post = local_api.request(
        "POST", "/posts", token=d_token, body={"title": "D", "content": "d", "status": "published"}
    )
    assert post.status == 201
    comment = local_api.request("POST", f"/posts/{post.body['post_id']}/comments", token=d_token, body={"content": "d"})
    assert comment.status == 201
    assert local_api.request("DELETE", f"/users/{d_sub}", token=d_token).status == 204
    before = table_hashes(owner)
    published = alice["posts"]["published"]
    # When the still-valid token is used to write
    attempts = [
        ("POST", "/posts", {"title": "after", "content": "after"}),
        ("POST", f"/posts/{published}/comments", {"content": "after"}),
        ("PUT", f"/posts/{published}/like", None),
        ("PUT", f"/comments/{alice['comment']}/like", None),
        ("PATCH", f"/users/{d_sub}", {"is_active": True}),
    ]
    for method, path, body in attempts:
        reply = local_api.request(method, path, token=d_token, body=body)
        # Then nothing is written
        assert reply.status in (403, 404), (method, path, reply.status, reply.body)
    assert table_hashes(owner) == before
    TALLY["authorization: writes by a deactivated account refused"] += len(attempts)
