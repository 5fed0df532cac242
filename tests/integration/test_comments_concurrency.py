"""Counters under concurrency.

Every thread stands for a separate Lambda container: it has its own database
connection (`per_thread_connections`) and all threads are released at the
same moment. Threads call the function each route calls (comments_queries),
with the caller's identity, rather than the Lambda comments_handler: Powertools keeps
the current event and route arguments on the resolver *class*
(`BaseRouter.current_event`, `app.context`), correct for one request per
container, but threads in one process would read each other's identity and
path parameters.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import comments_queries as queries
import pytest

from shared.errors import AppError
from shared.idempotency import Created
from shared.identity import Identity
from tests.integration.test_comments_support import active_comments, comment_count, comment_row
from tests.support.api import per_thread_connections
from tests.support.factories import make_comment, make_post, make_user

Work = Callable[[], Any]


def user(sub: Any, *groups: str) -> Identity:
    return Identity(sub=str(sub), email=None, groups=frozenset(groups))


def run_together(work: list[tuple[str, Work]]) -> list[tuple[str, int]]:
    """Run every (label, call) at once, each on its own connection; (label, HTTP status) in order."""
    gate = threading.Barrier(len(work))

    def run(item: tuple[str, Work]) -> tuple[str, int]:
        label, call = item
        gate.wait(timeout=30)
        try:
            result = call()
        except AppError as exc:
            return label, exc.status
        if label == "delete":
            return label, 204
        return label, (201 if result.new else 200) if isinstance(result, Created) else 200

    with per_thread_connections(), ThreadPoolExecutor(max_workers=len(work)) as pool:
        return list(pool.map(run, work))


def test_fifty_concurrent_comments_are_counted_exactly(db, owner_conn):
    # Given a published post and 50 registered users
    post = str(make_post(owner_conn, make_user(owner_conn)["user_id"])["post_id"])
    users = [user(make_user(owner_conn)["user_id"]) for _ in range(50)]
    # When all of them comment at the same moment
    work = [
        ("create", lambda who=who: queries.create_comment(who, post, f"from {who.sub}", None, None)) for who in users
    ]
    outcomes = run_together(work)
    # Then every comment is created, by its own author, and the counter is exactly 50
    assert [status for _, status in outcomes] == [201] * 50
    authors = owner_conn.run("SELECT user_id::text, content FROM comments WHERE post_id = :p", p=post)
    assert sorted(authors) == sorted([who.sub, f"from {who.sub}"] for who in users)
    assert active_comments(owner_conn, post) == 50
    assert comment_count(owner_conn, post) == 50


def test_concurrent_replies_and_retries_with_one_comment_id(db, owner_conn):
    # Given a comment, and one client that retries the same reply ten times at once
    author = make_user(owner_conn)
    post = str(make_post(owner_conn, author["user_id"])["post_id"])
    parent = str(make_comment(owner_conn, post, author["user_id"])["comment_id"])
    who = user(author["user_id"])
    reply_id = "30000000-0000-4000-8000-000000000001"
    work = [("retry", lambda: queries.create_comment(who, post, "once", parent, reply_id)) for _ in range(10)]
    # When the retries race
    statuses = [status for _, status in run_together(work)]
    # Then exactly one created it; the others saw it (200) or were told to retry (409), none duplicated
    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201, 409}
    assert owner_conn.run("SELECT count(*) FROM comments WHERE comment_id = :c", c=reply_id)[0][0] == 1
    assert comment_count(owner_conn, post) == 2 == active_comments(owner_conn, post)


def test_concurrent_likes_and_unlikes_are_counted_exactly(db, owner_conn):
    # Given an active comment and 25 users
    author = make_user(owner_conn)
    post = make_post(owner_conn, author["user_id"])
    cid = str(make_comment(owner_conn, post["post_id"], author["user_id"])["comment_id"])
    users = [user(make_user(owner_conn)["user_id"]) for _ in range(25)]
    # When every user likes twice at the same moment (50 calls)
    likes = [("like", lambda who=who: queries.like_comment(who, cid)) for who in users * 2]
    assert [status for _, status in run_together(likes)] == [200] * 50
    # Then each user counts once
    assert comment_row(owner_conn, cid)["like_count"] == 25
    assert owner_conn.run("SELECT count(*) FROM comment_likes WHERE comment_id = :c", c=cid)[0][0] == 25
    # When the first ten unlike twice while the others like again, all at once
    mixed = [("unlike", lambda who=who: queries.unlike_comment(who, cid)) for who in users[:10] * 2]
    mixed += [("like", lambda who=who: queries.like_comment(who, cid)) for who in users[10:]]
    assert [status for _, status in run_together(mixed)] == [200] * 35
    # Then exactly fifteen likes remain
    assert comment_row(owner_conn, cid)["like_count"] == 15
    assert owner_conn.run("SELECT count(*) FROM comment_likes WHERE comment_id = :c", c=cid)[0][0] == 15


@pytest.mark.parametrize("rounds", [1, 2])
def test_hide_racing_delete_leaves_a_consistent_count(db, owner_conn, rounds):
    # Given 15 active comments and 5 hidden ones on a post
    admin = user(make_user(owner_conn)["user_id"], "admin")
    post = str(make_post(owner_conn, make_user(owner_conn)["user_id"])["post_id"])
    writer = user(make_user(owner_conn)["user_id"])
    active = [str(make_comment(owner_conn, post, writer.sub)["comment_id"]) for _ in range(15)]
    hidden = [str(make_comment(owner_conn, post, writer.sub, status="hidden")["comment_id"]) for _ in range(5)]
    assert comment_count(owner_conn, post) == 15

    # When, at the same moment, a moderator hides each active comment (`rounds` times)
    # while its author deletes it, and unhides each hidden one while its author deletes it
    work: list[tuple[str, Work]] = []
    for cid in active:
        work += [("hide", lambda cid=cid: queries.moderate_comment(cid, "hide"))] * rounds
        work.append(("delete", lambda cid=cid: queries.delete_comment(writer, cid)))
    for cid in hidden:
        work.append(("unhide", lambda cid=cid: queries.moderate_comment(cid, "unhide")))
        work.append(("delete", lambda cid=cid: queries.delete_comment(admin, cid)))
    outcomes = Counter(run_together(work))

    # Then every delete succeeded, and each moderation either ran first (200) or found it deleted (409)
    assert outcomes[("delete", 204)] == 20
    assert set(outcomes) <= {("delete", 204), ("hide", 200), ("hide", 409), ("unhide", 200), ("unhide", 409)}
    # And every comment ended deleted, with the counter equal to what is active: nothing
    states = owner_conn.run("SELECT status, count(*) FROM comments WHERE post_id = :p GROUP BY status", p=post)
    assert {status: n for status, n in states} == {"deleted": 20}
    assert comment_count(owner_conn, post) == 0 == active_comments(owner_conn, post)


def test_hide_racing_unhide_keeps_the_count_equal_to_active_comments(db, owner_conn):
    # Given 10 active comments
    author = make_user(owner_conn)
    post = str(make_post(owner_conn, author["user_id"])["post_id"])
    ids = [str(make_comment(owner_conn, post, author["user_id"])["comment_id"]) for _ in range(10)]
    # When each is hidden and unhidden, twice each, at the same moment
    work = [
        (action, lambda cid=cid, action=action: queries.moderate_comment(cid, action))
        for cid in ids
        for action in ("hide", "unhide", "hide", "unhide")
    ]
    assert {status for _, status in run_together(work)} == {200}
    # Then whatever order won, the counter equals the number of active comments
    assert comment_count(owner_conn, post) == active_comments(owner_conn, post)
