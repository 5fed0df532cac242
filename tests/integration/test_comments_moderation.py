"""Moderation: GET /admin/posts/{post_id}/comments, POST /comments/{id}/hide and /unhide."""

from __future__ import annotations

import uuid

import pytest
from comments_queries import PUBLIC_KIND, thread_kind

from shared.pagination import encode_cursor
from testing.events import claims, load_event, prepare
from tests.integration.test_comments_support import active_comments, comment_count, comment_row
from tests.support.api import StatementCounter, call
from tests.support.factories import make_comment, make_post

# Fixtures shared by the comments tests.

MODERATION = load_event("comments/list_moderation.json")
PUBLIC = load_event("comments/list.json")
HIDE = load_event("comments/hide.json")
UNHIDE = load_event("comments/unhide.json")


def admin_of(world):
    return claims(world["admin"], groups=["admin"])


def moderation(post_id, who, **query):
    return prepare(MODERATION, path_params={"post_id": str(post_id)}, claims=who, query=query or None)


def public_ids(comments_handler, post_id):
    reply = call(comments_handler, prepare(PUBLIC, path_params={"post_id": str(post_id)}, query={}))
    return [i["comment_id"] for i in reply.body["items"]]


def hide(comment_id, who):
    return prepare(HIDE, path_params={"comment_id": str(comment_id)}, claims=who)


def unhide(comment_id, who):
    return prepare(UNHIDE, path_params={"comment_id": str(comment_id)}, claims=who)


# -- moderation view ------------------------------------------------------------------
def test_moderators_see_every_comment_with_its_status(comments_handler, world, owner_conn):
    # Given a hidden comment with an active reply, and a deleted one
    hidden = make_comment(owner_conn, world["post"], world["author"], status="hidden", content="spam")
    under = make_comment(owner_conn, world["post"], world["reader"], parent=hidden["comment_id"], content="re: spam")
    deleted = make_comment(owner_conn, world["post"], world["reader"], status="deleted", content="oops")
    # When an administrator reads the moderation view, in one statement
    with StatementCounter() as counter:
        reply = call(comments_handler, moderation(world["post"], admin_of(world)))
    # Then everything is there in thread order, hidden text included, deleted text never
    assert reply.status == 200 and counter.count == 1
    items = {i["comment_id"]: i for i in reply.body["items"]}
    assert list(items) == [
        world["comment"],
        str(hidden["comment_id"]),
        str(under["comment_id"]),
        str(deleted["comment_id"]),
    ]
    assert items[str(hidden["comment_id"])]["status"] == "hidden"
    assert items[str(hidden["comment_id"])]["content"] == "spam"
    assert items[str(under["comment_id"])]["depth"] == 1
    assert items[str(deleted["comment_id"])]["content"] is None
    assert items[str(deleted["comment_id"])]["author"]["user_id"] == world["reader"]
    # While the public thread shows only the first comment
    assert public_ids(comments_handler, world["post"]) == [world["comment"]]


def test_moderation_view_pages(comments_handler, world, owner_conn):
    for _ in range(4):
        make_comment(owner_conn, world["post"], world["reader"], status="hidden")
    seen, cursor = [], None
    while True:
        reply = call(
            comments_handler,
            moderation(world["post"], admin_of(world), limit="2", **({"cursor": cursor} if cursor else {})),
        )
        assert reply.status == 200
        seen += [i["comment_id"] for i in reply.body["items"]]
        cursor = reply.body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    # A public cursor is not a moderation cursor
    public_cursor = encode_cursor(thread_kind(PUBLIC_KIND, str(world["post"])), [world["comment"]])
    assert call(comments_handler, moderation(world["post"], admin_of(world), cursor=public_cursor)).status == 400


def test_moderation_view_authorization(comments_handler, world):
    assert call(comments_handler, moderation(world["post"], None)).status == 401
    assert call(comments_handler, moderation(world["post"], claims(world["reader"]))).status == 403
    # The post's author is no moderator either
    assert call(comments_handler, moderation(world["post"], claims(world["author"]))).status == 403
    assert call(comments_handler, moderation(world["post"], claims(world["author"], groups=["editors"]))).status == 403


