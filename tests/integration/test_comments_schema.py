"""Migration 0005: thread keys (trigger and backfill), guards, privileges, index use."""

from __future__ import annotations

import json
import uuid

import comments_queries as queries
import pytest
from pg8000.exceptions import DatabaseError

from devstack import provision
from shared import migrations
from tests.conftest import MIGRATIONS
from tests.integration.test_comments_support import comment_row
from tests.support.factories import make_comment, make_post, make_user

SEGMENT = 24  # bytes of one level of a thread key


def sqlstate(exc: DatabaseError) -> tuple[str, str]:
    info = exc.args[0]
    return info.get("C", ""), info.get("n", "")


def test_direct_inserts_get_their_thread_key_and_depth(db, owner_conn):
    # Given a comment and a reply written with plain SQL (like the dev seed does)
    user = make_user(owner_conn)
    post = make_post(owner_conn, user["user_id"])
    top = make_comment(owner_conn, post["post_id"], user["user_id"], created_at="2026-01-01T00:00:00.000001Z")
    reply = make_comment(owner_conn, post["post_id"], user["user_id"], parent=top["comment_id"])
    # Then the trigger filled both: 8 bytes of microseconds then the id, per level
    micros = 1767225600 * 1_000_000 + 1
    assert top["depth"] == 0
    assert top["thread_key"] == micros.to_bytes(8, "big") + uuid.UUID(str(top["comment_id"])).bytes
    assert reply["depth"] == 1 and len(reply["thread_key"]) == 2 * SEGMENT
    assert reply["thread_key"][:SEGMENT] == top["thread_key"]
    assert reply["thread_key"][SEGMENT:].endswith(uuid.UUID(str(reply["comment_id"])).bytes)


def test_the_trigger_refuses_replies_across_posts_and_too_deep(db, owner_conn):
    user = make_user(owner_conn)
    post = make_post(owner_conn, user["user_id"])
    other = make_post(owner_conn, user["user_id"])
    top = make_comment(owner_conn, post["post_id"], user["user_id"])
    with pytest.raises(DatabaseError) as crossed:
        make_comment(owner_conn, other["post_id"], user["user_id"], parent=top["comment_id"])
    assert sqlstate(crossed.value) == ("23514", "comments_parent_same_post")
    parent = top
    for _ in range(9):
        parent = make_comment(owner_conn, post["post_id"], user["user_id"], parent=parent["comment_id"])
    assert parent["depth"] == 9
    with pytest.raises(DatabaseError) as deep:
        make_comment(owner_conn, post["post_id"], user["user_id"], parent=parent["comment_id"])
    assert sqlstate(deep.value) == ("23514", "comments_depth_limit")


def test_a_comment_cannot_move(db, owner_conn):
    user = make_user(owner_conn)
    post = make_post(owner_conn, user["user_id"])
    a = make_comment(owner_conn, post["post_id"], user["user_id"])
    b = make_comment(owner_conn, post["post_id"], user["user_id"])
    with pytest.raises(DatabaseError) as moved:
        owner_conn.run(
            "UPDATE comments SET parent_comment_id = :a WHERE comment_id = :b",
            a=str(a["comment_id"]),
            b=str(b["comment_id"]),
        )
    assert sqlstate(moved.value) == ("23514", "comments_thread_position_fixed")
    # Other columns still change freely
    owner_conn.run("UPDATE comments SET content = 'edited' WHERE comment_id = :b", b=str(b["comment_id"]))
    assert comment_row(owner_conn, b["comment_id"])["content"] == "edited"


def test_the_app_role_uses_comment_likes_with_dml_only(db, owner_conn):
    user = make_user(owner_conn)
    post = make_post(owner_conn, user["user_id"])
    comment = make_comment(owner_conn, post["post_id"], user["user_id"])
    app = db.connect(provision.APP)
    try:
        app.run(
            "INSERT INTO comment_likes (comment_id, user_id) VALUES (:c, :u)",
            c=str(comment["comment_id"]),
            u=str(user["user_id"]),
        )
        assert app.run("SELECT count(*) FROM comment_likes")[0][0] == 1
        app.run("DELETE FROM comment_likes WHERE comment_id = :c", c=str(comment["comment_id"]))
        assert app.row_count == 1
        with pytest.raises(DatabaseError) as denied:
            app.run("TRUNCATE comment_likes")
        assert sqlstate(denied.value)[0] == "42501"
    finally:
        app.close()


@pytest.fixture()
def scratch_owner(scratch_database):
    """The owner of an empty, unmigrated database."""
    conn = scratch_database.connect(provision.OWNER)
    try:
        yield conn
    finally:
        conn.close()


def test_cascades_run_as_the_app_role(db, owner_conn):
    """Deleting a user or a post (other functions do) cascades through comments
    and likes; the recount triggers run with the app role's privileges."""
    author, fan = make_user(owner_conn), make_user(owner_conn)
    post = make_post(owner_conn, author["user_id"])
    other_post = make_post(owner_conn, author["user_id"])
    top = make_comment(owner_conn, post["post_id"], author["user_id"], like_count=1)
    make_comment(owner_conn, post["post_id"], fan["user_id"], parent=top["comment_id"])
    kept = make_comment(owner_conn, other_post["post_id"], author["user_id"], like_count=1)
    owner_conn.run(
        "INSERT INTO comment_likes (comment_id, user_id) VALUES (:a, :f), (:b, :f)",
        a=str(top["comment_id"]),
        b=str(kept["comment_id"]),
        f=str(fan["user_id"]),
    )
    app = db.connect(provision.APP)
    try:
        app.run("DELETE FROM posts WHERE post_id = :p", p=str(post["post_id"]))
        app.run("DELETE FROM users WHERE user_id = :u", u=str(fan["user_id"]))
    finally:
        app.close()
    assert owner_conn.run("SELECT count(*) FROM comments WHERE post_id = :p", p=str(post["post_id"]))[0][0] == 0
    assert comment_row(owner_conn, kept["comment_id"])["like_count"] == 0
    assert owner_conn.run("SELECT count(*) FROM comment_likes")[0][0] == 0


