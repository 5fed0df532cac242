"""Views and likes (PUT/DELETE /posts/{id}/like, POST /posts/{id}/views), and the
admin transfer (POST /posts/{id}/transfer) with its all-or-nothing transaction."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import posts_queries
import pytest

from posts_app import handler
from tests.conftest import load_event
from tests.support.api import StatementCounter, call
from tests.support.events import as_viewer, claims, prepare
from tests.support.factories import make_post, make_user


@pytest.fixture()
def people(db, owner_conn):
    author = make_user(owner_conn)
    other = make_user(owner_conn)
    admin = make_user(owner_conn)
    return SimpleNamespace(
        author=str(author["user_id"]),
        other=str(other["user_id"]),
        admin=str(admin["user_id"]),
        author_claims=claims(str(author["user_id"])),
        other_claims=claims(str(other["user_id"])),
        admin_claims=claims(str(admin["user_id"]), groups=["admin"]),
    )


@pytest.fixture()
def post(people, owner_conn):
    return str(make_post(owner_conn, people.author)["post_id"])


def view(post_id: str, who=None, *, source_ip: str | None = None, user_agent: str | None = None):
    """A view from a new reader, or from the reader with this source IP and user agent."""
    event = prepare(load_event("posts/views.json"), path_params={"post_id": post_id}, claims=who)
    return call(handler, as_viewer(event, source_ip, user_agent))


def like(post_id: str, who):
    return call(handler, prepare(load_event("posts/like.json"), path_params={"post_id": post_id}, claims=who))


def unlike(post_id: str, who):
    return call(handler, prepare(load_event("posts/unlike.json"), path_params={"post_id": post_id}, claims=who))


def transfer(post_id: str, new_author_id: str, who):
    event = prepare(
        load_event("posts/transfer.json"),
        path_params={"post_id": post_id},
        body={"new_author_id": new_author_id},
        claims=who,
    )
    return call(handler, event)


def likes_state(conn, post_id: str) -> tuple[int, int]:
    count = conn.run("SELECT like_count FROM posts WHERE post_id = :p", p=post_id)[0][0]
    rows = conn.run("SELECT count(*) FROM post_likes WHERE post_id = :p", p=post_id)[0][0]
    return count, rows


# -- views --------------------------------------------------------------------------------
def test_views_count_one_by_one_in_one_statement(post):
    with StatementCounter() as counter:
        first = view(post)
    assert first.status == 200
    assert counter.count == 1
    assert first.body == {"view_count": 1}
    assert view(post).body == {"view_count": 2}


def test_a_readers_repeated_views_count_once_per_window(post, owner_conn):
    # Given a reader whose view counted
    assert view(post, source_ip="198.51.100.7", user_agent="Reader/1.0").body == {"view_count": 1}
    # When the same reader sends it again, and again
    again = [view(post, source_ip="198.51.100.7", user_agent="Reader/1.0") for _ in range(5)]
    # Then each answers the unchanged count
    assert [r.body for r in again] == [{"view_count": 1}] * 5
    # And so does the same address with another user agent or forged X-Forwarded-For (the
    # client chooses both), an IPv4-mapped spelling of it, or another host of its IPv6 /64
    assert view(post, source_ip="198.51.100.7", user_agent="Other/2.0").body == {"view_count": 1}
    assert view(post, source_ip="::ffff:198.51.100.7", user_agent="Reader/1.0").body == {"view_count": 1}
    assert view(post, source_ip="2001:db8:1:2::10").body == {"view_count": 2}
    assert view(post, source_ip="2001:db8:1:2:aaaa::99").body == {"view_count": 2}
    # While another address counts
    assert view(post, source_ip="198.51.100.8", user_agent="Reader/1.0").body == {"view_count": 3}
    assert view(post, source_ip="2001:db8:1:3::10").body == {"view_count": 4}
    # And once the window has passed, the first reader counts again
    owner_conn.run("UPDATE post_view_marks SET counted_at = now() - interval '61 minutes' WHERE post_id = :p", p=post)
    assert view(post, source_ip="198.51.100.7", user_agent="Reader/1.0").body == {"view_count": 5}


def test_the_mark_stores_a_digest_not_the_address(post, owner_conn):
    view(post, source_ip="198.51.100.9", user_agent="Reader/1.0")
    marks = owner_conn.run("SELECT viewer FROM post_view_marks WHERE post_id = :p", p=post)
    assert len(marks) == 1 and len(marks[0][0]) == 32
    assert b"198.51.100.9" not in marks[0][0]


def test_expired_marks_are_swept_by_later_views(people, owner_conn):
    # Given 10 marks older than the window on one post
    old_post = str(make_post(owner_conn, people.author)["post_id"])
    for n in range(10):
        view(old_post, source_ip=f"198.51.100.{n}")
    owner_conn.run("UPDATE post_view_marks SET counted_at = now() - interval '2 hours' WHERE post_id = :p", p=old_post)
    # When other posts get viewed
    fresh = str(make_post(owner_conn, people.author)["post_id"])
    for _ in range(3):
        view(fresh)
    # Then each view swept up to 4 expired marks
    left = owner_conn.run("SELECT count(*) FROM post_view_marks WHERE post_id = :p", p=old_post)[0][0]
    assert left <= 10 - 3 * 4 + 4 and left < 10


def test_a_repeated_view_of_a_draft_is_still_404(people, owner_conn):
    draft = str(make_post(owner_conn, people.author, status="draft")["post_id"])
    assert [view(draft, source_ip="198.51.100.1", user_agent="R").status for _ in range(2)] == [404, 404]
    assert owner_conn.run("SELECT count(*) FROM post_view_marks WHERE post_id = :p", p=draft) == [[0]]


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_views_only_on_published_posts(people, owner_conn, status):
    pid = str(make_post(owner_conn, people.author, status=status)["post_id"])
    assert view(pid, people.author_claims).status == 404
    assert owner_conn.run("SELECT view_count FROM posts WHERE post_id = :p", p=pid) == [[0]]


@pytest.mark.parametrize("post_id", ["10000000-0000-4000-8000-0000000000ff", "x"])
def test_views_unknown_post_is_404(db, post_id):
    assert view(post_id).status == 404


# -- likes --------------------------------------------------------------------------------
def test_like_is_idempotent_and_exact(people, owner_conn, post):
    with StatementCounter() as counter:
        first = like(post, people.other_claims)
    assert counter.count == 1
    assert first.status == 200
    assert first.body == {"liked": True, "like_count": 1}
    assert like(post, people.other_claims).body == {"liked": True, "like_count": 1}
    assert like(post, people.author_claims).body == {"liked": True, "like_count": 2}
    assert likes_state(owner_conn, post) == (2, 2)
    assert unlike(post, people.other_claims).body == {"liked": False, "like_count": 1}
    assert unlike(post, people.other_claims).body == {"liked": False, "like_count": 1}
    assert likes_state(owner_conn, post) == (1, 1)


def test_like_does_not_touch_version_or_updated_at(people, owner_conn, post):
    before = owner_conn.run("SELECT version, updated_at FROM posts WHERE post_id = :p", p=post)
    assert like(post, people.other_claims).status == 200
    assert owner_conn.run("SELECT version, updated_at FROM posts WHERE post_id = :p", p=post) == before


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_only_published_posts_can_be_liked(people, owner_conn, status):
    pid = str(make_post(owner_conn, people.author, status=status)["post_id"])
    assert like(pid, people.author_claims).status == 404
    assert unlike(pid, people.author_claims).status == 404
    assert likes_state(owner_conn, pid) == (0, 0)


def test_like_authorization(people, owner_conn, post):
    assert like(post, None).status == 401
    assert unlike(post, None).status == 401
    stranger = like(post, claims(str(uuid.uuid4())))
    assert stranger.status == 403
    assert stranger.error_code == "not_registered"
    assert likes_state(owner_conn, post) == (0, 0)


def test_like_unknown_post_is_404(people):
    assert like("10000000-0000-4000-8000-0000000000ff", people.other_claims).status == 404
    assert like("bad", people.other_claims).status == 404


# -- transfer -----------------------------------------------------------------------------
def author_of(conn, post_id: str) -> tuple[str, int]:
    r = conn.run("SELECT user_id::text, version FROM posts WHERE post_id = :p", p=post_id)[0]
    return r[0], r[1]


def transfers(conn, post_id: str) -> list[list]:
    return conn.run(
        "SELECT from_user_id::text, to_user_id::text, transferred_by::text FROM post_transfers WHERE post_id = :p",
        p=post_id,
    )


def test_admin_transfers_a_post_and_it_is_recorded(people, owner_conn, post):
    reply = transfer(post, people.other, people.admin_claims)
    assert reply.status == 200, reply.body
    assert reply.body["user_id"] == people.other
    assert reply.body["author"]["user_id"] == people.other
    assert reply.headers["etag"] == '"2"'
    assert author_of(owner_conn, post) == (people.other, 2)
    assert transfers(owner_conn, post) == [[people.author, people.other, people.admin]]
    # the new author may now edit it, the old one may not
    edit = prepare(
        load_event("posts/patch.json"),
        path_params={"post_id": post},
        body={"title": "Mine now"},
        claims=people.other_claims,
    )
    assert call(handler, edit).status == 200
    edit_old = prepare(edit, claims=people.author_claims)
    assert call(handler, edit_old).status == 403


def test_transfer_to_the_current_author_is_a_harmless_no_op(people, owner_conn, post):
    reply = transfer(post, people.author, people.admin_claims)
    assert reply.status == 200
    assert author_of(owner_conn, post) == (people.author, 1)
    assert transfers(owner_conn, post) == []


def test_transfer_is_for_admins_only(people, owner_conn, post):
    assert transfer(post, people.other, None).status == 401
    assert transfer(post, people.other, people.author_claims).status == 403
    assert transfer(post, people.other, people.other_claims).status == 403
    assert author_of(owner_conn, post) == (people.author, 1)


def test_transfer_unknown_post_or_user_is_404(people, owner_conn, post):
    missing_post = transfer("10000000-0000-4000-8000-0000000000ff", people.other, people.admin_claims)
    assert missing_post.status == 404
    assert missing_post.body["error"]["message"] == "post not found"
    missing_user = transfer(post, str(uuid.uuid4()), people.admin_claims)
    assert missing_user.status == 404
    assert missing_user.body["error"]["message"] == "user not found"
    assert author_of(owner_conn, post) == (people.author, 1)


def test_transfer_to_an_inactive_user_is_refused(people, owner_conn, post):
    inactive = str(make_user(owner_conn, is_active=False)["user_id"])
    reply = transfer(post, inactive, people.admin_claims)
    assert reply.status == 422
    assert author_of(owner_conn, post) == (people.author, 1)


@pytest.mark.parametrize(
    "body", [{}, {"new_author_id": "nope"}, {"new_author_id": None}, {"new_author_id": "x", "y": 1}]
)
def test_transfer_body_is_validated(people, post, body):
    event = prepare(
        load_event("posts/transfer.json"), path_params={"post_id": post}, body=body, claims=people.admin_claims
    )
    assert call(handler, event).status == 422


def test_a_failure_after_the_first_statement_leaves_nothing_half_done(people, owner_conn, post, monkeypatch):
    # Given the audit insert (statement 2) fails in the database, after the move ran
    monkeypatch.setattr(
        posts_queries,
        "RECORD_TRANSFER",
        "INSERT INTO post_transfers (post_id, from_user_id, to_user_id, transferred_by) "
        "VALUES (CAST(:post_id AS uuid), CAST(:from_user_id AS uuid), CAST(:from_user_id AS uuid), "
        "CAST(:transferred_by AS uuid))",  # from = to violates post_transfers_other_author
    )
    # When an admin transfers the post
    reply = transfer(post, people.other, people.admin_claims)
    # Then the request fails and the post still belongs to its old author, unchanged
    assert reply.status == 422
    assert author_of(owner_conn, post) == (people.author, 1)
    assert transfers(owner_conn, post) == []
    # and the connection is usable again (rolled back, not stuck in a failed transaction)
    monkeypatch.undo()
    assert transfer(post, people.other, people.admin_claims).status == 200
    assert author_of(owner_conn, post) == (people.other, 2)
