"""sql/migrations/0016 applied to a database that already holds posts and users (written under 0015):
their stored search form and the indexes are rebuilt, so what was written before is found by the
marks input methods spell differently and by names written with a middle dot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import posts_queries
import pytest
import users_queries
from posts_models import search_terms
from users_models import search_query

from devstack import provision
from shared import migrations
from tests.conftest import MIGRATIONS

USER = "00000000-0000-4000-8000-0000000000a1"
POSTS = {
    "wave": ("参加者10\u301c20人の勉強会", "本文"),  # the wave dash (macOS): NFKC keeps it
    "tilde": ("営業時間", "9\uff5e17時"),  # the full-width tilde (Windows): NFKC makes it ~
    "minus": ("気温", "マイナス\u22125度"),  # the minus sign U+2212
    "parallel": ("A\u2225B", "c"),
    "plain": ("plain", "nothing to fold"),
}


@pytest.fixture()
def migrated_over_rows(scratch_database, tmp_path: Path):
    """A database at 0015 with rows, then 0016 applied over them."""
    target = tmp_path / "migrations"
    target.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if int(path.name[:4]) <= 15:
            shutil.copy(path, target)
    conn = scratch_database.connect(provision.OWNER)
    try:
        migrations.apply(conn, migrations.load(target), log=lambda *_: None)
        conn.run(
            "INSERT INTO users (user_id, email, username, password_hash, first_name, last_name) "
            "VALUES (:u, 'a@example.com', 'author', 'x', NULL, :last)",
            u=USER,
            last="\u30b8\u30e7\u30f3\u30fb\u30b9\u30df\u30b9",  # ジョン・スミス
        )
        for i, (slug, (title, content)) in enumerate(POSTS.items()):
            conn.run(
                "INSERT INTO posts (user_id, title, content, slug, status, published_at) "
                "VALUES (:u, :t, :c, :s, 'published', now() - make_interval(mins => :i))",
                u=USER,
                t=title,
                c=content,
                s=slug,
                i=i,
            )
        # Under 0015 only the full-width tilde had a stored form (NFKC)
        assert conn.run("SELECT count(*) FROM posts WHERE search_document IS NOT NULL") == [[1]]
        shutil.copy(next(MIGRATIONS.glob("0016_*.sql")), target)
        applied = migrations.apply(conn, migrations.load(target), log=lambda *_: None)
        assert [m.version for m in applied] == [16]
        yield conn
    finally:
        conn.close()


def found(conn, q: str) -> list[str]:
    terms = search_terms(q)
    params = dict(
        author=None, tag=None, after=None, before=None, limit=20, q=terms.q, like=terms.like, ilike=terms.ilike
    )
    ranked = conn.run(
        posts_queries.search_sql("relevance", frozenset({"post_id", "slug"})),
        c_tier=None,
        c_ts=None,
        c_id=None,
        **params,
    )
    listed = conn.run(posts_queries.list_sql("popular", frozenset({"post_id", "slug"}), False), **params)
    slugs = sorted(json.loads(r[0])["slug"] for r in ranked)
    assert sorted(json.loads(r[0])["slug"] for r in listed) == slugs
    return slugs


def test_rows_written_before_are_found_by_every_spelling(migrated_over_rows):
    conn = migrated_over_rows
    for q, slug in [
        ("10\uff5e20", "wave"),
        ("10~20", "wave"),
        ("9\u301c17", "tilde"),
        ("-5", "minus"),
        ("\uff0d5度", "minus"),
        ("a\u2016b", "parallel"),
    ]:
        assert found(conn, q) == [slug], q
    assert found(conn, "nothing") == ["plain"]


def test_the_stored_forms_and_the_indexes_are_rebuilt(migrated_over_rows):
    conn = migrated_over_rows
    forms = dict(conn.run("SELECT slug, search_title IS NOT NULL OR search_document IS NOT NULL FROM posts"))
    assert forms == {"wave": True, "tilde": True, "minus": True, "parallel": True, "plain": False}
    indexes = dict(
        conn.run(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname IN ('idx_posts_title_grams', 'idx_posts_document_grams', 'idx_users_name_grams')"
        )
    )
    assert indexes == {"idx_posts_title_grams": True, "idx_posts_document_grams": True, "idx_users_name_grams": True}


def test_a_name_written_before_with_a_middle_dot_is_found_through_the_rebuilt_index(migrated_over_rows):
    conn = migrated_over_rows
    conn.run("BEGIN")
    try:
        # Enough other users for the planner to read the name's grams through the rebuilt index
        conn.run(
            "INSERT INTO users (email, username, password_hash, first_name, last_name) "
            "SELECT 'u' || g || '@example.com', 'user_' || g, 'x', 'First' || g, 'Last' || g "
            "FROM generate_series(1, 5000) g"
        )
        conn.run("ANALYZE users")
        for q in ("ジョンスミス", "ジョン スミス", "ｼﾞｮﾝ･ｽﾐｽ", "スミス"):
            s = search_query(q)
            assert s is not None
            params = dict(verified=None, name=s.name, username_prefix=s.username_prefix, c_ts=None, c_id=None, limit=21)
            rows = conn.run(users_queries.SQL.list_users, **params)
            assert [json.loads(r[0])["username"] for r in rows] == ["author"], q
            plan = "\n".join(r[0] for r in conn.run("EXPLAIN " + users_queries.SQL.list_users, **params))
            assert "idx_users_name_grams" in plan, plan
    finally:
        conn.run("ROLLBACK")
