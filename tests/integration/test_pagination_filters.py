"""A cursor pages the result set it came from, on every list route: sent with other filters (query
parameters or path ids) it is refused with 400 `invalid_cursor`, never read against another list,
where it would skip rows or end the list early. Sent with the same filters, however spelled (as the
route's query compares them), and with another `limit` or `fields`, it gives the next page. Through
the handlers, on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from posts_app import handler as posts_handler
from shared.text import lower_key
from testing.events import claims, load_event, prepare
from tests.integration.test_users_support import as_user, send
from tests.support.api import Reply, call
from tests.support.factories import make_comment, make_post, make_user

BASE = datetime(2026, 3, 1, tzinfo=UTC)
MESSAGE = "the cursor is invalid or belongs to another list; start again without it"


def refused(reply: Reply) -> bool:
    """400 invalid_cursor, with the message every refused cursor gets."""
    return (
        reply.status == 400
        and reply.error_code == "invalid_cursor"
        and reply.body["error"]["message"] == MESSAGE
        and reply.body["error"]["details"] == [{"field": "cursor", "message": "invalid cursor"}]
    )


def ids(reply: Reply, key: str) -> list[str]:
    assert reply.status == 200, reply.body
    return [item[key] for item in reply.body["items"]]


# -- GET /posts ---------------------------------------------------------------------------
def listing(query: dict[str, str]) -> Reply:
    return call(posts_handler, prepare(load_event("posts/list.json"), query=query))


@pytest.fixture()
def feed(db, owner_conn):
    """Ten published posts: six of author `a` titled "SQL tuning", four of `b` titled
    "Database notes ... SQL", an hour apart (b's half an hour later), tagged pg (and sql)."""
    a, b = (str(make_user(owner_conn)["user_id"]) for _ in range(2))
    for i in range(6):
        make_post(
            owner_conn,
            a,
            title=f"SQL tuning {i}",
            tags=["pg"] if i % 2 else ["pg", "sql"],
            published_at=BASE + timedelta(hours=i),
            view_count=10 * i,
        )
    for i in range(4):
        make_post(
            owner_conn,
            b,
            title=f"Database notes {i} SQL",
            tags=["pg"],
            published_at=BASE + timedelta(hours=i, minutes=30),
            like_count=i,
        )
    return SimpleNamespace(a=a, b=b)


def post_filters(feed) -> list[dict[str, str]]:
    """Result sets of GET /posts, each of at least three posts, no two alike."""
    return [
        {},
        {"tag": "pg"},
        {"tag": "sql"},
        {"author": feed.a},
        {"author": feed.b},
        {"published_after": "2026-03-01T01:00:00Z"},
        {"published_after": "2026-03-01T02:00:00Z"},
        {"published_before": "2026-03-01T05:00:00Z"},
        {"published_after": "2026-03-01T01:00:00Z", "published_before": "2026-03-01T05:00:00Z"},
        {"sort": "popular"},
        {"q": "sql"},
        {"q": "tuning"},
        {"q": "sql", "sort": "published_at"},
        {"q": "sql", "sort": "popular"},
        {"q": "sql", "tag": "sql"},
        {"q": "sql", "author": feed.a},
        {"q": "sql", "published_before": "2026-03-01T05:00:00Z"},
        {"tag": "pg", "author": feed.b},
    ]


def test_a_posts_cursor_is_refused_with_any_other_filters(feed):
    filters = post_filters(feed)
    for own in filters:
        first = listing({**own, "limit": "2"})
        assert first.status == 200 and first.body["next_cursor"], own
        for other in filters:
            if other is own:
                continue
            reply = listing({**other, "limit": "2", "cursor": first.body["next_cursor"]})
            assert refused(reply), (own, other, reply.status, reply.body)


def test_a_posts_cursor_pages_its_own_filters_whatever_the_limit_and_fields(feed):
    for own in post_filters(feed):
        everything = ids(listing({**own, "limit": "100"}), "post_id")
        assert len(everything) >= 3, own
        first = listing({**own, "limit": "2"})
        assert ids(first, "post_id") == everything[:2], own
        cursor = first.body["next_cursor"]
        # Another page size and another field selection: the same list, from where it stopped
        reply = listing({**own, "limit": "3", "fields": "title", "cursor": cursor})
        assert ids(reply, "post_id") == everything[2:5], own
        assert all(set(item) == {"post_id", "title"} for item in reply.body["items"]), own
        default_fields = listing({**own, "limit": "100", "cursor": cursor})
        assert ids(default_fields, "post_id") == everything[2:], own
        assert default_fields.body["next_cursor"] is None


@pytest.mark.parametrize(
    ("own", "alike"),
    [
        ({"tag": "sql"}, [{"tag": "SQL"}, {"tag": "\uff53\uff51\uff4c"}, {"tag": " sql "}]),  # folded (NFKC, case)
        ({"published_after": "2026-03-01T01:00:00Z"}, [{"published_after": "2026-03-01T10:00:00+09:00"}]),
        ({"published_after": "2026-03-01T01:00:00Z"}, [{"published_after": "2026-03-01T01:00:00"}]),  # UTC
        ({"published_before": "2026-03-01T05:00:00Z"}, [{"published_before": "2026-03-01T05:00:00.000+00:00"}]),
        ({"q": "sql"}, [{"q": "SQL"}, {"q": "\uff33\uff31\uff2c"}, {"q": "  Sql "}]),  # ILIKE: case aside
        ({"q": "sql", "sort": "popular"}, [{"q": "SQL", "sort": "popular"}]),
        ({"q": "sql", "sort": "published_at"}, [{"q": "\uff33\uff31\uff2c", "sort": "published_at"}]),
        ({"q": "sql tuning"}, [{"q": "tuning sql"}, {"q": "Tuning SQL sql"}]),  # every term, any order
    ],
)
def test_a_posts_cursor_pages_the_same_filters_however_spelled(feed, own, alike):
    everything = ids(listing({**own, "limit": "100"}), "post_id")
    cursor = listing({**own, "limit": "2"}).body["next_cursor"]
    assert cursor and len(everything) > 2
    for other in alike:
        # The route treats the spellings alike: the same rows
        assert ids(listing({**other, "limit": "100"}), "post_id") == everything, other
        assert ids(listing({**other, "limit": "100", "cursor": cursor}), "post_id") == everything[2:], other


def test_an_author_in_capitals_is_the_same_author(feed):
    own, alike = {"author": feed.a}, {"author": feed.a.upper()}
    everything = ids(listing({**own, "limit": "100"}), "post_id")
    cursor = listing({**own, "limit": "2"}).body["next_cursor"]
    assert ids(listing({**alike, "limit": "100", "cursor": cursor}), "post_id") == everything[2:]


def test_a_ranked_cursor_is_refused_by_the_other_filters_of_the_same_search(feed):
    # The ranked search's cursor named its terms only: with the same terms and another tag,
    # author or time range it repositioned in another result set
    first = listing({"q": "sql", "limit": "2"})
    for other in ({"tag": "sql"}, {"author": feed.b}, {"published_after": "2026-03-01T02:00:00Z"}):
        assert refused(listing({"q": "sql", **other, "cursor": first.body["next_cursor"]})), other


# -- GET /users -----------------------------------------------------------------------------
@pytest.fixture()
def people(db, owner_conn):
    """Five readers (usernames reader_1..5), three 田中, and two others, one of them verified."""
    for i in range(1, 6):
        make_user(owner_conn, username=f"reader_{i}", first_name="Reader", last_name=f"No{i}")
    for given in ("太郎", "花子", "一郎"):
        make_user(owner_conn, first_name=given, last_name="田中")
    make_user(owner_conn, username="alice", first_name="Alice", last_name="Adams", is_verified=True)
    make_user(owner_conn, username="bob", first_name="Bob", last_name="Brown")


def user_list(users, query: dict[str, str]) -> Reply:
    return send(users, "list", query=query)


def test_a_users_cursor_is_refused_with_another_search(users, people):
    # GET /users?q=reader_&limit=3 gives a cursor
    first = user_list(users, {"q": "reader_", "limit": "3"})
    assert len(ids(first, "username")) == 3 and first.body["next_cursor"]
    cursor = first.body["next_cursor"]
    # 田中 has three matches: with the readers' cursor they were an empty page; now refused
    assert len(ids(user_list(users, {"q": "田中"}), "user_id")) == 3
    for other in (
        {"q": "田中"},
        {"q": "a"},  # started mid-list, skipping rows
        {},
        {"q": "reader_1"},
        {"q": "reader_", "verified": "true"},
        {"q": "reader_", "verified": "false"},
    ):
        reply = user_list(users, {**other, "limit": "3", "cursor": cursor})
        assert refused(reply), (other, reply.status, reply.body)
    # And the other way round: a cursor of the whole list, or of verified users, is no search's
    whole = user_list(users, {"limit": "3"}).body["next_cursor"]
    assert refused(user_list(users, {"q": "a", "cursor": whole}))
    assert refused(user_list(users, {"verified": "false", "cursor": whole}))
    unverified = user_list(users, {"verified": "false", "limit": "3"}).body["next_cursor"]
    assert refused(user_list(users, {"cursor": unverified}))
    assert refused(user_list(users, {"verified": "true", "cursor": unverified}))


@pytest.mark.parametrize(
    ("own", "alike"),
    [
        ({"q": "reader_"}, [{"q": "reader_"}, {"q": "READER_"}, {"q": "\uff52\uff45\uff41\uff44\uff45\uff52\uff3f"}]),
        ({"q": "reader_"}, [{"q": "read er_"}]),  # the route removes spaces
        ({"q": "田中"}, [{"q": " 田中 "}]),
        ({}, [{}]),
        ({"verified": "false"}, [{"verified": "false"}]),
    ],
)
def test_a_users_cursor_pages_the_same_search_whatever_the_limit_and_spelling(users, people, own, alike):
    everything = ids(user_list(users, {**own, "limit": "100"}), "user_id")
    assert len(everything) >= 3, own
    cursor = user_list(users, {**own, "limit": "2"}).body["next_cursor"]
    for other in alike:
        assert ids(user_list(users, {**other, "limit": "100"}), "user_id") == everything, other
        reply = user_list(users, {**other, "limit": "1", "cursor": cursor})
        assert ids(reply, "user_id") == everything[2:3], other
        rest = user_list(users, {**other, "limit": "100", "cursor": cursor})
        assert ids(rest, "user_id") == everything[2:] and rest.body["next_cursor"] is None, other


# -- GET /users/{user_id}/posts and GET /me/posts ---------------------------------------------
@pytest.fixture()
def authors(db, owner_conn):
    """Two authors with three published posts each; the first has two drafts too."""
    one, two = (str(make_user(owner_conn)["user_id"]) for _ in range(2))
    for author in (one, two):
        for i in range(3):
            make_post(owner_conn, author, published_at=BASE + timedelta(hours=i))
    for i in range(2):
        make_post(owner_conn, one, status="draft", created_at=BASE + timedelta(hours=i, minutes=30))
    return SimpleNamespace(one=one, two=two)


def public_posts(users, user_id: str, **query: str) -> Reply:
    return send(users, "posts", path_params={"user_id": user_id}, query=query)


def my_posts(users, sub: str, **query: str) -> Reply:
    return send(users, "my_posts", claims=as_user(sub), query=query)


def test_an_authors_cursor_pages_only_that_authors_list(users, authors):
    public = public_posts(users, authors.one, limit="2").body["next_cursor"]
    mine = my_posts(users, authors.one, limit="2").body["next_cursor"]
    assert public and mine
    # Another author's posts, or the same author's with drafts (or without): refused
    assert refused(public_posts(users, authors.two, cursor=public))
    assert refused(my_posts(users, authors.one, cursor=public))
    assert refused(public_posts(users, authors.one, cursor=mine))
    assert refused(my_posts(users, authors.two, cursor=mine))
    assert refused(public_posts(users, authors.two, cursor=mine))


def test_an_authors_cursor_pages_its_list_whatever_the_limit(users, authors):
    everything = ids(public_posts(users, authors.one, limit="100"), "post_id")
    cursor = public_posts(users, authors.one, limit="2").body["next_cursor"]
    # The id in capitals names the same author
    for user_id in (authors.one, authors.one.upper()):
        assert ids(public_posts(users, user_id, limit="5", cursor=cursor), "post_id") == everything[2:]
    all_mine = ids(my_posts(users, authors.one, limit="100"), "post_id")
    assert len(all_mine) == 5
    cursor = my_posts(users, authors.one, limit="2").body["next_cursor"]
    assert ids(my_posts(users, authors.one, limit="1", cursor=cursor), "post_id") == all_mine[2:3]
    assert ids(my_posts(users, authors.one, limit="9", cursor=cursor), "post_id") == all_mine[2:]


# -- GET /posts/{post_id}/comments and GET /admin/posts/{post_id}/comments --------------------
@pytest.fixture()
def threads(db, owner_conn):
    """Two published posts with four top-level comments each, and an administrator."""
    author, admin = (str(make_user(owner_conn)["user_id"]) for _ in range(2))
    posts = []
    for _ in range(2):
        post = str(make_post(owner_conn, author)["post_id"])
        for i in range(4):
            make_comment(owner_conn, post, author, content=f"c{i}", created_at=BASE + timedelta(minutes=i))
        posts.append(post)
    return SimpleNamespace(one=posts[0], two=posts[1], admin=claims(admin, groups=["admin"]))


def thread(comments_handler, post_id: str, **query: Any) -> Reply:
    event = prepare(load_event("comments/list.json"), path_params={"post_id": post_id}, query=query)
    return call(comments_handler, event)


def moderation(comments_handler, post_id: str, who, **query: Any) -> Reply:
    event = prepare(
        load_event("comments/list_moderation.json"), path_params={"post_id": post_id}, query=query, claims=who
    )
    return call(comments_handler, event)


def test_a_threads_cursor_pages_only_that_posts_thread(comments_handler, threads):
    public = thread(comments_handler, threads.one, limit="2").body["next_cursor"]
    moderated = moderation(comments_handler, threads.one, threads.admin, limit="2").body["next_cursor"]
    assert public and moderated
    assert refused(thread(comments_handler, threads.two, cursor=public))
    assert refused(moderation(comments_handler, threads.one, threads.admin, cursor=public))
    assert refused(moderation(comments_handler, threads.two, threads.admin, cursor=moderated))
    assert refused(thread(comments_handler, threads.one, cursor=moderated))


def test_a_threads_cursor_pages_its_thread_whatever_the_limit(comments_handler, threads):
    for read in (
        lambda post_id, **q: thread(comments_handler, post_id, **q),
        lambda post_id, **q: moderation(comments_handler, post_id, threads.admin, **q),
    ):
        everything = ids(read(threads.one, limit="100"), "comment_id")
        assert len(everything) == 4
        cursor = read(threads.one, limit="2").body["next_cursor"]
        for post_id in (threads.one, threads.one.upper()):
            assert ids(read(post_id, limit="1", cursor=cursor), "comment_id") == everything[2:3]
            assert ids(read(post_id, limit="5", cursor=cursor), "comment_id") == everything[2:]


# -- the case folding the cursors of searches rely on -------------------------------------------
def test_texts_with_one_lower_key_are_equal_under_postgresql_lower(db, owner_conn):
    """Every character Python lowercases one for one (shared.text.lower_key) is lowercased the
    same by the database's lower(), so searches that share their cursors find the same rows."""
    chars = [chr(c) for c in range(0x20, 0x30000) if not 0xD800 <= c <= 0xDFFF]
    folded = [c for c in chars if lower_key(c) != c]
    assert len(folded) > 1000
    rows = owner_conn.run("SELECT x, lower(x) FROM unnest(CAST(:xs AS text[])) AS x", xs=folded)
    assert [(x, low) for x, low in rows if low != lower_key(x)] == []
    # Texts lower_key keeps as they are: PostgreSQL lowercases them otherwise than Python
    for text in ("\u0130stanbul", "\u039f\u0394\u039f\u03a3"):
        assert lower_key(text) == text
        ((low,),) = owner_conn.run("SELECT lower(CAST(:t AS text))", t=text)
        assert low != text.lower()
