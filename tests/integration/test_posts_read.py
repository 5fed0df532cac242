"""Reading posts: GET /posts/{id}, /posts/by-slug/{slug}, GET /posts and
/posts/popular, through the handler with the sample events, on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from posts_app import handler
from testing.events import claims, load_event, prepare
from tests.support.api import StatementCounter, call
from tests.support.factories import make_post, make_user

PRIVATE = ("email", "phone_number", "date_of_birth", "password_hash")


@pytest.fixture()
def people(db, owner_conn):
    author = make_user(owner_conn, first_name="Ada", last_name="Lovelace", email="ada@example.com", phone_number="+100")
    other = make_user(owner_conn)
    admin = make_user(owner_conn)
    return SimpleNamespace(
        author=str(author["user_id"]),
        other=str(other["user_id"]),
        admin=str(admin["user_id"]),
        author_claims=claims(str(author["user_id"])),
        other_claims=claims(str(other["user_id"])),
        admin_claims=claims(str(admin["user_id"]), groups=["admin", "editors"]),
    )


def get(post_id: str, who):
    return call(handler, prepare(load_event("posts/get.json"), path_params={"post_id": post_id}, claims=who))


def get_mine(post_id: str, who):
    return call(handler, prepare(load_event("posts/get_mine_draft.json"), path_params={"post_id": post_id}, claims=who))


def get_as_admin(post_id: str, who):
    return call(
        handler, prepare(load_event("posts/get_admin_draft.json"), path_params={"post_id": post_id}, claims=who)
    )


def listing(query: dict[str, str] | None = None, who=None):
    return call(handler, prepare(load_event("posts/list.json"), query=query or {}, claims=who))


def walk(query: dict[str, str]) -> tuple[list[dict], int]:
    """Follow next_cursor to the end; returns the items and the pages read."""
    items, pages, cursor = [], 0, None
    while True:
        q = dict(query, **({"cursor": cursor} if cursor else {}))
        reply = listing(q)
        assert reply.status == 200, reply.body
        items += reply.body["items"]
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 100


def assert_no_private_fields(value) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            assert key not in PRIVATE, key
            assert_no_private_fields(inner)
    elif isinstance(value, list):
        for inner in value:
            assert_no_private_fields(inner)


# -- GET /posts/{post_id} ---------------------------------------------------------------
def test_published_post_to_any_signed_in_caller_in_one_statement(people, owner_conn):
    # Given a published post with tags and metadata
    post = make_post(owner_conn, people.author, tags=["pg", "sql"], metadata='{"k": 1}')
    pid = str(post["post_id"])
    # When another signed-in user reads it
    with StatementCounter() as counter:
        reply = get(pid, people.other_claims)
    # Then it comes back whole, with its author summary, an ETag, in one round trip
    assert reply.status == 200
    assert counter.count == 1
    assert reply.headers["etag"] == '"1"'
    body = reply.body
    assert body["post_id"] == pid
    assert body["title"] == post["title"]
    assert body["tags"] == ["pg", "sql"]
    assert body["metadata"] == {"k": 1}
    assert body["author"] == {
        "user_id": people.author,
        "username": body["author"]["username"],
        "first_name": "Ada",
        "last_name": "Lovelace",
        "profile_image_url": None,
    }
    assert_no_private_fields(body)


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_unpublished_post_only_to_author_and_admin(people, owner_conn, status):
    pid = str(make_post(owner_conn, people.author, status=status)["post_id"])
    # the public route shows published posts only, whoever asks
    for who in (None, people.author_claims, people.admin_claims, people.other_claims):
        hidden = get(pid, who)
        assert hidden.status == 404
        assert hidden.error_code == "not_found"
    # the author reads it under /me, an administrator under /admin
    mine = get_mine(pid, people.author_claims)
    assert mine.status == 200 and mine.body["status"] == status
    assert mine.headers["cache-control"] == "private, no-store"
    assert get_as_admin(pid, people.admin_claims).status == 200
    assert get_mine(pid, people.other_claims).status == 404
    assert get_as_admin(pid, people.other_claims).status == 403


def test_get_is_public_and_cacheable(people, owner_conn):
    pid = str(make_post(owner_conn, people.author)["post_id"])
    reply = get(pid, None)
    assert reply.status == 200
    assert reply.headers["cache-control"] == "public, max-age=60, stale-while-revalidate=300"
    etag = reply.headers["etag"]
    # a revalidation with the ETag answers 304 without a body
    again = call(
        handler,
        prepare(load_event("posts/get.json"), path_params={"post_id": pid}, headers={"if-none-match": etag}),
    )
    assert again.status == 304 and again.body in (None, "")
    assert again.headers["etag"] == etag
    # the same answer with or without a token
    assert get(pid, people.other_claims).body == reply.body


def test_my_post_needs_an_identity(people, owner_conn):
    pid = str(make_post(owner_conn, people.author)["post_id"])
    reply = get_mine(pid, None)
    assert reply.status == 401
    assert reply.error_code == "unauthorized"


@pytest.mark.parametrize("post_id", ["10000000-0000-4000-8000-0000000000ff", "not-a-uuid", "1; DROP TABLE posts"])
def test_get_unknown_or_malformed_id_is_404(people, post_id):
    reply = get(post_id, people.other_claims)
    assert reply.status == 404
    assert reply.body["error"]["message"] == "post not found"


def test_claims_sub_is_the_identity_not_a_header(people, owner_conn):
    # A draft stays hidden even if a header pretends to be the author.
    pid = str(make_post(owner_conn, people.author, status="draft")["post_id"])
    event = prepare(
        load_event("posts/get.json"),
        path_params={"post_id": pid},
        claims=people.other_claims,
        headers={"x-user-id": people.author},
    )
    assert call(handler, event).status == 404


# -- GET /posts/by-slug/{slug} --------------------------------------------------------
def by_slug(slug: str, who=None):
    return call(handler, prepare(load_event("posts/get_by_slug.json"), path_params={"slug": slug}, claims=who))


def test_by_slug_returns_published_post_publicly(people, owner_conn):
    post = make_post(owner_conn, people.author, slug="hello-world")
    with StatementCounter() as counter:
        reply = by_slug("hello-world")
    assert reply.status == 200
    assert counter.count == 1
    assert reply.body["post_id"] == str(post["post_id"])
    assert reply.headers["etag"] == '"1"'
    assert_no_private_fields(reply.body)


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_by_slug_hides_unpublished_even_from_the_author(people, owner_conn, status):
    # Public route: there is never an identity, claims or not.
    make_post(owner_conn, people.author, slug="not-yet", status=status)
    assert by_slug("not-yet", people.author_claims).status == 404
    assert by_slug("not-yet").status == 404


@pytest.mark.parametrize("slug", ["nope", "x" * 300, "%", "a'b"])
def test_by_slug_unknown_is_404(people, slug):
    assert by_slug(slug).status == 404


# -- GET /posts -------------------------------------------------------------------------
@pytest.fixture()
def feed(people, owner_conn):
    """30 published posts over 3 authors with deliberate published_at ties,
    plus a draft and an archived post that must never be listed."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    authors = [people.author, people.other, people.admin]
    posts = []
    for i in range(30):
        ts = base + timedelta(hours=i // 3)  # three posts share each timestamp
        posts.append(
            make_post(
                owner_conn,
                authors[i % 3],
                title=f"Feed post {i:02d}",
                excerpt=f"excerpt {i:02d}",
                tags=["even" if i % 2 == 0 else "odd", "all"],
                published_at=ts,
                view_count=(i * 7) % 5,
                like_count=i % 4,
                comment_count=i % 3,
            )
        )
    make_post(owner_conn, people.author, status="draft", title="Feed draft", tags=["all"])
    make_post(owner_conn, people.author, status="archived", title="Feed archived", tags=["all"], published_at=base)
    return posts


def expected_feed(posts: list[dict]) -> list[str]:
    return [
        str(p["post_id"]) for p in sorted(posts, key=lambda p: (p["published_at"], str(p["post_id"])), reverse=True)
    ]


def score(p: dict) -> float:
    return p["view_count"] * 0.1 + p["like_count"] * 2 + p["comment_count"] * 3


def test_list_is_published_newest_first_with_authors_in_one_statement(feed, people):
    with StatementCounter() as counter:
        reply = listing({"limit": "100"})
    assert reply.status == 200
    assert counter.count == 1
    ids = [i["post_id"] for i in reply.body["items"]]
    assert ids == expected_feed(feed)
    assert reply.body["next_cursor"] is None
    first = reply.body["items"][0]
    assert set(first) == {
        "post_id",
        "user_id",
        "title",
        "slug",
        "excerpt",
        "featured_image_url",
        "tags",
        "view_count",
        "like_count",
        "comment_count",
        "published_at",
        "author",
    }
    assert first["author"]["user_id"] == first["user_id"]
    assert_no_private_fields(reply.body)


def test_keyset_pages_cover_the_feed_once_across_timestamp_ties(feed):
    # When the client follows next_cursor with pages of 7
    items, pages = walk({"limit": "7"})
    # Then every published post appears exactly once, in order
    assert [i["post_id"] for i in items] == expected_feed(feed)
    assert pages == 5


def test_every_page_is_one_statement(feed):
    first = listing({"limit": "5"})
    with StatementCounter() as counter:
        second = listing({"limit": "5", "cursor": first.body["next_cursor"]})
    assert second.status == 200
    assert counter.count == 1
    assert len(second.body["items"]) == 5


def test_popular_sort_pages_by_score_then_id(feed):
    items, _ = walk({"sort": "popular", "limit": "4"})
    expected = sorted(feed, key=lambda p: (score(p), str(p["post_id"])), reverse=True)
    assert [i["post_id"] for i in items] == [str(p["post_id"]) for p in expected]
    assert [i["score"] for i in items] == pytest.approx([score(p) for p in expected])


def test_a_cursor_of_one_sort_is_refused_by_the_other(feed):
    cursor = listing({"limit": "3"}).body["next_cursor"]
    reply = listing({"sort": "popular", "limit": "3", "cursor": cursor})
    assert reply.status == 400
    assert reply.error_code == "invalid_cursor"


@pytest.mark.parametrize("cursor", ["garbage", "x" * 600, ""])
def test_a_malformed_cursor_is_a_client_error(feed, cursor):
    reply = listing({"cursor": cursor})
    assert reply.status in (400, 422)
    assert reply.status != 500


def test_filter_by_author_and_tag(feed, people):
    items, _ = walk({"author": people.other, "tag": "EVEN", "limit": "3"})
    expected = [p for p in feed if str(p["user_id"]) == people.other and "even" in p["tags"]]
    assert {i["post_id"] for i in items} == {str(p["post_id"]) for p in expected}
    assert len(items) == len(expected) > 0


def test_filter_by_publication_window(feed):
    after = "2026-01-01T03:00:00Z"
    before = "2026-01-01T06:00:00"  # no offset: read as UTC
    items, _ = walk({"published_after": after, "published_before": before})
    lo, hi = datetime(2026, 1, 1, 3, tzinfo=UTC), datetime(2026, 1, 1, 6, tzinfo=UTC)
    assert {i["post_id"] for i in items} == {str(p["post_id"]) for p in feed if lo <= p["published_at"] < hi}
    assert len(items) == 9


def test_search_matches_title_or_excerpt_and_escapes_wildcards(people, owner_conn, db):
    a = make_post(owner_conn, people.author, title="Tuning autovacuum", excerpt="cost limits")
    b = make_post(owner_conn, people.author, title="Other", excerpt="All about AUTOVACUUM workers")
    make_post(owner_conn, people.author, title="100% off", excerpt=None)
    make_post(owner_conn, people.author, title="Unrelated", excerpt="nothing")
    make_post(owner_conn, people.author, title="Autovacuum draft", status="draft")
    found = listing({"q": "autovacuum"}).body["items"]
    assert {i["post_id"] for i in found} == {str(a["post_id"]), str(b["post_id"])}
    # '%' and '_' are literals, not wildcards
    assert [i["title"] for i in listing({"q": "0% o"}).body["items"]] == ["100% off"]
    assert listing({"q": "%"}).body["items"][0]["title"] == "100% off"
    assert len(listing({"q": "%"}).body["items"]) == 1
    assert listing({"q": "_"}).body["items"] == []


def test_field_selection(feed):
    reply = listing({"fields": "title,author,score", "limit": "2"})
    assert reply.status == 200
    for item in reply.body["items"]:
        assert set(item) == {"post_id", "title", "author", "score"}
        assert set(item["author"]) == {"user_id", "username", "first_name", "last_name", "profile_image_url"}


@pytest.mark.parametrize(
    "fields",
    # the last three: what the document's pattern refuses (no name, an empty name), found by fuzzing
    ["title,password_hash", "content", "p.title", "title;DROP TABLE posts", "", "title,,slug", "title,"],
)
def test_unknown_fields_are_refused(feed, fields):
    reply = listing({"fields": fields})
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "fields"


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"sort": "title"},
        {"author": "not-a-uuid"},
        {"published_after": "yesterday"},
        {"q": "x" * 101},
        {"tag": "t" * 31},
    ],
)
def test_invalid_list_parameters_are_422(feed, query):
    reply = listing(query)
    assert reply.status == 422
    assert reply.error_code == "validation_error"


