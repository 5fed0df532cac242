"""POST /posts/{post_id}/comments, PATCH and DELETE /comments/{comment_id}."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import load_event
from tests.integration import test_comments_support as support
from tests.integration.test_comments_support import comment_count, comment_row, make_comment
from tests.support.api import StatementCounter, call
from tests.support.events import claims, prepare
from tests.support.factories import make_post, make_user

# Fixtures shared by the comments tests.
handler = support.handler
world = support.world

CREATE = load_event("comments/create.json")
UPDATE = load_event("comments/update.json")
DELETE = load_event("comments/delete.json")


def as_user(sub, *groups):
    return claims(str(sub), groups=list(groups) or None)


def create(post_id, body, who):
    return prepare(CREATE, path_params={"post_id": str(post_id)}, body=body, claims=who)


def edit(comment_id, body, who):
    return prepare(UPDATE, path_params={"comment_id": str(comment_id)}, body=body, claims=who)


def delete(comment_id, who):
    return prepare(DELETE, path_params={"comment_id": str(comment_id)}, claims=who)


# -- create ---------------------------------------------------------------------------
def test_create_a_top_level_comment(handler, world, owner_conn):
    # Given a published post with one comment
    assert comment_count(owner_conn, world["post"]) == 1
    # When a registered user comments, in one statement
    with StatementCounter() as counter:
        reply = call(handler, create(world["post"], {"content": "Nice post"}, as_user(world["author"])))
    # Then it is created, named by Location, and counted
    assert reply.status == 201 and counter.count == 1
    body = reply.body
    assert reply.headers["location"] == f"/comments/{body['comment_id']}"
    assert body["content"] == "Nice post" and body["status"] == "active" and body["depth"] == 0
    assert body["parent_comment_id"] is None and body["like_count"] == 0 and body["post_id"] == world["post"]
    assert body["author"]["user_id"] == world["author"]
    assert "email" not in json.dumps(body) and "password" not in json.dumps(body)
    assert comment_count(owner_conn, world["post"]) == 2
    row = comment_row(owner_conn, body["comment_id"])
    assert str(row["user_id"]) == world["author"]
    assert row["thread_key"].endswith(uuid.UUID(body["comment_id"]).bytes)


def test_create_a_reply(handler, world, owner_conn):
    reply = call(
        handler,
        create(world["post"], {"content": "Agreed", "parent_comment_id": world["comment"]}, as_user(world["author"])),
    )
    assert reply.status == 201
    assert reply.body["parent_comment_id"] == world["comment"] and reply.body["depth"] == 1
    parent = comment_row(owner_conn, world["comment"])
    child = comment_row(owner_conn, reply.body["comment_id"])
    assert child["thread_key"].startswith(parent["thread_key"])
    assert comment_count(owner_conn, world["post"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": " \n\t "}, "content"),
        ({"content": "x" * 10_001}, "content"),
        ({"content": "nul\x00byte"}, "content"),
        ({"content": 42}, "content"),
        ({}, "content"),
        ({"content": "hi", "user_id": str(uuid.uuid4())}, "user_id"),
        ({"content": "hi", "status": "hidden"}, "status"),
        ({"content": "hi", "parent_comment_id": "not-a-uuid"}, "parent_comment_id"),
        ({"content": "hi", "comment_id": "123"}, "comment_id"),
    ],
)
def test_create_rejects_invalid_bodies(handler, world, owner_conn, body, field):
    reply = call(handler, create(world["post"], body, as_user(world["author"])))
    assert reply.status == 422 and reply.error_code == "validation_error"
    assert field in [d["field"] for d in reply.body["error"]["details"]]
    assert comment_count(owner_conn, world["post"]) == 1


def test_create_accepts_the_longest_content(handler, world):
    reply = call(handler, create(world["post"], {"content": "é" * 10_000}, as_user(world["author"])))
    assert reply.status == 201 and len(reply.body["content"]) == 10_000


def test_create_with_malformed_json_is_400(handler, world):
    reply = call(handler, create(world["post"], '{"content": ', as_user(world["author"])))
    assert reply.status == 400 and reply.error_code == "malformed_json"


def test_create_replies_only_to_active_comments_of_the_same_post(handler, world, owner_conn):
    other_post = make_post(owner_conn, world["author"])
    elsewhere = make_comment(owner_conn, other_post["post_id"], world["reader"])
    hidden = make_comment(owner_conn, world["post"], world["reader"], status="hidden")
    deleted = make_comment(owner_conn, world["post"], world["reader"], status="deleted")
    cases = {
        str(elsewhere["comment_id"]): "another post",
        str(hidden["comment_id"]): "hidden",
        str(deleted["comment_id"]): "deleted",
        str(uuid.uuid4()): "no such comment",
    }
    for parent, words in cases.items():
        body = {"content": "reply", "parent_comment_id": parent}
        reply = call(handler, create(world["post"], body, as_user(world["author"])))
        assert reply.status == 422, parent
        detail = reply.body["error"]["details"][0]
        assert detail["field"] == "parent_comment_id" and words in detail["message"]
    assert comment_count(owner_conn, world["post"]) == 1


def test_replies_nest_at_most_ten_levels(handler, world, owner_conn):
    # Given a chain of comments at depths 0..9
    parent = world["comment"]
    for _ in range(9):
        parent = str(make_comment(owner_conn, world["post"], world["reader"], parent=parent)["comment_id"])
    assert comment_row(owner_conn, parent)["depth"] == 9
    # When someone replies to the deepest one
    reply = call(
        handler, create(world["post"], {"content": "deeper", "parent_comment_id": parent}, as_user(world["author"]))
    )
    # Then it is refused with a clear reason
    assert reply.status == 422
    assert "10 levels" in reply.body["error"]["details"][0]["message"]
    # And a reply one level higher is still fine
    one_up = comment_row(owner_conn, parent)["parent_comment_id"]
    ok = call(
        handler, create(world["post"], {"content": "ok", "parent_comment_id": str(one_up)}, as_user(world["author"]))
    )
    assert ok.status == 201 and ok.body["depth"] == 9


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_create_on_a_post_that_is_not_published_is_404(handler, world, owner_conn, status):
    post = make_post(owner_conn, world["author"], status=status)
    reply = call(handler, create(post["post_id"], {"content": "hi"}, as_user(world["reader"])))
    assert reply.status == 404
    assert comment_count(owner_conn, post["post_id"]) == 0


@pytest.mark.parametrize("post_id", [str(uuid.uuid4()), "nope"])
def test_create_on_an_unknown_post_is_404(handler, world, post_id):
    assert call(handler, create(post_id, {"content": "hi"}, as_user(world["reader"]))).status == 404


def test_create_authorization(handler, world, owner_conn):
    # Anonymous: 401
    assert call(handler, create(world["post"], {"content": "hi"}, None)).status == 401
    # A verified token whose user never registered: 403, "register first"
    stranger = call(handler, create(world["post"], {"content": "hi"}, as_user(uuid.uuid4())))
    assert stranger.status == 403 and "register first" in stranger.body["error"]["message"]
    # A deactivated user: 403
    inactive = make_user(owner_conn, is_active=False)
    assert call(handler, create(world["post"], {"content": "hi"}, as_user(inactive["user_id"]))).status == 403
    # An administrator comments like anyone else
    assert call(handler, create(world["post"], {"content": "hi"}, as_user(world["admin"], "admin"))).status == 201
    assert comment_count(owner_conn, world["post"]) == 2


def test_a_retried_create_with_the_same_comment_id_does_not_duplicate(handler, world, owner_conn):
    comment_id = str(uuid.uuid4())
    body = {"content": "once", "comment_id": comment_id}
    first = call(handler, create(world["post"], body, as_user(world["author"])))
    again = call(handler, create(world["post"], body, as_user(world["author"])))
    assert first.status == 201 and again.status == 200
    assert again.body == first.body and again.headers["location"] == f"/comments/{comment_id}"
    assert comment_count(owner_conn, world["post"]) == 2
    # The same id from someone else, or on another post, is a conflict
    other = call(handler, create(world["post"], body, as_user(world["reader"])))
    assert other.status == 409 and other.body["error"]["details"][0]["field"] == "comment_id"
    other_post = make_post(owner_conn, world["author"])
    assert call(handler, create(other_post["post_id"], body, as_user(world["author"]))).status == 409
    assert comment_count(owner_conn, world["post"]) == 2


# -- edit -----------------------------------------------------------------------------
def test_the_author_edits_the_text(handler, world, owner_conn):
    before = comment_row(owner_conn, world["comment"])
    with StatementCounter() as counter:
        reply = call(handler, edit(world["comment"], {"content": "second thoughts"}, as_user(world["reader"])))
    assert reply.status == 200 and counter.count == 1
    assert reply.body["content"] == "second thoughts" and reply.body["comment_id"] == world["comment"]
    after = comment_row(owner_conn, world["comment"])
    assert after["content"] == "second thoughts" and after["updated_at"] > before["updated_at"]


def test_edit_authorization(handler, world, owner_conn):
    body = {"content": "rewritten"}
    assert call(handler, edit(world["comment"], body, None)).status == 401
    assert call(handler, edit(world["comment"], body, as_user(world["author"]))).status == 403
    # Not even administrators edit someone else's words
    admin = call(handler, edit(world["comment"], body, as_user(world["admin"], "admin")))
    assert admin.status == 403
    assert comment_row(owner_conn, world["comment"])["content"] == "first!"


@pytest.mark.parametrize("status", ["hidden", "deleted"])
def test_hidden_and_deleted_comments_cannot_be_edited(handler, world, owner_conn, status):
    comment = make_comment(owner_conn, world["post"], world["reader"], status=status, content="original")
    reply = call(handler, edit(comment["comment_id"], {"content": "changed"}, as_user(world["reader"])))
    assert reply.status == 409 and reply.error_code == "comment_not_editable"
    assert status in reply.body["error"]["message"]
    assert comment_row(owner_conn, comment["comment_id"])["content"] == "original"


@pytest.mark.parametrize(
    "body", [{"content": "x", "status": "active"}, {"content": ""}, {"content": "   "}, {"content": "x" * 10_001}, {}]
)
def test_edit_rejects_invalid_bodies(handler, world, owner_conn, body):
    reply = call(handler, edit(world["comment"], body, as_user(world["reader"])))
    assert reply.status == 422
    assert comment_row(owner_conn, world["comment"])["content"] == "first!"


@pytest.mark.parametrize("comment_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_edit_unknown_comment_is_404(handler, world, comment_id):
    assert call(handler, edit(comment_id, {"content": "x"}, as_user(world["reader"]))).status == 404


# -- delete ---------------------------------------------------------------------------
def test_the_author_deletes_idempotently(handler, world, owner_conn):
    with StatementCounter() as counter:
        first = call(handler, delete(world["comment"], as_user(world["reader"])))
    assert first.status == 204 and first.body in (None, "") and counter.count == 1
    row = comment_row(owner_conn, world["comment"])
    # The text stays in the table for moderation; the count drops once
    assert row["status"] == "deleted" and row["content"] == "first!"
    assert comment_count(owner_conn, world["post"]) == 0
    again = call(handler, delete(world["comment"], as_user(world["reader"])))
    assert again.status == 204 and comment_count(owner_conn, world["post"]) == 0


def test_an_administrator_deletes_any_comment(handler, world, owner_conn):
    assert call(handler, delete(world["comment"], as_user(world["admin"], "admin"))).status == 204
    assert comment_row(owner_conn, world["comment"])["status"] == "deleted"
    assert comment_count(owner_conn, world["post"]) == 0


def test_delete_authorization(handler, world, owner_conn):
    assert call(handler, delete(world["comment"], None)).status == 401
    # The post's author is not the comment's author
    assert call(handler, delete(world["comment"], as_user(world["author"]))).status == 403
    assert comment_row(owner_conn, world["comment"])["status"] == "active"
    assert comment_count(owner_conn, world["post"]) == 1


def test_deleting_a_hidden_comment_leaves_the_count_alone(handler, world, owner_conn):
    hidden = make_comment(owner_conn, world["post"], world["reader"], status="hidden")
    assert call(handler, delete(hidden["comment_id"], as_user(world["reader"]))).status == 204
    assert comment_row(owner_conn, hidden["comment_id"])["status"] == "deleted"
    assert comment_count(owner_conn, world["post"]) == 1


def test_a_deleted_comment_with_replies_stays_as_a_placeholder(handler, world, owner_conn):
    child = make_comment(owner_conn, world["post"], world["author"], parent=world["comment"])
    assert call(handler, delete(world["comment"], as_user(world["reader"]))).status == 204
    listed = call(handler, prepare(load_event("comments/list.json"), path_params={"post_id": world["post"]}))
    assert [i["comment_id"] for i in listed.body["items"]] == [world["comment"], str(child["comment_id"])]
    assert listed.body["items"][0]["content"] is None and listed.body["items"][0]["author"] is None


@pytest.mark.parametrize("comment_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_delete_unknown_comment_is_404(handler, world, comment_id):
    assert call(handler, delete(comment_id, as_user(world["reader"]))).status == 404


def test_a_deactivated_author_cannot_edit_their_comments(handler, world, owner_conn):
    # Given the reader's account is deactivated after they commented
    owner_conn.run("UPDATE users SET is_active = false WHERE user_id = :u", u=world["reader"])
    # When they edit their comment
    reply = call(handler, edit(world["comment"], {"content": "SPAM edited after ban"}, as_user(world["reader"])))
    # Then it is refused and the comment is unchanged
    assert (reply.status, reply.error_code) == (403, "account_inactive")
    assert comment_row(owner_conn, world["comment"])["content"] == "first!"
