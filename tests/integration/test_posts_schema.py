"""Migration 0004: privileges of the app role, invariants, the edit-time
trigger, the index set, and the plans of the posts queries on generated data."""

from __future__ import annotations

import posts_queries as q
import pytest
from pg8000.exceptions import DatabaseError
from posts_models import search_terms

from tests.support.factories import make_post, make_user


def test_app_role_has_dml_only_on_the_new_tables(db, owner_conn):
    for table in ("post_likes", "post_transfers"):
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            assert owner_conn.run("SELECT has_table_privilege('blog_app', :t, :p)", t=table, p=privilege) == [[True]]
        assert owner_conn.run("SELECT has_table_privilege('blog_app', :t, 'TRUNCATE')", t=table) == [[False]]
    assert owner_conn.run("SELECT has_table_privilege('blog_readonly', 'post_likes', 'INSERT')") == [[False]]


def test_index_set(db, owner_conn):
    names = {
        r[0] for r in owner_conn.run("SELECT indexname FROM pg_indexes WHERE tablename IN ('posts', 'post_likes')")
    }
    assert {
        "idx_posts_published_feed",
        "idx_posts_author_feed",
        "idx_posts_title_grams",  # 0010 replaced 0004's idx_posts_search_trgm
        "idx_posts_document_grams",
        "post_likes_pkey",
        "idx_post_likes_user_created",
        "posts_slug_key",
        "idx_posts_user_status_published",
    } <= names
    assert not names & {"idx_posts_slug", "idx_posts_user_id", "idx_posts_status", "idx_posts_search_trgm"}


def test_invariants(db, owner_conn):
    user = make_user(owner_conn)
    post = make_post(owner_conn, user["user_id"])
    bad = [
        "UPDATE posts SET published_at = NULL WHERE post_id = :p",
        "UPDATE posts SET like_count = -1 WHERE post_id = :p",
        "UPDATE posts SET view_count = NULL WHERE post_id = :p",
        "UPDATE posts SET user_id = NULL WHERE post_id = :p",
        "UPDATE posts SET status = 'deleted' WHERE post_id = :p",
        "INSERT INTO post_likes (post_id, user_id) VALUES (:p, gen_random_uuid())",
    ]
    for sql in bad:
        with pytest.raises(DatabaseError):
            owner_conn.run(sql, p=post["post_id"])
    assert owner_conn.run("SELECT version FROM posts WHERE post_id = :p", p=post["post_id"]) == [[1]]


def test_counters_do_not_rewrite_updated_at_but_edits_do(db, owner_conn):
    user = make_user(owner_conn)
    pid = make_post(owner_conn, user["user_id"])["post_id"]
    stamp = owner_conn.run("SELECT updated_at FROM posts WHERE post_id = :p", p=pid)[0][0]
    owner_conn.run(
        "UPDATE posts SET view_count = view_count + 1, like_count = like_count + 1, "
        "comment_count = comment_count + 1 WHERE post_id = :p",
        p=pid,
    )
    assert owner_conn.run("SELECT updated_at FROM posts WHERE post_id = :p", p=pid)[0][0] == stamp
    owner_conn.run("UPDATE posts SET title = 'edited' WHERE post_id = :p", p=pid)
    assert owner_conn.run("SELECT updated_at FROM posts WHERE post_id = :p", p=pid)[0][0] > stamp


def test_likes_go_with_their_post_and_user(db, owner_conn):
    author, fan = make_user(owner_conn), make_user(owner_conn)
    pid = make_post(owner_conn, author["user_id"])["post_id"]
    owner_conn.run("INSERT INTO post_likes (post_id, user_id) VALUES (:p, :u)", p=pid, u=fan["user_id"])
    owner_conn.run("DELETE FROM users WHERE user_id = :u", u=fan["user_id"])
    assert owner_conn.run("SELECT count(*) FROM post_likes") == [[0]]


# -- plans ------------------------------------------------------------------------------
GENERATE = """
WITH us AS (SELECT array_agg(user_id ORDER BY user_id) AS ids FROM users)
INSERT INTO posts (user_id, title, content, excerpt, slug, status, tags, view_count, like_count, comment_count,
                   published_at)
SELECT us.ids[1 + g % array_length(us.ids, 1)],
       CASE WHEN g % 5000 = 7 THEN 'needle in ' ELSE '' END || 'Generated post ' || g,
       'content ' || g, 'excerpt ' || md5(g::text), 'gen-' || g,
       CASE WHEN g % 10 = 0 THEN 'draft' WHEN g % 10 = 1 THEN 'archived' ELSE 'published' END,
       ARRAY['t' || (g % 400), 'common'], (g * 7919) % 1000, g % 37, g % 11,
       CASE WHEN g % 10 <> 0 THEN now() - make_interval(mins => g) END
FROM generate_series(1, :n) g, us
"""


def plan(conn, sql: str, **params) -> str:
    """The plan the server chooses for the statement with these parameter values
    (sent as the app sends it: an unnamed statement, planned with the values)."""
    return "\n".join(r[0] for r in conn.run("EXPLAIN " + sql, **params))


LIST_DEFAULTS = {
    "author": None,
    "tag": None,
    "q": None,
    "like": None,
    "ilike": None,
    "after": None,
    "before": None,
    "limit": 20,
}


