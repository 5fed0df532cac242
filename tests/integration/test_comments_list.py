"""GET /posts/{post_id}/comments: the public thread."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from comments_queries import MODERATION_KIND, PUBLIC_KIND, thread_kind

from shared.pagination import encode_cursor
from testing.events import claims, load_event, prepare
from tests.support.api import StatementCounter, call
from tests.support.factories import make_comment, make_post, make_user

# Fixtures shared by the comments tests.

SAMPLE = load_event("comments/list.json")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def list_event(post_id, **query):
    return prepare(SAMPLE, path_params={"post_id": str(post_id)}, query={k: str(v) for k, v in query.items()})


def ids(body) -> list[str]:
    return [item["comment_id"] for item in body["items"]]


@pytest.fixture()
def thread(db, owner_conn):
    """Given a post whose comments were written in this order (minutes):
    A(0) B(1) A1(2, reply to A) A2(3, reply to A) A1a(4, reply to A1) B1(5, reply to B)."""
    author = make_user(owner_conn)
    readers = [make_user(owner_conn) for _ in range(3)]
    post = make_post(owner_conn, author["user_id"])
    p, u = post["post_id"], [r["user_id"] for r in readers]
    a = make_comment(owner_conn, p, u[0], created_at=at(0), content="A")
    b = make_comment(owner_conn, p, u[1], created_at=at(1), content="B")
    a1 = make_comment(owner_conn, p, u[2], parent=a["comment_id"], created_at=at(2), content="A1")
    a2 = make_comment(owner_conn, p, u[0], parent=a["comment_id"], created_at=at(3), content="A2")
    a1a = make_comment(owner_conn, p, u[1], parent=a1["comment_id"], created_at=at(4), content="A1a")
    b1 = make_comment(owner_conn, p, u[2], parent=b["comment_id"], created_at=at(5), content="B1")
    rows = {"A": a, "B": b, "A1": a1, "A2": a2, "A1a": a1a, "B1": b1}
    return {"post": str(p), "rows": {k: str(v["comment_id"]) for k, v in rows.items()}, "users": u}


def test_thread_order_is_depth_first_with_siblings_oldest_first(comments_handler, thread):
    # When the thread is read in one page
    reply = call(comments_handler, list_event(thread["post"]))
    # Then replies follow their parent, depth-first
    assert reply.status == 200
    r = thread["rows"]
    assert ids(reply.body) == [r["A"], r["A1"], r["A1a"], r["A2"], r["B"], r["B1"]]
    assert [i["depth"] for i in reply.body["items"]] == [0, 1, 2, 1, 0, 1]
    assert [i["parent_comment_id"] for i in reply.body["items"]] == [None, r["A"], r["A1"], r["A"], None, r["B"]]
    assert reply.body["next_cursor"] is None


def test_items_embed_a_public_author_summary_only(comments_handler, thread):
    reply = call(comments_handler, list_event(thread["post"]))
    item = reply.body["items"][0]
    assert set(item) == {
        "comment_id", "post_id", "parent_comment_id", "depth", "status", "content",
        "author", "like_count", "created_at", "updated_at",
    }  # fmt: skip
    assert item["status"] == "active" and item["content"] == "A" and item["post_id"] == thread["post"]
    assert set(item["author"]) == {"user_id", "username", "first_name", "last_name", "profile_image_url"}
    assert item["author"]["user_id"] == str(thread["users"][0])
    assert datetime.fromisoformat(item["created_at"]) == at(0)


def test_pages_follow_thread_order_in_one_statement_each(comments_handler, thread):
    # When the thread is read two comments at a time
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        with StatementCounter() as counter:
            reply = call(comments_handler, list_event(thread["post"], **query))
        # Then every page is one statement (post check, cursor, page, authors, JSON)
        assert reply.status == 200 and counter.count == 1
        assert len(reply.body["items"]) <= 2
        seen += ids(reply.body)
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    # And the pages together are the whole thread, in order, without repeats
    r = thread["rows"]
    assert seen == [r["A"], r["A1"], r["A1a"], r["A2"], r["B"], r["B1"]]
    assert pages == 3


def test_an_exact_last_page_has_no_next_cursor(comments_handler, thread):
    first = call(comments_handler, list_event(thread["post"], limit=3))
    assert first.body["next_cursor"] is not None
    second = call(comments_handler, list_event(thread["post"], limit=3, cursor=first.body["next_cursor"]))
    assert len(second.body["items"]) == 3 and second.body["next_cursor"] is None


def test_hidden_subtrees_are_left_out_and_deleted_comments_are_placeholders_only_above_listed_replies(
    comments_handler, db, owner_conn
):
    # Given a thread with every kind of moderated comment
    author = make_user(owner_conn)
    u = make_user(owner_conn)["user_id"]
    p = make_post(owner_conn, author["user_id"])["post_id"]

    def c(name, minute, parent=None, status="active"):
        return str(
            make_comment(owner_conn, p, u, parent=parent, status=status, created_at=at(minute), content=name)[
                "comment_id"
            ]
        )

    hidden = c("H", 0, status="hidden")
    c("H-reply", 1, parent=hidden)  # active, but under a hidden comment
    deleted = c("D", 2, status="deleted")
    d_reply = c("D-reply", 3, parent=deleted)
    c("D-lonely", 4, status="deleted")  # no replies
    d_hidden_only = c("D-hidden-only", 5, status="deleted")
    c("hidden reply", 6, parent=d_hidden_only, status="hidden")
    d_outer = c("D-outer", 7, status="deleted")
    d_inner = c("D-inner", 8, parent=d_outer, status="deleted")
    deep = c("deep", 9, parent=d_inner)
    d_over_hidden = c("D-over-hidden", 10, status="deleted")
    h_mid = c("H-mid", 11, parent=d_over_hidden, status="hidden")
    c("under H-mid", 12, parent=h_mid)
    visible = c("visible", 13)

    # When the public thread is read
    reply = call(comments_handler, list_event(p))

    # Then hidden subtrees are absent, and deleted comments show only as placeholders above listed replies
    assert reply.status == 200
    assert ids(reply.body) == [deleted, d_reply, d_outer, d_inner, deep, visible]
    by_id = {i["comment_id"]: i for i in reply.body["items"]}
    for placeholder in (deleted, d_outer, d_inner):
        item = by_id[placeholder]
        assert item["status"] == "deleted" and item["content"] is None and item["author"] is None
    assert by_id[d_reply]["content"] == "D-reply" and by_id[d_reply]["author"]["user_id"] == str(u)
    assert all(i["status"] in ("active", "deleted") for i in reply.body["items"])
    # And paging one at a time through the same thread gives the same result
    seen, cursor = [], None
    while True:
        page = call(comments_handler, list_event(p, limit=1, **({"cursor": cursor} if cursor else {})))
        seen += ids(page.body)
        cursor = page.body["next_cursor"]
        if not cursor:
            break
    assert seen == ids(reply.body)


def test_a_caller_with_a_token_sees_the_public_thread_too(comments_handler, world, owner_conn):
    # Given a hidden comment
    hidden = make_comment(owner_conn, world["post"], world["reader"], status="hidden")
    # When an administrator's token reaches the public route (it has no authorizer in AWS)
    event = prepare(list_event(world["post"]), claims=claims(world["admin"], groups=["admin"]))
    reply = call(comments_handler, event)
    # Then the answer is the public thread: identity is never read there
    assert reply.status == 200
    assert str(hidden["comment_id"]) not in ids(reply.body)
    assert ids(reply.body) == [world["comment"]]


def test_an_empty_thread(comments_handler, db, owner_conn):
    post = make_post(owner_conn, make_user(owner_conn)["user_id"])
    reply = call(comments_handler, list_event(post["post_id"]))
    assert reply.status == 200 and reply.body == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_posts_that_are_not_published_have_no_public_thread(comments_handler, db, owner_conn, status):
    user = make_user(owner_conn)
    post = make_post(owner_conn, user["user_id"], status=status)
    make_comment(owner_conn, post["post_id"], user["user_id"])
    reply = call(comments_handler, list_event(post["post_id"]))
    assert reply.status == 404 and reply.error_code == "not_found"


@pytest.mark.parametrize("post_id", [str(uuid.uuid4()), "not-a-uuid", "10000000-0000-4000-8000-00000000000Z"])
def test_unknown_or_malformed_post_ids_are_not_found(comments_handler, db, post_id):
    reply = call(comments_handler, list_event(post_id))
    assert reply.status == 404 and reply.error_code == "not_found"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_limit_out_of_range_is_422(comments_handler, world, limit):
    reply = call(comments_handler, list_event(world["post"], limit=limit))
    assert reply.status == 422 and reply.error_code == "validation_error"
    assert reply.body["error"]["details"][0]["field"] == "limit"


def test_limit_bounds_are_accepted(comments_handler, world):
    for limit in ("1", "100"):
        assert call(comments_handler, list_event(world["post"], limit=limit)).status == 200


def test_invalid_cursors_are_400(comments_handler, thread, owner_conn):
    other = make_post(owner_conn, make_user(owner_conn)["user_id"])
    other_comment = make_comment(owner_conn, other["post_id"], thread["users"][0])
    post, other_post = str(thread["post"]), str(other["post_id"])
    cursors = [
        "garbage",
        encode_cursor(thread_kind(MODERATION_KIND, post), [thread["rows"]["A"]]),  # another list's cursor
        encode_cursor(thread_kind(PUBLIC_KIND, other_post), [thread["rows"]["A"]]),  # another post's thread
        encode_cursor(thread_kind(PUBLIC_KIND, post), [str(other_comment["comment_id"])]),  # another post's comment
        encode_cursor(thread_kind(PUBLIC_KIND, post), [str(uuid.uuid4())]),  # a comment that does not exist
        encode_cursor(thread_kind(PUBLIC_KIND, post), ["not-a-uuid"]),
        "x" * 600,
    ]
    for cursor in cursors:
        reply = call(comments_handler, list_event(thread["post"], cursor=cursor))
        assert reply.status in (400, 422), cursor
        if reply.status == 400:
            assert reply.error_code == "invalid_cursor"
    # A cursor over 512 characters is refused by validation already
    assert call(comments_handler, list_event(thread["post"], cursor="x" * 600)).status == 422
    assert call(comments_handler, list_event(thread["post"], cursor="garbage")).status == 400
