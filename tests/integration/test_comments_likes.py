"""PUT and DELETE /comments/{comment_id}/like."""

from __future__ import annotations

import uuid

import pytest

from testing.events import claims, load_event, prepare
from tests.integration.test_comments_support import comment_count, comment_row
from tests.support.api import StatementCounter, call
from tests.support.factories import make_comment, make_post, make_user

# Fixtures shared by the comments tests.

LIKE = load_event("comments/like.json")
UNLIKE = load_event("comments/unlike.json")


def like(comment_id, who):
    return prepare(LIKE, path_params={"comment_id": str(comment_id)}, claims=who)


def unlike(comment_id, who):
    return prepare(UNLIKE, path_params={"comment_id": str(comment_id)}, claims=who)


def likes_in_table(conn, comment_id) -> int:
    return int(conn.run("SELECT count(*) FROM comment_likes WHERE comment_id = :c", c=str(comment_id))[0][0])


def test_likes_are_idempotent_per_user_and_counted_exactly(comments_handler, world, owner_conn):
    c = world["comment"]
    before = comment_row(owner_conn, c)["updated_at"]
    # When a user likes twice, each in one statement
    for _ in range(2):
        with StatementCounter() as counter:
            reply = call(comments_handler, like(c, claims(world["author"])))
        # Then one like counts
        assert reply.status == 200 and counter.count == 1
        assert reply.body == {"liked": True, "like_count": 1}
    # A second user's like counts too
    assert call(comments_handler, like(c, claims(world["admin"], groups=["admin"]))).body == {
        "liked": True,
        "like_count": 2,
    }
    assert comment_row(owner_conn, c)["like_count"] == 2 == likes_in_table(owner_conn, c)
    # Unliking twice removes one like
    for _ in range(2):
        with StatementCounter() as counter:
            reply = call(comments_handler, unlike(c, claims(world["author"])))
        assert reply.status == 200 and counter.count == 1
        assert reply.body == {"liked": False, "like_count": 1}
    assert comment_row(owner_conn, c)["like_count"] == 1 == likes_in_table(owner_conn, c)
    # A like is not an edit
    assert comment_row(owner_conn, c)["updated_at"] == before


def test_the_author_may_like_their_own_comment(comments_handler, world):
    assert call(comments_handler, like(world["comment"], claims(world["reader"]))).body["like_count"] == 1


@pytest.mark.parametrize("status", ["hidden", "deleted"])
def test_only_active_comments_can_be_liked(comments_handler, world, owner_conn, status):
    comment = make_comment(owner_conn, world["post"], world["reader"], status=status)
    reply = call(comments_handler, like(comment["comment_id"], claims(world["author"])))
    assert reply.status == 409 and reply.error_code == "comment_not_active"
    assert likes_in_table(owner_conn, comment["comment_id"]) == 0
    assert comment_row(owner_conn, comment["comment_id"])["like_count"] == 0


def test_comments_of_unpublished_posts_cannot_be_liked(comments_handler, world, owner_conn):
    post = make_post(owner_conn, world["author"], status="archived")
    comment = make_comment(owner_conn, post["post_id"], world["reader"])
    assert call(comments_handler, like(comment["comment_id"], claims(world["author"]))).status == 404
    assert likes_in_table(owner_conn, comment["comment_id"]) == 0


def test_a_like_can_be_withdrawn_after_the_comment_was_hidden(comments_handler, world, owner_conn):
    assert call(comments_handler, like(world["comment"], claims(world["author"]))).status == 200
    owner_conn.run("UPDATE comments SET status = 'hidden' WHERE comment_id = :c", c=world["comment"])
    reply = call(comments_handler, unlike(world["comment"], claims(world["author"])))
    assert reply.status == 200 and reply.body == {"liked": False, "like_count": 0}


def test_like_authorization(comments_handler, world, owner_conn):
    assert call(comments_handler, like(world["comment"], None)).status == 401
    assert call(comments_handler, unlike(world["comment"], None)).status == 401
    stranger = call(comments_handler, like(world["comment"], claims(str(uuid.uuid4()))))
    assert stranger.status == 403 and stranger.error_code == "not_registered"
    inactive = make_user(owner_conn, is_active=False)
    assert call(comments_handler, like(world["comment"], claims(str(inactive["user_id"])))).status == 403
    assert likes_in_table(owner_conn, world["comment"]) == 0


@pytest.mark.parametrize("comment_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_liking_unknown_comments_is_404(comments_handler, world, comment_id):
    assert call(comments_handler, like(comment_id, claims(world["author"]))).status == 404
    assert call(comments_handler, unlike(comment_id, claims(world["author"]))).status == 404


def test_cascades_keep_counters_exact(comments_handler, world, owner_conn):
    """Rows removed by a cascade (a user deleted outside this API) leave the counters exact."""
    # Given a user who liked a comment and wrote another one
    fan = make_user(owner_conn)
    assert call(comments_handler, like(world["comment"], claims(str(fan["user_id"])))).body["like_count"] == 1
    make_comment(owner_conn, world["post"], fan["user_id"])
    assert comment_count(owner_conn, world["post"]) == 2
    # When the user row is deleted
    owner_conn.run("DELETE FROM users WHERE user_id = :u", u=str(fan["user_id"]))
    # Then the like and the comment no longer count
    assert comment_row(owner_conn, world["comment"])["like_count"] == 0
    assert comment_count(owner_conn, world["post"]) == 1