def test_list_is_public_and_ignores_identity(feed, people, owner_conn):
    make_post(owner_conn, people.author, status="draft", title="Mine, unpublished")
    titles = {i["title"] for i in walk({})[0]}
    titles_signed_in = {i["title"] for i in listing({"limit": "100"}, people.author_claims).body["items"]}
    assert "Mine, unpublished" not in titles | titles_signed_in
    assert titles == titles_signed_in


def test_empty_list(db):
    reply = listing()
    assert reply.status == 200
    assert reply.body == {"items": [], "next_cursor": None}


# -- GET /posts/popular --------------------------------------------------------------------
def popular(query: dict[str, str]):
    return call(handler, prepare(load_event("posts/popular.json"), query=query))


def test_popular_ranks_the_window_by_score(people, owner_conn):
    now = datetime.now(UTC)
    hot = make_post(
        owner_conn, people.author, published_at=now - timedelta(days=2), view_count=10, like_count=5, comment_count=1
    )
    warm = make_post(owner_conn, people.other, published_at=now - timedelta(days=5), view_count=100)
    make_post(owner_conn, people.author, published_at=now - timedelta(days=40), like_count=1000)  # outside 30 days
    make_post(owner_conn, people.author, status="draft", like_count=1000)
    with StatementCounter() as counter:
        reply = popular({"days": "30", "limit": "10"})
    assert reply.status == 200
    assert counter.count == 1
    items = reply.body["items"]
    assert [i["post_id"] for i in items] == [str(hot["post_id"]), str(warm["post_id"])]
    assert items[0]["score"] == pytest.approx(10 * 0.1 + 5 * 2 + 1 * 3)
    assert items[1]["score"] == pytest.approx(10.0)
    assert items[0]["author"]["user_id"] == people.author
    assert_no_private_fields(reply.body)
    # a wider window brings the older post in, first
    wide = popular({"days": "60"}).body["items"]
    assert wide[0]["like_count"] == 1000
    assert len(popular({"days": "60", "limit": "1"}).body["items"]) == 1


@pytest.mark.parametrize("query", [{"days": "0"}, {"days": "366"}, {"limit": "0"}, {"limit": "51"}, {"days": "x"}])
def test_popular_bounds(db, query):
    assert popular(query).status == 422


def test_popular_empty(db):
    reply = popular({})
    assert reply.status == 200
    assert reply.body == {"items": []}
