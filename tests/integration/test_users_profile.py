"""Profiles: GET /users/{id}/profile (public) and PUT /users/{id}/profile (upsert)."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_users_support import ADMIN, MISSING, USER1, USER2, admin_claims, as_user, send
from tests.support.api import StatementCounter

# Fixtures shared by the users tests.


def profiles_of(conn, user_id: str) -> list[dict]:
    rows = conn.run(
        "SELECT bio, location, website_url, social_links, preferences FROM user_profiles WHERE user_id = :u", u=user_id
    )
    names = [c["name"] for c in conn.columns]
    return [dict(zip(names, r, strict=True)) for r in rows]


# -- GET (public) ---------------------------------------------------------------------
def test_public_profile_has_no_preferences(users, seeded):
    with StatementCounter() as counter:
        reply = send(users, "get_profile")
    assert reply.status == 200
    assert counter.count == 1
    assert reply.body["user_id"] == USER1 and reply.body["username"] == "user1"
    assert reply.body["location"] == "Tokyo"
    assert reply.body["social_links"] == {"github": "tanaka"}
    assert "preferences" not in reply.body
    assert "email" not in reply.body


def test_public_profile_ignores_claims(users, seeded):
    # Public route: even the owner's token gives no private fields
    reply = send(users, "get_profile", claims=as_user(USER1))
    assert "preferences" not in reply.body


@pytest.mark.parametrize(
    ("sample", "code"),
    [("get_profile_missing_404", "profile_not_found"), ("get_profile_unknown_user_404", "not_found")],
)
def test_missing_profile_or_user_is_404(users, seeded, sample, code):
    reply = send(users, sample)
    assert reply.status == 404
    assert reply.error_code == code


def test_inactive_users_profile_is_404(users, seeded):
    seeded.run("UPDATE users SET is_active = false WHERE user_id = :u", u=USER1)
    assert send(users, "get_profile").status == 404


# -- PUT (upsert) ---------------------------------------------------------------------
def test_owner_replaces_their_profile(users, seeded):
    # When user1 PUTs a whole profile
    with StatementCounter() as counter:
        reply = send(users, "put_profile")
    # Then it replaces the existing one (200), still one row, in one statement
    assert reply.status == 200, reply.body
    assert counter.count == 1
    assert reply.body["preferences"] == {"theme": "light", "language": "ja"}
    [stored] = profiles_of(seeded, USER1)
    assert stored["social_links"] == {"github": "tanaka", "x": "tanaka_t"}
    assert stored["preferences"] == {"theme": "light", "language": "ja"}


def test_put_clears_fields_left_out(users, seeded):
    reply = send(users, "put_profile", body={"bio": "only a bio"})
    assert reply.status == 200
    [stored] = profiles_of(seeded, USER1)
    assert stored == {
        "bio": "only a bio",
        "location": None,
        "website_url": None,
        "social_links": None,
        "preferences": None,
    }


def test_first_put_creates_the_profile(users, seeded):
    # Given the admin has no profile
    assert profiles_of(seeded, ADMIN) == []
    # When they PUT one
    reply = send(users, "put_profile_create")
    # Then it is created: 201
    assert reply.status == 201, reply.body
    assert reply.body["bio"] == "Site administrator."
    assert len(profiles_of(seeded, ADMIN)) == 1
    # and a second PUT replaces it: 200, still one row
    assert send(users, "put_profile_create", body={"bio": "again"}).status == 200
    assert [p["bio"] for p in profiles_of(seeded, ADMIN)] == ["again"]


def test_admin_replaces_another_users_profile(users, seeded):
    reply = send(users, "put_profile", claims=admin_claims(), body={"bio": "moderated"})
    assert reply.status == 200
    assert profiles_of(seeded, USER1)[0]["bio"] == "moderated"


@pytest.mark.parametrize(("sample", "status"), [("put_profile_other_403", 403), ("put_profile_anonymous_401", 401)])
def test_put_refused(users, seeded, sample, status):
    before = profiles_of(seeded, USER1)
    assert send(users, sample).status == status
    assert profiles_of(seeded, USER1) == before


def test_put_for_unknown_or_inactive_user_is_404(users, seeded):
    assert send(users, "put_profile_unknown_user_404").status == 404
    seeded.run("UPDATE users SET is_active = false WHERE user_id = :u", u=USER2)
    assert send(users, "put_profile_unknown_user_404", path_params={"user_id": USER2}).status == 404
    assert profiles_of(seeded, MISSING) == []


@pytest.mark.parametrize(
    "body",
    [
        {"website_url": "javascript:alert(1)"},
        {"website_url": "data:text/html,hi"},
        {"website_url": "example.com"},
        {"social_links": {f"site{i}": "h" for i in range(21)}},
        {"preferences": {f"k{i}": i for i in range(21)}},
        {"preferences": {"blob": "x" * 5000}},
        {"social_links": {"github": 42}},
        {"social_links": ["not", "an", "object"]},
        {"bio": "x" * 5001},
        {"location": "x" * 256},
        {"user_id": USER2},
        {"profile_id": MISSING},
    ],
)
def test_invalid_profiles_are_422(users, seeded, body):
    before = profiles_of(seeded, USER1)
    reply = send(users, "put_profile", body=body)
    assert reply.status == 422, (body, reply.body)
    assert profiles_of(seeded, USER1) == before


def test_objects_up_to_the_bounds_are_accepted(users, seeded):
    # 20 keys is allowed; so is an object just under 4 KB
    links = {f"site{i}": "h" for i in range(20)}
    assert send(users, "put_profile", body={"social_links": links}).status == 200
    filler = "x" * (4096 - len(json.dumps({"a": ""})) - 2)
    reply = send(users, "put_profile", body={"preferences": {"a": filler}})
    assert reply.status == 200, reply.body
    assert len(profiles_of(seeded, USER1)[0]["preferences"]["a"]) == len(filler)


def test_concurrent_first_puts_leave_one_profile(users, seeded):
    """Two first PUTs at once: ON CONFLICT makes the second an update, not a 409."""
    import threading

    from tests.support.api import per_thread_connections

    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def put(bio: str) -> None:
        barrier.wait()
        statuses.append(send(users, "put_profile_create", body={"bio": bio}).status)

    with per_thread_connections():
        threads = [threading.Thread(target=put, args=(b,)) for b in ("first", "second")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(statuses) == [200, 201]
    assert len(profiles_of(seeded, ADMIN)) == 1
