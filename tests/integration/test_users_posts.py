"""GET /users/{user_id}/posts: an author's posts, newest first, keyset paginated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_users_support import (
    ADMIN,
    ARCHIVED2,
    DRAFT1,
    MISSING,
    POST1,
    POST2,
    USER1,
    USER2,
    admin_claims,
    as_user,
    send,
)
from tests.support.api import StatementCounter
from tests.support.factories import make_post, make_user

# Fixtures shared by the users tests.


def ids(reply) -> list[str]:
    return [p["post_id"] for p in reply.body["items"]]


@pytest.mark.parametrize(
    ("author", "caller", "expected"),
    [
        (USER1, None, [POST1]),  # anyone: published only
        (USER1, USER1, [POST1]),  # the author too: the public list is the same for everyone
        (USER2, ADMIN, [POST2]),  # an admin too: archived posts are not public
    ],
    ids=["anonymous", "author", "admin"],
)
def test_public_list_is_published_only_for_everyone(users, seeded, author, caller, expected):
    who = None if caller is None else admin_claims() if caller == ADMIN else as_user(caller)
    reply = send(users, "posts", path_params={"user_id": author}, claims=who)
    assert reply.status == 200, reply.body
    assert ids(reply) == expected
    assert reply.body["next_cursor"] is None
    assert reply.headers["cache-control"].startswith("public, max-age=")


@pytest.mark.parametrize(("caller", "expected"), [(USER1, [DRAFT1, POST1]), (USER2, [POST2, ARCHIVED2])])
def test_my_posts_include_drafts_and_archived(users, seeded, caller, expected):
    reply = send(users, "my_posts", claims=as_user(caller))
    assert reply.status == 200, reply.body
    assert ids(reply) == expected
    assert reply.headers["cache-control"] == "private, no-store"


def test_my_posts_anonymous_is_401(users, seeded):
    assert send(users, "my_posts_anonymous_401").status == 401


@pytest.mark.parametrize("user_id", [MISSING, "not-a-uuid"])
def test_unknown_author_is_404(users, seeded, user_id):
    assert send(users, "posts_not_found_404", path_params={"user_id": user_id}).status == 404


def test_inactive_author_is_404_but_no_posts_is_an_empty_page(users, seeded, owner_conn):
    quiet = make_user(owner_conn)
    reply = send(users, "posts", path_params={"user_id": str(quiet["user_id"])})
    assert reply.status == 200 and reply.body == {"items": [], "next_cursor": None}
    owner_conn.run("UPDATE users SET is_active = false WHERE user_id = :u", u=USER1)
    assert send(users, "posts").status == 404


def test_items_are_summaries(users, seeded):
    item = send(users, "posts").body["items"][0]
    assert item["title"] == "Keyset pagination in PostgreSQL"
    assert item["status"] == "published"
    assert item["tags"] == ["postgresql", "performance"]
    assert "content" not in item


def test_pages_follow_publication_time_then_creation_time(users, owner_conn):
    """Newest first by published_at, or created_at for drafts; ties by post_id.
    Paging 3 at a time visits every post once, in that order, one statement each."""
    author = str(make_user(owner_conn)["user_id"])
    base = datetime.now(UTC) - timedelta(days=10)
    expected_order, drafts = [], set()
    for i in range(10):
        status = "draft" if i % 4 == 0 else "published"
        at = base + timedelta(hours=i // 2)  # pairs share a timestamp: ties
        extra = {"published_at": at} if status == "published" else {"created_at": at}
        post_id = make_post(owner_conn, author, status=status, **extra)["post_id"]
        expected_order.append((at, post_id))
        if status == "draft":
            drafts.add(str(post_id))
    expected = [str(pid) for _, pid in sorted(expected_order, key=lambda t: (t[0], str(t[1])), reverse=True)]

    seen, cursor, statements = [], None, []
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        with StatementCounter() as counter:
            reply = send(users, "my_posts", claims=as_user(author), query=query)
        statements.append(counter.count)
        assert reply.status == 200, reply.body
        seen += ids(reply)
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert statements == [1] * len(statements)
    # Another user sees the published ones, in the same order
    other = send(users, "posts", path_params={"user_id": author}, claims=as_user(USER2), query={"limit": "100"})
    assert ids(other) == [p for p in expected if p not in drafts]


def test_cursor_of_another_list_is_400(users, seeded):
    page = send(users, "list", query={"limit": "1"})
    assert page.body["next_cursor"]
    reply = send(users, "posts", query={"cursor": page.body["next_cursor"]})
    assert reply.status == 400
    assert reply.error_code == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "101"])
def test_limit_bounds(users, seeded, limit):
    assert send(users, "posts", query={"limit": limit}).status == 422