NO_CURSOR = {"c_tier": None, "c_ts": None, "c_id": None}


def test_plans_on_100k_generated_posts(db, owner_conn):
    # Given 100k posts (80k published) by 1000 authors, analyzed
    c = owner_conn
    c.run(
        "INSERT INTO users (email, username, password_hash) "
        "SELECT 'gen' || g || '@example.com', 'gen_' || g, 'x' FROM generate_series(1, 1000) g"
    )
    c.run(GENERATE, n=100_000)
    c.run("ANALYZE users")
    c.run("ANALYZE posts")
    author = c.run("SELECT user_id::text FROM users ORDER BY user_id LIMIT 1")[0][0]
    ts, pid = c.run(
        "SELECT published_at, post_id::text FROM posts WHERE status = 'published' "
        "ORDER BY published_at DESC, post_id DESC OFFSET 50000 LIMIT 1"
    )[0]
    feed = q.list_sql("published_at", q.DEFAULT_LIST_FIELDS, False)
    feed_next = q.list_sql("published_at", q.DEFAULT_LIST_FIELDS, True)

    # The feed seeks the partial keyset index, first page and deep pages alike
    first = plan(c, feed, **LIST_DEFAULTS)
    assert "Index Scan using idx_posts_published_feed" in first
    assert "Sort Method" not in first and "Incremental Sort" not in first
    deep = plan(c, feed_next, **LIST_DEFAULTS, c_1=ts, c_2=pid)
    assert "Index Scan using idx_posts_published_feed" in deep
    assert "Index Cond: (ROW(published_at, post_id) < ROW(" in deep  # a seek, not a filter

    # Filters use their indexes
    assert "idx_posts_author_feed" in plan(c, feed, **dict(LIST_DEFAULTS, author=author))
    needle = search_terms("needle")
    search = {"q": needle.q, "like": needle.like, "ilike": needle.ilike}
    assert "idx_posts_document_grams" in plan(c, feed, **dict(LIST_DEFAULTS, **search))
    ranked = plan(c, q.search_sql("relevance", q.DEFAULT_LIST_FIELDS), **dict(LIST_DEFAULTS, **search), **NO_CURSOR)
    assert "idx_posts_title_grams" in ranked and "idx_posts_document_grams" in ranked
    assert "Index Scan using idx_posts_published_feed" in ranked  # the probes
    assert "Seq Scan on posts" not in ranked
    assert "One-Time Filter: false" in ranked  # one term: the middle tier is planned away
    # Two terms: the middle tier reads the titles through their index, term by term, and the
    # document through its own; the page's rows come by primary key
    two = search_terms("needle post")
    ranked = plan(
        c,
        q.search_sql("relevance", q.DEFAULT_LIST_FIELDS),
        **dict(LIST_DEFAULTS, q=two.q, like=two.like, ilike=two.ilike),
        **NO_CURSOR,
    )
    assert "CTE t2_titles" in ranked and "Function Scan on unnest" in ranked
    assert ranked.count("Bitmap Index Scan on idx_posts_title_grams") == 2  # tier 1, and the titles' read
    assert ranked.count("Bitmap Index Scan on idx_posts_document_grams") == 2  # tiers 2 and 3
    assert "Index Scan using posts_pkey" in ranked
    assert "Seq Scan on posts" not in ranked
    # Terms with the marks input methods spell differently: folded as the stored texts are
    # (sql/migrations/0016), the index expressions unchanged, so the same indexes serve them
    marks = search_terms("10\u301c20 \u22125")
    assert marks.q == "10~20 -5"
    marked = {"q": marks.q, "like": marks.like, "ilike": marks.ilike}
    ranked = plan(c, q.search_sql("relevance", q.DEFAULT_LIST_FIELDS), **dict(LIST_DEFAULTS, **marked), **NO_CURSOR)
    assert "@> '{-5,0~,10,20,~2}'::text[]" in ranked
    assert ranked.count("Bitmap Index Scan on idx_posts_title_grams") == 2
    assert ranked.count("Bitmap Index Scan on idx_posts_document_grams") == 2
    assert "Seq Scan on posts" not in ranked
    assert "idx_posts_document_grams" in plan(c, feed, **dict(LIST_DEFAULTS, **marked))

    # The popular window: its live ranges seek the feed index, its complete days come from the
    # precomputed ranking (migration 0012); no window is read whole
    c.run("SELECT refresh_popular_post_days()")
    c.run("ANALYZE popular_post_days")
    for days in (1, 30, 365):
        window = plan(c, q.SQL.popular_posts, days=days, limit=10)
        assert "Index Scan using idx_posts_published_feed" in window
        assert "Seq Scan on posts" not in window
    assert "idx_popular_post_days_rank" in plan(c, q.SQL.popular_posts, days=365, limit=10)

    # Single rows come from unique indexes
    assert "Index Scan using posts_pkey" in plan(c, q.SQL.get_post, post_id=pid, caller=author, is_admin=False)
    assert "Index Scan using posts_slug_key" in plan(c, q.SQL.get_published_by_slug, slugs=["gen-42"])
    assert "Seq Scan" not in plan(c, q.SQL.like_post, post_id=pid, user_id=author)
