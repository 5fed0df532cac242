"""GET /posts/popular from the precomputed per-day ranking (sql/migrations/0012), against the
full-window sort it replaces, on real PostgreSQL: same answer, same ties, and the documented
freshness bound (membership and scores of complete days as of the last refresh; newer posts live)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import posts_queries
import pytest

from posts_app import handler
from shared.db import get_database
from tests.conftest import load_event
from tests.support.api import call
from tests.support.events import prepare
from tests.support.factories import make_post, make_user

# The query this ranking replaced: every published post of the window, sorted.
FULL_WINDOW = (
    "SELECT p.post_id::text AS post_id, "
    + posts_queries.SCORE
    + " AS score FROM posts p WHERE p.status = 'published' AND p.published_at >= now() - make_interval(days => :days)"
    " ORDER BY score DESC, p.post_id DESC LIMIT :limit"
)


def popular(days: int, limit: int) -> list[tuple[str, float]]:
    reply = call(handler, prepare(load_event("posts/popular.json"), query={"days": str(days), "limit": str(limit)}))
    assert reply.status == 200, reply.body
    return [(i["post_id"], float(i["score"])) for i in reply.body["items"]]


def full_window(owner_conn, days: int, limit: int) -> list[tuple[str, float]]:
    return [(r[0], float(r[1])) for r in owner_conn.run(FULL_WINDOW, days=days, limit=limit)]


def refresh() -> int:
    return int(get_database().value("SELECT refresh_popular_post_days()"))  # as the app login (blog_app)


@pytest.fixture()
def spread(db, owner_conn):
    """600 posts over 70 days, ~8 a day plus 80 on one day; few distinct scores (many ties); some
    drafts and archived posts."""
    authors = [str(make_user(owner_conn)["user_id"]) for _ in range(3)]
    owner_conn.run(
        """
        INSERT INTO posts (post_id, user_id, title, content, slug, status, view_count, like_count, comment_count,
                           published_at)
        SELECT gen_random_uuid(), (CAST(:authors AS uuid[]))[1 + g % 3], 'p' || g, 'c', 'spread-' || g,
               CASE WHEN g % 11 = 0 THEN 'draft' WHEN g % 13 = 0 THEN 'archived' ELSE 'published' END,
               (g * 7) % 20, (g * 3) % 4, g % 2,
               CASE WHEN g % 11 = 0 THEN NULL
                    WHEN g <= 80 THEN date_trunc('day', now()) - interval '10 days' + g * interval '1 minute'
                    ELSE now() - (g - 80) * interval '70 days' / 520 END
        FROM generate_series(1, 600) g
        """,
        authors=authors,
    )
    return authors


WINDOWS = [(1, 10), (2, 50), (7, 1), (7, 10), (30, 10), (30, 50), (60, 7), (365, 50)]


@pytest.mark.parametrize("ranked", [True, False], ids=["ranked", "never-ranked"])
def test_the_answer_is_the_full_window_sort(spread, owner_conn, ranked):
    if ranked:
        assert refresh() > 0
    scores = [s for _, s in full_window(owner_conn, 365, 1000)]
    assert len(scores) - len(set(scores)) > 100  # ties are the rule here, not the exception
    for days, limit in WINDOWS:
        assert popular(days, limit) == full_window(owner_conn, days, limit), (days, limit)


def test_ties_keep_one_order_across_calls_and_limits(spread, owner_conn):
    refresh()
    fifty = popular(60, 50)
    assert popular(60, 50) == fifty
    for limit in (1, 5, 17, 49):
        assert popular(60, limit) == fifty[:limit]  # a shorter list is a prefix: no reshuffled ties
    assert fifty == sorted(fifty, key=lambda item: (item[1], item[0]), reverse=True)


def test_a_post_published_after_the_refresh_ranks_at_once(spread, owner_conn):
    refresh()
    new = make_post(owner_conn, spread[0], like_count=5000)
    assert popular(1, 1)[0][0] == str(new["post_id"])
    assert popular(30, 1)[0][0] == str(new["post_id"])


def test_a_complete_day_ranks_as_of_the_last_refresh(spread, owner_conn):
    """The freshness bound: a post of a ranked day that was outside its day's top 50 at the refresh
    enters the answer at the next refresh (the statistics schedule), not before."""
    refresh()
    ten_days_ago = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    quiet = make_post(owner_conn, spread[0], published_at=ten_days_ago + timedelta(hours=23), view_count=0)
    refresh()  # ranked: the day has 80 posts, the quiet one is not in its top 50
    owner_conn.run("UPDATE posts SET like_count = 5000 WHERE post_id = :id", id=str(quiet["post_id"]))
    assert popular(30, 1)[0][0] != str(quiet["post_id"])  # stale by at most one schedule period
    refresh()
    assert popular(30, 1) == [(str(quiet["post_id"]), 10000.0)]


def test_an_unpublished_post_leaves_the_ranking_at_once(spread, owner_conn):
    refresh()
    (top_id, _), *_ = popular(30, 1)
    owner_conn.run("UPDATE posts SET status = 'archived' WHERE post_id = :id", id=top_id)
    assert top_id not in [p for p, _ in popular(30, 50)]
    owner_conn.run("DELETE FROM posts WHERE post_id = :id", id=popular(30, 1)[0][0])
    assert popular(30, 50) == full_window(owner_conn, 30, 50)


def test_refresh_covers_complete_days_only_and_is_repeatable(spread, owner_conn):
    first = refresh()
    assert refresh() == first
    (through, refreshed), *_ = owner_conn.run("SELECT ranked_through, refreshed_at FROM popular_ranking_state")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert through == today
    assert datetime.now(UTC) - refreshed < timedelta(minutes=1)
    (latest_day, per_day_max), *_ = owner_conn.run(
        "SELECT max(day), max(n) FROM (SELECT day, count(*) AS n FROM popular_post_days GROUP BY day) d"
    )
    assert latest_day < today.date()
    assert per_day_max == 50  # the busy day is cut at the largest limit the API accepts


def test_the_stored_score_is_the_apis_score(spread, owner_conn):
    rows = owner_conn.run(
        "SELECT popular_post_score(p.view_count, p.like_count, p.comment_count) = "
        + posts_queries.SCORE
        + " FROM posts p"
    )
    assert rows and all(r[0] for r in rows)


def test_the_partial_first_day_keeps_its_exact_edge_when_read_from_the_ranking(db, owner_conn):
    """The window's first day is cut at now() - days: its ranked posts from before the cut stay out,
    also when the answer comes from the ranking (at least `limit` ranked posts inside the cut)."""
    author = str(make_user(owner_conn)["user_id"])
    since = datetime.now(UTC) - timedelta(days=3)
    midnight = since.replace(hour=0, minute=0, second=0, microsecond=0)
    before, after = (since - midnight) / 2, (midnight + timedelta(days=1) - since) / 2
    if before < timedelta(seconds=30) or after < timedelta(seconds=30):
        pytest.skip("the window's edge is too close to midnight UTC right now")
    outside = make_post(owner_conn, author, published_at=since - before, like_count=1000)
    inside = [make_post(owner_conn, author, published_at=since + after, like_count=n) for n in (10, 20, 30)]
    refresh()
    expected = [(str(inside[2]["post_id"]), 60.0), (str(inside[1]["post_id"]), 40.0)]
    assert popular(3, 2) == expected  # from the ranking: 3 ranked posts inside the cut >= limit 2
    assert popular(3, 5) == [*expected, (str(inside[0]["post_id"]), 20.0)]  # live: fewer than 5 inside
    assert str(outside["post_id"]) in [p for p, _ in popular(4, 5)]
