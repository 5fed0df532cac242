"""Least privilege, checked against the real roles the migrations create."""

from __future__ import annotations

import pytest
from pg8000.exceptions import DatabaseError

from devstack import provision
from shared import errors


def sqlstate_of(conn, sql: str) -> str:
    with pytest.raises(DatabaseError) as caught:
        conn.run(sql)
    return errors.sqlstate(caught.value) or ""


@pytest.fixture()
def app_conn(database):
    conn = database.connect(provision.APP)
    yield conn
    conn.close()


@pytest.fixture()
def ro_conn(database):
    conn = database.connect(provision.READONLY)
    yield conn
    conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "ALTER TABLE users ADD COLUMN intruder int",
        "DROP TABLE comments",
        "TRUNCATE users",
        "CREATE INDEX intruder ON users (email)",
        "DELETE FROM schema_migrations",
        "CREATE ROLE intruder",
        # session state that would pin RDS Proxy (0007)
        "CREATE TEMP TABLE intruder (id int)",
    ],
)
def test_app_role_cannot_change_schema(app_conn, statement):
    assert sqlstate_of(app_conn, statement) == "42501"


def test_only_the_owner_may_create_temporary_tables(ro_conn):
    check = "SELECT has_database_privilege(:r, current_database(), 'TEMPORARY')"
    assert [ro_conn.run(check, r=role)[0][0] for role in ("blog_app", "blog_readonly", "blog_owner")] == [
        False,
        False,
        True,
    ]


def test_app_role_can_read_and_write_rows(app_conn):
    app_conn.run("BEGIN")
    app_conn.run(
        "INSERT INTO users (email, username, password_hash) VALUES ('role-probe@example.com', 'role_probe', 'x')"
    )
    assert app_conn.run("SELECT count(*) FROM users WHERE username = 'role_probe'")[0][0] == 1
    app_conn.run("ROLLBACK")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO users (email, username, password_hash) VALUES ('ro@example.com', 'ro', 'x')",
        "UPDATE users SET is_active = false",
        "DELETE FROM posts",
        "CREATE TABLE intruder (id int)",
    ],
)
def test_readonly_role_cannot_write(ro_conn, statement):
    # refused by privilege: it holds SELECT only
    assert sqlstate_of(ro_conn, statement) == "42501"


@pytest.mark.parametrize("role", [provision.APP, provision.READONLY])
def test_every_rotated_role_can_set_its_own_password(database, role_passwords, role):
    """Single-user rotation (the API and read-only secrets) logs in as the role and runs
    ALTER USER ... WITH PASSWORD; a role that cannot do that fails its first rotation. The
    password set here is the current one, so the session's other tests keep logging in."""
    conn = database.connect(role)
    try:
        # Given the role's own session, When it sets its password as the rotation does
        conn.run("ALTER USER " + role + " WITH PASSWORD '" + role_passwords[role].replace("'", "''") + "'")
        # Then it may still only do what it could before: the read-only role writes nothing
        if role == provision.READONLY:
            assert sqlstate_of(conn, "INSERT INTO users (email, username) VALUES ('a@b.c', 'abc')") == "42501"
    finally:
        conn.close()


def test_readonly_role_can_read(ro_conn):
    assert ro_conn.run("SELECT count(*) FROM users")[0][0] >= 0


def test_role_timeouts_are_role_settings(app_conn, ro_conn):
    # settings live on the roles, so connections need no SET (which pins RDS Proxy)
    assert app_conn.run("SHOW statement_timeout") == [["5s"]]
    assert app_conn.run("SHOW lock_timeout") == [["2s"]]
    assert app_conn.run("SHOW idle_in_transaction_session_timeout") == [["15s"]]
    assert ro_conn.run("SHOW statement_timeout") == [["30s"]]


def test_tables_created_later_are_visible_to_app_roles(scratch_database):
    """Default privileges: a table from a later migration needs no extra GRANT."""
    from shared import migrations
    from tests.conftest import MIGRATIONS

    owner = scratch_database.connect(provision.OWNER)
    try:
        migrations.apply(owner, migrations.load(MIGRATIONS), log=lambda *_: None)
        owner.run("CREATE TABLE later_table (id int)")
        grants = {
            (r[0], r[1])
            for r in owner.run(
                "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
                " WHERE table_name = 'later_table'"
            )
        }
    finally:
        owner.close()
    assert {("blog_app", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")} <= grants
    assert ("blog_app", "TRUNCATE") not in grants
    assert ("blog_readonly", "SELECT") in grants
    assert not {g for g in grants if g[0] == "blog_readonly" and g[1] != "SELECT"}