def test_backfill_of_comments_that_predate_the_migration(scratch_owner):
    # Given a database migrated up to 0004 with comments already in it
    owner = scratch_owner
    known = [m for m in migrations.load(MIGRATIONS) if m.version <= 5]
    migrations.apply(owner, [m for m in known if m.version < 5], log=lambda *_: None)
    owner.run(
        """
        INSERT INTO users (user_id, email, username, password_hash)
        VALUES ('00000000-0000-4000-8000-0000000000a1', 'a@example.com', 'a', 'x');
        INSERT INTO posts (post_id, user_id, title, content, slug, status, published_at)
        SELECT p::uuid, '00000000-0000-4000-8000-0000000000a1', 't', 'c', p, 'published', now()
        FROM unnest(ARRAY['10000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-0000000000a2']) p;
        INSERT INTO comments (comment_id, post_id, parent_comment_id, content, created_at, user_id, updated_at)
        SELECT c::uuid, p::uuid, parent::uuid, 'text', at::timestamptz,
               '00000000-0000-4000-8000-0000000000a1', '2026-01-02T00:00:00Z'
        FROM (VALUES
            ('20000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-0000000000a1', NULL,
             '2026-01-01T00:00:00Z'),
            ('20000000-0000-4000-8000-0000000000a2', '10000000-0000-4000-8000-0000000000a1',
             '20000000-0000-4000-8000-0000000000a1', '2026-01-01T00:01:00Z'),
            ('20000000-0000-4000-8000-0000000000a3', '10000000-0000-4000-8000-0000000000a1',
             '20000000-0000-4000-8000-0000000000a2', '2026-01-01T00:02:00Z'),
            -- a reply whose parent is in another post (the original schema allowed it)
            ('20000000-0000-4000-8000-0000000000a4', '10000000-0000-4000-8000-0000000000a2',
             '20000000-0000-4000-8000-0000000000a1', '2026-01-01T00:03:00Z')
        ) AS v (c, p, parent, at);
        """
    )
    # When 0005 is applied
    done = migrations.apply(owner, known, log=lambda *_: None)
    assert [m.version for m in done] == [5]
    rows = owner.run(
        "SELECT comment_id::text, depth, length(thread_key), updated_at = '2026-01-02T00:00:00Z' "
        "FROM comments ORDER BY post_id, thread_key"
    )
    # Then every row has its key: the chain nests, the cross-post reply starts its own thread,
    # and updated_at was left alone
    assert [(r[0][-2:], r[1], r[2]) for r in rows] == [
        ("a1", 0, SEGMENT), ("a2", 1, 2 * SEGMENT), ("a3", 2, 3 * SEGMENT), ("a4", 0, SEGMENT),
    ]  # fmt: skip
    assert all(r[3] is True for r in rows)


def _plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def test_a_thread_page_is_an_index_range_scan(db, owner_conn):
    # Given a post with 20,000 comments (replies included) among other posts' comments
    user = make_user(owner_conn)
    post = str(make_post(owner_conn, user["user_id"])["post_id"])
    other = str(make_post(owner_conn, user["user_id"])["post_id"])
    owner_conn.run(
        """
        INSERT INTO comments (post_id, user_id, content, created_at)
        SELECT CASE WHEN g % 4 = 0 THEN CAST(:other AS uuid) ELSE CAST(:post AS uuid) END, :user, 'c' || g,
               now() - g * interval '1 second'
        FROM generate_series(1, 20000) g
        """,
        post=post,
        other=other,
        user=str(user["user_id"]),
    )
    owner_conn.run(
        """
        INSERT INTO comments (post_id, user_id, parent_comment_id, content, status)
        SELECT post_id, user_id, comment_id, 'reply', CASE WHEN random() < 0.05 THEN 'hidden' ELSE 'active' END
        FROM comments WHERE post_id = :post
        """,
        post=post,
    )
    owner_conn.run("ANALYZE comments")
    # When a page deep in the thread is planned
    after = owner_conn.run(
        "SELECT comment_id::text FROM comments WHERE post_id = :p ORDER BY thread_key OFFSET 15000 LIMIT 1", p=post
    )[0][0]
    for sql in (queries.SQL.public_thread, queries.SQL.moderation_thread):
        raw = owner_conn.run("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, post_id=post, after_id=after, limit=20)[0][0]
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        nodes = _plan_nodes(plan)
        # Then it seeks in the thread index and reads about one page of rows, no table scan
        scans = [n for n in nodes if n.get("Relation Name") == "comments" and n["Node Type"] != "ModifyTable"]
        assert not [n for n in scans if n["Node Type"] == "Seq Scan"]
        thread_scans = [n for n in scans if n.get("Index Name") == "idx_comments_post_thread" and n.get("Alias") == "c"]
        assert len(thread_scans) == 1
        assert thread_scans[0]["Actual Rows"] <= 30
