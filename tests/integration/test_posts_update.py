"""PATCH /posts/{id} and DELETE /posts/{id}: who may edit, what may change,
optimistic concurrency with ETag/If-Match, and archiving instead of deleting."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from posts_app import handler
from testing.events import claims, load_event, prepare
from tests.support.api import StatementCounter, call
from tests.support.factories import make_post, make_user


@pytest.fixture()
def people(db, owner_conn):
    author = make_user(owner_conn)
    other = make_user(owner_conn)
    admin = make_user(owner_conn)
    return SimpleNamespace(
        author=str(author["user_id"]),
        author_claims=claims(str(author["user_id"])),
        other_claims=claims(str(other["user_id"])),
        admin_claims=claims(str(admin["user_id"]), groups=["admin"]),
    )


def patch(post_id: str, body, who, if_match: str | None = None):
    headers = {"If-Match": if_match} if if_match is not None else None
    event = prepare(
        load_event("posts/patch.json"), path_params={"post_id": post_id}, body=body, claims=who, headers=headers
    )
    return call(handler, event)


def delete(post_id: str, who, if_match: str | None = None):
    headers = {"If-Match": if_match} if if_match is not None else None
    event = prepare(load_event("posts/delete.json"), path_params={"post_id": post_id}, claims=who, headers=headers)
    return call(handler, event)


def get(post_id: str, who):
    return call(handler, prepare(load_event("posts/get.json"), path_params={"post_id": post_id}, claims=who))


def get_mine(post_id: str, who):
    return call(handler, prepare(load_event("posts/get_mine_draft.json"), path_params={"post_id": post_id}, claims=who))


def row(conn, post_id: str) -> dict:
    rows = conn.run(
        "SELECT title, content, excerpt, status, tags, metadata, version, published_at, updated_at, slug "
        "FROM posts WHERE post_id = :p",
        p=post_id,
    )
    names = [c["name"] for c in conn.columns]
    return dict(zip(names, rows[0], strict=True))


@pytest.fixture()
def post(people, owner_conn):
    return str(
        make_post(
            owner_conn, people.author, excerpt="old excerpt", tags=["a"], featured_image_url="https://x.io/i.png"
        )["post_id"]
    )


# -- PATCH --------------------------------------------------------------------------------
def test_author_edits_and_gets_a_new_etag_in_one_statement(people, owner_conn, post):
    before = row(owner_conn, post)
    with StatementCounter() as counter:
        reply = patch(post, {"title": "New title", "tags": ["B", "b", "c"], "metadata": {"x": 1}}, people.author_claims)
    assert reply.status == 200, reply.body
    assert counter.count == 1
    assert reply.headers["etag"] == '"2"'
    assert reply.body["title"] == "New title"
    assert reply.body["tags"] == ["b", "c"]
    assert reply.body["excerpt"] == "old excerpt"  # untouched
    after = row(owner_conn, post)
    assert after["version"] == 2
    assert after["metadata"] == {"x": 1}
    assert after["slug"] == before["slug"]
    assert after["updated_at"] > before["updated_at"]


def test_null_clears_the_optional_fields(people, post):
    reply = patch(post, {"excerpt": None, "featured_image_url": None}, people.author_claims)
    assert reply.status == 200
    assert reply.body["excerpt"] is None
    assert reply.body["featured_image_url"] is None


@pytest.mark.parametrize("field", ["title", "content", "status", "tags", "metadata"])
def test_null_is_refused_for_required_fields(people, post, field):
    assert patch(post, {field: None}, people.author_claims).status == 422


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "00000000-0000-4000-8000-000000000001"},
        {"like_count": 1000},
        {"view_count": 1},
        {"comment_count": 1},
        {"published_at": "2020-01-01T00:00:00Z"},
        {"slug": "new-slug"},
        {"post_id": "10000000-0000-4000-8000-000000000009"},
        {"status": "archived"},
        {"title": "ok", "version": 9},
        {},
    ],
)
def test_forbidden_unknown_or_empty_patches_are_422_and_change_nothing(people, owner_conn, post, body):
    before = row(owner_conn, post)
    reply = patch(post, body, people.author_claims)
    assert reply.status == 422, reply.body
    assert row(owner_conn, post) == before


def test_publishing_sets_published_at_once(people, owner_conn):
    draft = str(make_post(owner_conn, people.author, status="draft")["post_id"])
    published = patch(draft, {"status": "published"}, people.author_claims)
    assert published.status == 200
    first = row(owner_conn, draft)["published_at"]
    assert first is not None
    # unpublish and publish again: the original date stays
    assert patch(draft, {"status": "draft"}, people.author_claims).status == 200
    assert row(owner_conn, draft)["published_at"] == first
    assert patch(draft, {"status": "published"}, people.author_claims).status == 200
    assert row(owner_conn, draft)["published_at"] == first


def test_admin_may_edit_others_posts(people, post):
    reply = patch(post, {"title": "Moderated"}, people.admin_claims)
    assert reply.status == 200
    assert reply.body["title"] == "Moderated"
    assert reply.body["user_id"] == people.author  # still the author's post


def test_other_users_cannot_edit(people, owner_conn, post):
    before = row(owner_conn, post)
    reply = patch(post, {"title": "Hijacked"}, people.other_claims)
    assert reply.status == 403
    assert reply.error_code == "forbidden"
    draft = str(make_post(owner_conn, people.author, status="draft")["post_id"])
    assert patch(draft, {"title": "Hijacked"}, people.other_claims).status == 404  # drafts stay invisible
    assert row(owner_conn, post) == before


def test_patch_needs_an_identity(people, owner_conn, post):
    before = row(owner_conn, post)
    assert patch(post, {"title": "x"}, None).status == 401
    assert row(owner_conn, post) == before


@pytest.mark.parametrize("post_id", ["10000000-0000-4000-8000-0000000000ff", "nope"])
def test_patch_unknown_post_is_404(people, post_id):
    assert patch(post_id, {"title": "x"}, people.author_claims).status == 404


def test_if_match_current_etag_succeeds_stale_etag_is_412(people, owner_conn, post):
    etag = get(post, people.author_claims).headers["etag"]
    ok = patch(post, {"title": "First"}, people.author_claims, if_match=etag)
    assert ok.status == 200
    before = row(owner_conn, post)
    stale = patch(post, {"title": "Second"}, people.author_claims, if_match=etag)
    assert stale.status == 412
    assert stale.error_code == "precondition_failed"
    assert row(owner_conn, post) == before
    # the new ETag works among several tags; a weak one never matches (strong comparison,
    # RFC 9110 §13.1.1); * means any version
    weak = patch(post, {"title": "Weak"}, people.author_claims, if_match=f"W/{ok.headers['etag']}")
    assert weak.status == 412
    assert patch(post, {"title": "Third"}, people.author_claims, if_match=f'"77", {ok.headers["etag"]}').status == 200
    assert patch(post, {"title": "Fourth"}, people.author_claims, if_match="*").status == 200
    assert patch(post, {"title": "Fifth"}, people.author_claims, if_match="garbage").status == 412


def test_counters_do_not_change_the_etag(people, owner_conn, post):
    # Given a client that read the post
    etag = get(post, people.other_claims).headers["etag"]
    updated_at = row(owner_conn, post)["updated_at"]
    # When it gets viewed, liked and commented on
    views = prepare(load_event("posts/views.json"), path_params={"post_id": post})
    like = prepare(load_event("posts/like.json"), path_params={"post_id": post}, claims=people.other_claims)
    assert call(handler, views).status == 200
    assert call(handler, like).status == 200
    owner_conn.run("UPDATE posts SET comment_count = comment_count + 1 WHERE post_id = :p", p=post)
    # Then the ETag and the edit time are unchanged and the author's If-Match still holds
    again = get(post, people.other_claims)
    assert again.headers["etag"] == etag
    assert again.body["like_count"] == 1
    assert row(owner_conn, post)["updated_at"] == updated_at
    assert patch(post, {"title": "Still mine"}, people.author_claims, if_match=etag).status == 200


def test_archived_posts_cannot_be_edited(people, owner_conn):
    archived = str(make_post(owner_conn, people.author, status="archived", published_at=datetime.now(UTC))["post_id"])
    reply = patch(archived, {"title": "Back"}, people.author_claims)
    assert reply.status == 409
    assert reply.error_code == "post_archived"
    assert patch(archived, {"status": "published"}, people.admin_claims).status == 409


# -- DELETE -------------------------------------------------------------------------------
def test_delete_archives_and_keeps_the_row(people, owner_conn, post):
    with StatementCounter() as counter:
        reply = delete(post, people.author_claims)
    assert reply.status == 204
    assert counter.count == 1
    assert reply.body in (None, "")
    state = row(owner_conn, post)
    assert state["status"] == "archived"
    assert state["version"] == 2
    # repeating it is harmless; the author still sees it, others no longer do
    assert delete(post, people.author_claims).status == 204
    assert row(owner_conn, post)["version"] == 2
    assert get_mine(post, people.author_claims).body["status"] == "archived"
    assert get(post, people.other_claims).status == 404


def test_delete_authorization(people, owner_conn, post):
    assert delete(post, None).status == 401
    assert delete(post, people.other_claims).status == 403
    draft = str(make_post(owner_conn, people.author, status="draft")["post_id"])
    assert delete(draft, people.other_claims).status == 404
    assert row(owner_conn, post)["status"] == "published"
    assert row(owner_conn, draft)["status"] == "draft"
    assert delete(post, people.admin_claims).status == 204
    assert row(owner_conn, post)["status"] == "archived"


def test_delete_unknown_is_404(people):
    assert delete("10000000-0000-4000-8000-0000000000ff", people.author_claims).status == 404
    assert delete("not-a-uuid", people.author_claims).status == 404


def test_delete_with_stale_if_match_is_412(people, owner_conn, post):
    assert patch(post, {"title": "v2"}, people.author_claims).status == 200
    assert delete(post, people.author_claims, if_match='"1"').status == 412
    assert row(owner_conn, post)["status"] == "published"
    assert delete(post, people.author_claims, if_match='"2"').status == 204


def test_a_deactivated_account_creates_and_likes_nothing_and_is_told_why(people, owner_conn, post):
    """Registered but deactivated is `account_inactive`, as for comments; `not_registered` is for
    an account that does not exist (it told a deactivated user to register)."""
    # Given a published post and the author's account deactivated
    owner_conn.run("UPDATE posts SET status = 'published', published_at = now() WHERE post_id = :p", p=post)
    owner_conn.run("UPDATE users SET is_active = false WHERE user_id = :u", u=people.author)
    counts = owner_conn.run("SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM post_likes)")
    # When the account creates a post and likes one
    created = call(handler, prepare(load_event("posts/create.json"), claims=people.author_claims))
    liked = call(
        handler, prepare(load_event("posts/like.json"), path_params={"post_id": post}, claims=people.author_claims)
    )
    # Then both are refused as an inactive account, and nothing is stored
    assert (created.status, created.error_code) == (403, "account_inactive"), created.body
    assert (liked.status, liked.error_code) == (403, "account_inactive"), liked.body
    assert owner_conn.run("SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM post_likes)") == counts


def test_a_deactivated_author_edits_and_publishes_nothing(people, owner_conn, post):
    """A deactivated (banned) account creates nothing; it cannot publish or rewrite what it
    wrote either. An administrator still can."""
    # Given the author's account is deactivated (DELETE /users/{id})
    owner_conn.run("UPDATE users SET is_active = false WHERE user_id = :u", u=people.author)
    before = row(owner_conn, post)
    # When the author patches their draft into a published post
    reply = patch(post, {"content": "SPAM http://evil.example", "status": "published"}, people.author_claims)
    # Then it is refused and nothing changes
    assert (reply.status, reply.error_code) == (403, "account_inactive")
    assert row(owner_conn, post) == before
    # While an administrator may still edit it (moderation)
    assert patch(post, {"title": "Moderated"}, people.admin_claims).status == 200
