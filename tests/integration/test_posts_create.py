"""POST /posts: validation, slugs, publication date, registration, idempotency."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from posts_app import handler
from tests.conftest import load_event
from tests.support.api import call
from tests.support.events import claims, prepare
from tests.support.factories import make_post, make_user

BODY = {"title": "Hello, World!", "content": "Body text.", "status": "draft"}


@pytest.fixture()
def people(db, owner_conn):
    author = make_user(owner_conn)
    other = make_user(owner_conn)
    return SimpleNamespace(
        author=str(author["user_id"]),
        other=str(other["user_id"]),
        author_claims=claims(str(author["user_id"])),
        other_claims=claims(str(other["user_id"])),
    )


def create(body, who, headers=None):
    return call(handler, prepare(load_event("posts/create.json"), body=body, claims=who, headers=headers))


def count_posts(conn) -> int:
    return conn.run("SELECT count(*) FROM posts")[0][0]


def test_create_returns_201_with_location_etag_and_the_post(people, owner_conn):
    # Given a registered author
    # When they create a published post with mixed-case duplicate tags
    reply = create(
        {
            "title": "  Keyset Pagination: Why & How  ",
            "content": "Seek, don't skip.",
            "excerpt": "Short",
            "status": "published",
            "tags": ["SQL", "sql", " Postgres "],
            "metadata": {"series": {"part": 1}},
            "featured_image_url": "https://img.example.com/a.png",
        },
        people.author_claims,
    )
    # Then the post is stored as the author's, published now, with a derived slug
    assert reply.status == 201, reply.body
    body = reply.body
    assert reply.headers["location"] == f"/posts/{body['post_id']}"
    assert reply.headers["etag"] == '"1"'
    assert body["user_id"] == people.author
    assert body["author"]["user_id"] == people.author
    assert body["title"] == "Keyset Pagination: Why & How"
    assert body["slug"] == "keyset-pagination-why-how"
    assert body["tags"] == ["sql", "postgres"]
    assert body["metadata"] == {"series": {"part": 1}}
    assert body["status"] == "published"
    assert body["published_at"] is not None
    assert body["view_count"] == body["like_count"] == body["comment_count"] == 0
    row = owner_conn.run(
        "SELECT user_id::text, slug, published_at IS NOT NULL, version FROM posts WHERE post_id = :p", p=body["post_id"]
    )
    assert row == [[people.author, "keyset-pagination-why-how", True, 1]]


def test_a_draft_has_no_publication_date_and_defaults(people):
    reply = create({"title": "T", "content": "C"}, people.author_claims)
    assert reply.status == 201
    assert reply.body["status"] == "draft"
    assert reply.body["published_at"] is None
    assert reply.body["tags"] == []
    assert reply.body["metadata"] == {}
    assert reply.body["excerpt"] is None


def test_slug_collision_gets_a_short_suffix(people):
    first = create(BODY, people.author_claims).body["slug"]
    second = create(BODY, people.other_claims).body["slug"]
    assert first == "hello-world"
    assert second.startswith("hello-world-")
    assert len(second) == len("hello-world-") + 6


def test_japanese_title_keeps_its_letters_in_the_slug(people):
    a = create({"title": "管理ユーザーの記事", "content": "本文"}, people.author_claims)
    b = create({"title": "管理ユーザーの記事", "content": "本文"}, people.author_claims)
    assert a.status == b.status == 201
    assert a.body["slug"] == "管理ユーザーの記事"
    assert b.body["slug"].startswith("管理ユーザーの記事-")


def test_a_chosen_slug_that_is_taken_is_a_conflict(people):
    assert create({**BODY, "slug": "mine"}, people.author_claims).status == 201
    reply = create({**BODY, "slug": "mine"}, people.other_claims)
    assert reply.status == 409
    assert reply.body["error"]["details"][0]["field"] == "slug"


def test_client_post_id_makes_create_idempotent(people, owner_conn):
    post_id = str(uuid.uuid4())
    first = create({**BODY, "post_id": post_id}, people.author_claims)
    retry = create({**BODY, "post_id": post_id}, people.author_claims)
    assert (first.status, retry.status) == (201, 200)
    assert retry.body == first.body  # the existing post, unchanged
    assert retry.headers["location"] == f"/posts/{post_id}"
    # the id names that request: another body under it is refused, not silently dropped
    changed = create({**BODY, "post_id": post_id, "title": "Changed on retry"}, people.author_claims)
    assert (changed.status, changed.error_code) == (422, "idempotency_key_reused")
    assert count_posts(owner_conn) == 1
    # another author using the same id is a conflict, not a takeover
    stolen = create({**BODY, "post_id": post_id}, people.other_claims)
    assert stolen.status == 409
    assert stolen.error_code == "duplicate_id"
    assert owner_conn.run("SELECT user_id::text FROM posts WHERE post_id = :p", p=post_id) == [[people.author]]


def test_idempotency_key_header_makes_create_idempotent_per_author(people, owner_conn):
    key = {"Idempotency-Key": "client-request-42"}
    first = create(BODY, people.author_claims, key)
    retry = create(BODY, people.author_claims, key)
    assert (first.status, retry.status) == (201, 200)
    assert retry.body["post_id"] == first.body["post_id"]
    # the same key from another author is another post
    theirs = create(BODY, people.other_claims, key)
    assert theirs.status == 201
    assert theirs.body["post_id"] != first.body["post_id"]
    # a new key, a new post
    assert create(BODY, people.author_claims, {"Idempotency-Key": "client-request-43"}).status == 201
    assert count_posts(owner_conn) == 3


@pytest.mark.parametrize("key", ["", "x" * 201, "caf\u00e9"])
def test_invalid_idempotency_key_is_422(people, key):
    reply = create(BODY, people.author_claims, {"Idempotency-Key": key})
    assert reply.status == 422


def test_create_needs_an_identity(people, owner_conn):
    reply = create(BODY, None)
    assert reply.status == 401
    assert count_posts(owner_conn) == 0


def test_create_needs_a_registered_active_user(people, owner_conn):
    unknown = create(BODY, claims(str(uuid.uuid4())))
    assert unknown.status == 403
    assert "register first" in unknown.body["error"]["message"]
    inactive = make_user(owner_conn, is_active=False)
    assert create(BODY, claims(str(inactive["user_id"]))).status == 403
    assert count_posts(owner_conn) == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"like_count": 5}, "like_count"),
        ({"user_id": "00000000-0000-4000-8000-000000000001"}, "user_id"),
        ({"published_at": "2020-01-01T00:00:00Z"}, "published_at"),
        ({"status": "archived"}, "status"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"content": ""}, "content"),
        ({"excerpt": "x" * 1001}, "excerpt"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"tags": ["x" * 31]}, "tags"),
        ({"tags": [" "]}, "tags"),
        ({"tags": "sql"}, "tags"),
        ({"metadata": {"blob": "x" * 9000}}, "metadata"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"featured_image_url": "ftp://example.com/a.png"}, "featured_image_url"),
        ({"featured_image_url": "javascript:alert(1)"}, "featured_image_url"),
        ({"post_id": "not-a-uuid"}, "post_id"),
    ],
)
def test_invalid_bodies_are_422_and_write_nothing(people, owner_conn, patch, field):
    reply = create({**BODY, **patch}, people.author_claims)
    assert reply.status == 422, reply.body
    assert reply.body["error"]["details"][0]["field"].split(".")[0] == field
    assert count_posts(owner_conn) == 0


def test_missing_fields_and_malformed_json(people):
    missing = create({"content": "no title"}, people.author_claims)
    assert missing.status == 422
    assert missing.body["error"]["details"][0] == {"field": "title", "in": "body", "message": "this field is required"}
    malformed = create('{"title": ', people.author_claims)
    assert malformed.status == 400
    assert malformed.error_code == "malformed_json"


def test_values_are_stored_as_data_never_sql(people, owner_conn):
    nasty = "'); DROP TABLE posts; --"
    reply = create(
        {"title": nasty, "content": nasty, "tags": [nasty[:30]], "metadata": {"k": nasty}}, people.author_claims
    )
    assert reply.status == 201
    assert reply.body["title"] == nasty
    assert reply.body["tags"] == [nasty[:30].lower()]
    assert count_posts(owner_conn) == 1


def test_slug_stays_when_the_title_changes(people, owner_conn):
    created = create(BODY, people.author_claims).body
    patch = prepare(
        load_event("posts/patch.json"),
        path_params={"post_id": created["post_id"]},
        body={"title": "A completely different title"},
        claims=people.author_claims,
    )
    reply = call(handler, patch)
    assert reply.status == 200
    assert reply.body["title"] == "A completely different title"
    assert reply.body["slug"] == created["slug"] == "hello-world"


def test_existing_seeded_slug_is_respected(people, owner_conn):
    make_post(owner_conn, people.other, slug="hello-world")
    reply = create(BODY, people.author_claims)
    assert reply.status == 201
    assert reply.body["slug"] != "hello-world"
    assert reply.body["slug"].startswith("hello-world-")