def test_moderation_view_covers_posts_that_are_not_published(comments_handler, world, owner_conn):
    draft = make_post(owner_conn, world["author"], status="archived")
    comment = make_comment(owner_conn, draft["post_id"], world["reader"])
    reply = call(comments_handler, moderation(draft["post_id"], admin_of(world)))
    assert reply.status == 200 and [i["comment_id"] for i in reply.body["items"]] == [str(comment["comment_id"])]


@pytest.mark.parametrize("post_id", [str(uuid.uuid4()), "x"])
def test_moderation_view_of_unknown_post_is_404(comments_handler, world, post_id):
    assert call(comments_handler, moderation(post_id, admin_of(world))).status == 404


def test_moderation_view_validates_limit(comments_handler, world):
    assert call(comments_handler, moderation(world["post"], admin_of(world), limit="101")).status == 422


# -- hide / unhide --------------------------------------------------------------------
def test_hide_and_unhide_keep_the_count_exact_and_are_idempotent(comments_handler, world, owner_conn):
    reply_row = make_comment(owner_conn, world["post"], world["author"], parent=world["comment"])
    assert comment_count(owner_conn, world["post"]) == 2
    # When an administrator hides the top comment (in one statement)
    with StatementCounter() as counter:
        hidden = call(comments_handler, hide(world["comment"], admin_of(world)))
    # Then it is hidden, returned with its text, and no longer counted
    assert hidden.status == 200 and counter.count == 1
    assert hidden.body["status"] == "hidden" and hidden.body["content"] == "first!"
    assert comment_count(owner_conn, world["post"]) == 1 == active_comments(owner_conn, world["post"])
    # And its whole subtree leaves the public thread
    assert public_ids(comments_handler, world["post"]) == []
    # Hiding again changes nothing
    again = call(comments_handler, hide(world["comment"], admin_of(world)))
    assert again.status == 200 and again.body["status"] == "hidden"
    assert comment_count(owner_conn, world["post"]) == 1
    # Unhide restores it, once
    for _ in range(2):
        shown = call(comments_handler, unhide(world["comment"], admin_of(world)))
        assert shown.status == 200 and shown.body["status"] == "active"
        assert comment_count(owner_conn, world["post"]) == 2
    assert public_ids(comments_handler, world["post"]) == [world["comment"], str(reply_row["comment_id"])]


def test_hiding_bumps_updated_at(comments_handler, world, owner_conn):
    before = comment_row(owner_conn, world["comment"])["updated_at"]
    call(comments_handler, hide(world["comment"], admin_of(world)))
    assert comment_row(owner_conn, world["comment"])["updated_at"] > before


@pytest.mark.parametrize("action", [hide, unhide])
def test_deleted_comments_are_not_moderated(comments_handler, world, owner_conn, action):
    deleted = make_comment(owner_conn, world["post"], world["reader"], status="deleted")
    reply = call(comments_handler, action(deleted["comment_id"], admin_of(world)))
    assert reply.status == 409 and reply.error_code == "comment_deleted"
    assert comment_row(owner_conn, deleted["comment_id"])["status"] == "deleted"
    assert comment_count(owner_conn, world["post"]) == 1


@pytest.mark.parametrize("action", [hide, unhide])
def test_moderation_authorization(comments_handler, world, owner_conn, action):
    hidden = make_comment(owner_conn, world["post"], world["reader"], status="hidden")
    for target in (world["comment"], hidden["comment_id"]):
        assert call(comments_handler, action(target, None)).status == 401
        # Neither the comment's author nor the post's author moderates
        assert call(comments_handler, action(target, claims(world["reader"]))).status == 403
        assert call(comments_handler, action(target, claims(world["author"]))).status == 403
    assert comment_row(owner_conn, world["comment"])["status"] == "active"
    assert comment_row(owner_conn, hidden["comment_id"])["status"] == "hidden"
    assert comment_count(owner_conn, world["post"]) == 1


@pytest.mark.parametrize("comment_id", [str(uuid.uuid4()), "1"])
@pytest.mark.parametrize("action", [hide, unhide])
def test_moderating_unknown_comments_is_404(comments_handler, world, action, comment_id):
    assert call(comments_handler, action(comment_id, admin_of(world))).status == 404
