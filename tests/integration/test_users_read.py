"""Reading users: GET /users, /users/{id}, /admin/users/statistics, /admin/users/by-email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import users_queries

from shared.pagination import cursor_kind, encode_cursor
from tests.integration.test_users_support import ADMIN, MISSING, USER1, USER2, admin_claims, as_user, send
from tests.support.api import StatementCounter
from tests.support.factories import make_post, make_user

# Fixtures shared by the users tests.

PUBLIC_KEYS = {"user_id", "username", "first_name", "last_name", "profile_image_url", "is_verified", "created_at"}
PRIVATE_KEYS = {"email", "phone_number", "date_of_birth", "is_active", "updated_at", "last_login_at"}


def list_all(users, **query) -> list[dict]:
    """Follow next_cursor to the end."""
    items, cursor = [], None
    for _ in range(100):
        q = dict(query, **({"cursor": cursor} if cursor else {}))
        reply = send(users, "list", query=q)
        assert reply.status == 200, reply.body
        items += reply.body["items"]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


# -- GET /users -----------------------------------------------------------------------
def test_list_shows_active_users_newest_first_with_public_fields(users, owner_conn):
    # Given users created at known times, one of them inactive
    now = datetime.now(UTC)
    old = make_user(owner_conn, username="old_one", created_at=now - timedelta(days=2))
    new = make_user(owner_conn, username="new_one", created_at=now - timedelta(hours=1), phone_number="+1 555 0100")
    make_user(owner_conn, username="gone", is_active=False, created_at=now)
    make_post(owner_conn, str(new["user_id"]))
    make_post(owner_conn, str(new["user_id"]), status="draft")
    # When anyone lists users
    reply = send(users, "list")
    # Then only active users, newest first, public fields and the published post count
    assert reply.status == 200
    assert [u["username"] for u in reply.body["items"]] == ["new_one", "old_one"]
    assert reply.body["next_cursor"] is None
    first = reply.body["items"][0]
    assert set(first) == PUBLIC_KEYS | {"published_posts"}
    assert first["published_posts"] == 1
    assert reply.body["items"][1]["published_posts"] == 0
    assert first["user_id"] == str(new["user_id"]) and old["user_id"]


def test_list_ignores_a_token_on_the_public_route(users, seeded):
    # Even an admin's claims do not add private fields to the public list
    reply = send(users, "list", claims=admin_claims())
    assert reply.status == 200
    assert all(set(u) == PUBLIC_KEYS | {"published_posts"} for u in reply.body["items"])


def test_keyset_pagination_visits_every_user_once(users, owner_conn):
    # Given 25 users, several sharing one created_at (ties broken by user_id)
    stamp = datetime.now(UTC) - timedelta(days=1)
    made = {
        str(make_user(owner_conn, created_at=stamp if i % 3 == 0 else stamp - timedelta(minutes=i))["user_id"])
        for i in range(25)
    }
    # When paging 4 at a time
    seen = list_all(users, limit="4")
    # Then every user appears exactly once, in (created_at, user_id) descending order
    ids = [u["user_id"] for u in seen]
    assert len(ids) == 25 and set(ids) == made
    keys = [(u["created_at"], u["user_id"]) for u in seen]
    assert keys == sorted(keys, reverse=True)


def test_list_page_is_one_statement(users, owner_conn):
    for _ in range(5):
        make_user(owner_conn)
    with StatementCounter() as counter:
        reply = send(users, "list", query={"limit": "2"})
    assert reply.status == 200 and len(reply.body["items"]) == 2 and reply.body["next_cursor"]
    assert counter.count == 1


def test_verified_filter(users, owner_conn):
    make_user(owner_conn, username="checked", is_verified=True)
    make_user(owner_conn, username="unchecked", is_verified=False)
    assert [u["username"] for u in send(users, "list", query={"verified": "true"}).body["items"]] == ["checked"]
    assert [u["username"] for u in send(users, "list", query={"verified": "false"}).body["items"]] == ["unchecked"]
    assert send(users, "list", query={"verified": "maybe"}).status == 422


def test_search_matches_username_first_and_last_name_case_insensitively(users, owner_conn):
    make_user(owner_conn, username="kenji_k", first_name="Kenji", last_name="Kato")
    make_user(owner_conn, username="someone", first_name="Mariko", last_name="Kenjiro")
    make_user(owner_conn, username="other", first_name="Bob", last_name="Smith")
    make_user(owner_conn, username="kenji_gone", is_active=False)
    found = {u["username"] for u in send(users, "list", query={"q": "KENJI"}).body["items"]}
    assert found == {"kenji_k", "someone"}
    assert {u["username"] for u in send(users, "list", query={"q": "smith"}).body["items"]} == {"other"}
    assert send(users, "list", query={"q": "nobody-like-this"}).body["items"] == []


def test_search_wildcards_in_input_are_literal(users, owner_conn):
    # Given names where % and _ and \ would act as wildcards or escapes
    make_user(owner_conn, username="abc_def")
    make_user(owner_conn, username="abcxdef")
    make_user(owner_conn, username="plain", first_name="100%real")
    make_user(owner_conn, username="plain2", first_name="100xreal")
    make_user(owner_conn, username="slashy", last_name="back\\slash")
    make_user(owner_conn, username="slashy2", last_name="backslash")
    # Then each character matches only itself
    assert [u["username"] for u in send(users, "list", query={"q": "abc_def"}).body["items"]] == ["abc_def"]
    assert [u["username"] for u in send(users, "list", query={"q": "100%real"}).body["items"]] == ["plain"]
    assert [u["username"] for u in send(users, "list", query={"q": "back\\slash"}).body["items"]] == ["slashy"]


@pytest.mark.parametrize("q", ["ab", "  a ", "%%%", "___", "\\\\\\", "- -", "田"])
def test_short_and_symbol_only_searches_are_ordinary_queries(users, owner_conn, q):
    # Any length is served by the n-gram index (sql/migrations/0010); symbols match literally.
    make_user(owner_conn, username="kimi_joy", first_name="Kimi", last_name="Joy")
    reply = send(users, "list", query={"q": q})
    assert reply.status == 200
    assert reply.body["items"] == []


@pytest.mark.parametrize("q", ["", "   ", "\u3000"])
def test_blank_searches_are_422(users, q):
    reply = send(users, "list", query={"q": q})
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "q"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_limit_out_of_range_is_422(users, limit):
    reply = send(users, "list", query={"limit": limit})
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "limit"


def test_limit_100_is_accepted(users):
    assert send(users, "list", query={"limit": "100"}).status == 200


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        # another list's cursor
        encode_cursor(users_queries.user_posts_kind(MISSING, False), [datetime.now(UTC).isoformat(), MISSING]),
        encode_cursor(cursor_kind("users"), [datetime.now(UTC), MISSING]),  # a kind that names no filters
        encode_cursor(users_queries.users_kind(None, None), ["yesterday", MISSING]),  # wrong types
        encode_cursor(users_queries.users_kind(None, None), [datetime.now(UTC), "not-a-uuid"]),
        encode_cursor(users_queries.users_kind(None, None), [datetime.now(UTC), [1, 2]]),
    ],
)
def test_bad_cursors_are_400(users, cursor):
    reply = send(users, "list", query={"cursor": cursor})
    assert reply.status == 400
    assert reply.error_code == "invalid_cursor"


# -- GET /users/{user_id} (public) and GET /me (private) --------------------------------
@pytest.mark.parametrize("caller", [None, USER2, USER1, ADMIN], ids=["anonymous", "other-user", "self", "admin"])
def test_public_user_page_is_the_same_for_every_caller(users, seeded, caller):
    # Given any caller, or none (the route has no authorizer: a token changes nothing)
    who = None if caller is None else admin_claims() if caller == ADMIN else as_user(caller)
    reply = send(users, "get", claims=who) if who else send(users, "get")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["user_id"] == USER1 and body["username"] == "user1"
    assert set(body) >= PUBLIC_KEYS
    assert not (PRIVATE_KEYS & set(body))
    assert "preferences" not in body["profile"]
    assert "password_hash" not in body
    assert reply.headers["cache-control"].startswith("public, max-age=")
    assert body == send(users, "get").body


@pytest.mark.parametrize("caller", [USER1, ADMIN], ids=["user", "admin"])
def test_me_is_the_callers_own_account_with_private_fields(users, seeded, caller):
    who = admin_claims() if caller == ADMIN else as_user(caller)
    reply = send(users, "me", claims=who)
    assert reply.status == 200, reply.body
    assert reply.body["user_id"] == caller
    assert set(reply.body) >= PUBLIC_KEYS | PRIVATE_KEYS
    assert reply.headers["cache-control"] == "private, no-store"
    assert "password_hash" not in reply.body


def test_me_anonymous_is_401(users, seeded):
    reply = send(users, "me_anonymous_401")
    assert reply.status == 401


def test_get_user_has_profile_and_post_statistics_in_one_statement(users, seeded):
    # Given the seed: user1 has a published post (120 views) and a draft
    with StatementCounter() as counter:
        reply = send(users, "me")
    assert counter.count == 1
    assert reply.body["profile"]["location"] == "Tokyo"
    assert reply.body["profile"]["social_links"] == {"github": "tanaka"}
    stats = reply.body["stats"]
    assert stats["total_posts"] == 2
    assert stats["published_posts"] == 1
    assert stats["total_views"] == 120
    likes = seeded.run("SELECT coalesce(sum(like_count), 0) FROM posts WHERE user_id = :u", u=USER1)[0][0]
    assert stats["total_likes"] == likes
    assert stats["last_published_at"] is not None


def test_the_public_page_counts_published_posts_only(users, seeded):
    """user1 has a published post and a draft: the public page says 1, GET /me says 2."""
    public = send(users, "get", path_params={"user_id": USER1}).body["stats"]
    own = send(users, "me").body["stats"]
    assert (public["total_posts"], public["published_posts"]) == (1, 1)
    assert (own["total_posts"], own["published_posts"]) == (2, 1)


def test_get_user_without_profile_or_posts(users, seeded):
    # A user without a profile still has a public page
    reply = send(users, "get", path_params={"user_id": ADMIN})
    assert reply.status == 200
    assert reply.body["profile"] is None
    assert reply.body["stats"] == {
        "total_posts": 0,
        "published_posts": 0,
        "total_views": 0,
        "total_likes": 0,
        "last_published_at": None,
    }


@pytest.mark.parametrize("user_id", [MISSING, "not-a-uuid", "00000000-0000-4000-8000-00000000000", "' OR 1=1 --"])
def test_get_unknown_or_malformed_user_is_404(users, seeded, user_id):
    reply = send(users, "get", path_params={"user_id": user_id})
    assert reply.status == 404
    assert reply.error_code == "not_found"


def test_get_inactive_user_is_404_even_for_admin(users, seeded):
    seeded.run("UPDATE users SET is_active = false WHERE user_id = :u", u=USER1)
    assert send(users, "get").status == 404
    assert send(users, "get", claims=admin_claims()).status == 404


# -- GET /admin/users/statistics ------------------------------------------------------------
def test_statistics_for_admins(users, owner_conn):
    # Given active users of every kind, and an inactive one that must not count
    now = datetime.now(UTC)
    make_user(owner_conn, user_id=ADMIN, is_verified=True, created_at=now - timedelta(days=100), last_login_at=now)
    make_user(owner_conn, is_verified=True, created_at=now - timedelta(days=3), last_login_at=now - timedelta(days=40))
    make_user(owner_conn, created_at=now - timedelta(days=30))
    make_user(owner_conn, is_active=False, is_verified=True, created_at=now, last_login_at=now)
    with StatementCounter() as counter:
        reply = send(users, "statistics")
    assert reply.status == 200
    assert counter.count == 1
    assert reply.body == {"total_users": 3, "verified_users": 2, "active_users": 1, "new_users_week": 1}


@pytest.mark.parametrize(("sample", "status"), [("statistics_anonymous_401", 401), ("statistics_not_admin_403", 403)])
def test_statistics_refused_to_non_admins(users, seeded, sample, status):
    assert send(users, sample).status == status


def test_statistics_route_is_not_taken_for_a_user_id(users, seeded):
    # /admin/users/statistics must not be routed to GET /users/{user_id}
    reply = send(users, "statistics_not_admin_403")
    assert reply.error_code == "forbidden"


# -- GET /admin/users/by-email --------------------------------------------------------------
def test_by_email_finds_active_user_whatever_the_case(users, seeded):
    reply = send(users, "by_email")
    assert reply.status == 200
    assert reply.body["user_id"] == USER1
    assert set(reply.body) >= PUBLIC_KEYS | PRIVATE_KEYS
    assert "password_hash" not in reply.body


def test_by_email_inactive_user_is_404(users, seeded):
    seeded.run("UPDATE users SET is_active = false WHERE user_id = :u", u=USER1)
    assert send(users, "by_email").status == 404


@pytest.mark.parametrize(
    ("sample", "status"),
    [
        ("by_email_anonymous_401", 401),
        ("by_email_not_admin_403", 403),
        ("by_email_not_found_404", 404),
        ("by_email_missing_422", 422),
    ],
)
def test_by_email_refusals(users, seeded, sample, status):
    assert send(users, sample).status == status


def test_by_email_too_long_is_422(users, seeded):
    assert send(users, "by_email", query={"email": "a" * 250 + "@example.com"}).status == 422
