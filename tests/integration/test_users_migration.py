"""sql/migrations/0003_alter_users_for_api.sql: constraints, indexes, and that
the users queries can use the indexes it creates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import users_queries as sql
from pg8000.exceptions import DatabaseError
from users_models import search_query

from devstack import provision
from shared import errors, migrations
from shared.migrations import MigrationError
from tests.conftest import MIGRATIONS
from tests.integration.test_users_support import USER1, row

PASSWORD_HASH_NULLABLE = (
    "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'password_hash'"
)


def index_names(conn, table: str) -> set[str]:
    return {r[0] for r in conn.run("SELECT indexname FROM pg_indexes WHERE tablename = :t", t=table)}


def test_indexes_added_and_dropped(database):
    conn = database.connect(provision.OWNER)
    try:
        users_idx = index_names(conn, "users")
        assert {
            "users_username_lower_key",
            "users_email_lower_key",
            "idx_users_active_created",
            "idx_users_name_grams",  # 0010 replaced 0003's idx_users_search_trgm
            "idx_users_username_prefix",
        } <= users_idx
        assert not {"idx_users_email", "idx_users_username", "idx_users_active", "idx_users_search_trgm"} & users_idx
        assert "user_profiles_user_id_key" in index_names(conn, "user_profiles")
        assert "idx_posts_user_recent" in index_names(conn, "posts")
        nullable = row(
            conn,
            PASSWORD_HASH_NULLABLE,
        )
        assert nullable == {"is_nullable": "YES"}
    finally:
        conn.close()


def sqlstate_and_constraint(conn, statement: str, **params) -> tuple[str, str]:
    with pytest.raises(DatabaseError) as caught:
        conn.run(statement, **params)
    return errors.sqlstate(caught.value) or "", caught.value.args[0].get("n", "")


def test_constraints_as_the_app_role(db):
    """As blog_app (DML only): users without password, one profile per user,
    usernames and emails unique whatever their case."""
    app = db.connect(provision.APP)
    try:
        app.run("INSERT INTO users (user_id, email, username) VALUES (:u, 'p@example.com', 'Probe')", u=USER1)
        app.run("INSERT INTO user_profiles (user_id, bio) VALUES (:u, 'one')", u=USER1)
        assert sqlstate_and_constraint(app, "INSERT INTO user_profiles (user_id, bio) VALUES (:u, 'two')", u=USER1) == (
            "23505",
            "user_profiles_user_id_key",
        )
        assert sqlstate_and_constraint(
            app, "INSERT INTO users (email, username) VALUES ('q@example.com', 'PROBE')"
        ) == (
            "23505",
            "users_username_lower_key",
        )
        assert sqlstate_and_constraint(
            app, "INSERT INTO users (email, username) VALUES ('P@Example.COM', 'other')"
        ) == (
            "23505",
            "users_email_lower_key",
        )
    finally:
        app.close()


def plan(conn, statement: str, **params) -> str:
    return "\n".join(r[0] for r in conn.run("EXPLAIN " + statement, **params))


def test_users_queries_use_their_indexes(db, owner_conn):
    """With 20k users and one author's 2k posts (rolled back afterwards), each
    query's plan names the index 0003 made for it: the expressions in
    users_queries match the indexed ones."""
    c = owner_conn
    c.run("BEGIN")
    try:
        c.run(
            "INSERT INTO users (email, username, first_name, last_name, created_at) "
            "SELECT 'u' || g || '@example.com', 'user_' || g, 'First' || g, 'Last' || (g % 97), "
            "       now() - g * interval '1 minute' "
            "FROM generate_series(1, 20000) g"
        )
        c.run("INSERT INTO users (user_id, email, username) VALUES (:u, 'author@example.com', 'author')", u=USER1)
        c.run(
            "INSERT INTO posts (user_id, title, content, status, published_at) "
            "SELECT :u, 't', 'c', CASE WHEN g % 10 = 0 THEN 'draft' ELSE 'published' END, "
            "CASE WHEN g % 10 = 0 THEN NULL ELSE now() - g * interval '1 hour' END FROM generate_series(1, 2000) g",
            u=USER1,
        )
        c.run("ANALYZE users")
        c.run("ANALYZE posts")
        # Small tables favour sequential scans; the question here is whether
        # each index can serve its query, so take that option away.
        c.run("SET LOCAL enable_seqscan = off")
        none = {"verified": None, "c_ts": None, "c_id": None, "limit": 21}
        assert "idx_users_active_created" in plan(c, sql.SQL.list_users, name=None, username_prefix=None, **none)
        # A name through its grams, OR a username by prefix: a BitmapOr of the two (0010).
        found = plan(c, sql.SQL.list_users, name="Last42", username_prefix="last42%", **none)
        assert "idx_users_name_grams" in found and "idx_users_username_prefix" in found and "BitmapOr" in found
        # A name typed with a middle dot and a folded mark, keyed as the names are (0016)
        typed = search_query("ジョン・スミス\u301c")
        assert typed is not None and typed.name == "ジョンスミス~"
        found = plan(c, sql.SQL.list_users, name=typed.name, username_prefix=typed.username_prefix, **none)
        assert "idx_users_name_grams" in found and "BitmapOr" in found
        assert "users_email_lower_key" in plan(c, sql.SQL.get_user_by_email, email="U77@example.com")
        posts_plan = plan(c, sql.SQL.user_posts, user_id=USER1, all_statuses=True, c_ts=None, c_id=None, limit=21)
        assert "idx_posts_user_recent" in posts_plan
        assert (
            "Sort Key: (COALESCE" not in posts_plan.split("Limit")[1]
        )  # walks the index in order, no sort below the limit
        assert "users_pkey" in plan(c, sql.SQL.get_user_private, user_id=USER1)
    finally:
        c.run("ROLLBACK")


# -- applying 0003 to existing data ---------------------------------------------------
@pytest.fixture()
def up_to_0002(scratch_database, tmp_path: Path):
    """A database at version 0002, and a directory to which 0003 can be added."""
    target = tmp_path / "migrations"
    target.mkdir()
    for path in sorted(MIGRATIONS.glob("000[12]_*.sql")):
        shutil.copy(path, target)
    conn = scratch_database.connect(provision.OWNER)
    try:
        migrations.apply(conn, migrations.load(target), log=lambda *_: None)
        shutil.copy(next(MIGRATIONS.glob("0003_*.sql")), target)
        yield conn, target
    finally:
        conn.close()


def test_duplicate_profiles_are_reduced_to_the_latest(up_to_0002):
    conn, directory = up_to_0002
    # Given a user with three profiles and a profile without a user
    conn.run(
        "INSERT INTO users (user_id, email, username, password_hash) VALUES (:u, 'a@example.com', 'a', 'x')", u=USER1
    )
    for bio, age in (("oldest", "3 days"), ("newest", "1 hour"), ("middle", "2 days")):
        conn.run(
            "INSERT INTO user_profiles (user_id, bio, updated_at) VALUES (:u, :b, now() - CAST(:a AS interval))",
            u=USER1,
            b=bio,
            a=age,
        )
    conn.run("INSERT INTO user_profiles (user_id, bio) VALUES (NULL, 'orphan')")
    # When 0003 is applied
    applied = migrations.apply(conn, migrations.load(directory), log=lambda *_: None)
    # Then the most recently updated profile is the one left
    assert [m.version for m in applied] == [3]
    assert conn.run("SELECT user_id::text, bio FROM user_profiles") == [[USER1, "newest"]]


def test_usernames_differing_only_in_case_stop_the_migration(up_to_0002):
    conn, directory = up_to_0002
    conn.run(
        "INSERT INTO users (email, username, password_hash) "
        "VALUES ('b1@example.com', 'Bob', 'x'), ('b2@example.com', 'bob', 'x')"
    )
    with pytest.raises(MigrationError):
        migrations.apply(conn, migrations.load(directory), log=lambda *_: None)
    # Nothing of 0003 stayed: password_hash is still required
    assert conn.run(PASSWORD_HASH_NULLABLE) == [["NO"]]
    assert conn.run("SELECT count(*) FROM schema_migrations WHERE version = 3") == [[0]]
