"""Least privilege, as the functions really connect.

tests/integration/test_roles.py checks the roles with direct connections. Here
the identities come from the template: which secret each function's
environment names, hence which database role it logs in as. The checks follow
from there: every session the server sees from the functions under load uses
exactly the role its template wiring says (never the owner, which only the
migrate function may use), the application role cannot change the schema or
escalate through the functions' own connection, and the read-only role has no
write privilege anywhere, whatever its session settings.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pytest

from devstack import provision
from devstack.stack import _secret_role
from devstack.template import Template
from devstack.template import load as load_template
from shared.db import Database
from shared.errors import AppError, sqlstate
from shared.settings import load_settings
from tests.conftest import ROOT, load_event
from tests.reliability.conftest import TALLY, function_environment, schema_hash
from tests.reliability.faults_support import (
    COMMENTS,
    POSTS,
    USERS,
    Ledger,
    audit,
    clean,
    fleet,
    make_world,
    run_load,
)

STATS = "StatsFunction"
MIGRATE = "MigrateFunction"


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def wired_roles(template: Template) -> dict[str, dict[str, str]]:
    """Per function, each *_SECRET_ID variable and the database role its secret holds."""
    return {
        fn.name: {
            key: _secret_role(template, fn, key, value)
            for key, value in fn.environment.items()
            if key.endswith("SECRET_ID") and isinstance(value, dict)
        }
        for fn in template.functions.values()
    }


def test_the_template_gives_the_owner_to_the_migrate_function_only(template):
    roles = wired_roles(template)
    assert roles[MIGRATE]["DB_SECRET_ID"] == provision.OWNER
    for name, keys in roles.items():
        if name != MIGRATE:
            assert provision.OWNER not in keys.values(), name
    # The API functions log in as the DML role only; statistics reads as the read-only role
    for name in (USERS, POSTS, COMMENTS):
        assert roles[name] == {"DB_SECRET_ID": provision.APP}, name
    assert roles[STATS] == {"DB_SECRET_ID": provision.READONLY, "WRITER_DB_SECRET_ID": provision.APP}


@pytest.fixture()
def admin(pg_server):
    from shared.migrations import connect_url

    conn = connect_url(pg_server.admin_url)
    yield conn
    conn.close()


def test_under_load_every_function_session_uses_its_wired_role_and_none_the_owner(db, aws, owner_conn, admin, template):
    world = make_world(owner_conn, users=10, posts=5)
    ledger = Ledger()
    seen: dict[str, set[str]] = defaultdict(set)
    stats_answers: list[int] = []
    with fleet(db, aws, [USERS, POSTS, POSTS, COMMENTS, STATS]) as f:
        stats = f.of(STATS)[0]

        def watch(stop: threading.Event) -> None:
            while not stop.wait(0.1):
                for app_name, user in admin.run(
                    "SELECT application_name, usename::text FROM pg_stat_activity"
                    " WHERE datname = :d AND starts_with(application_name, :t)",
                    d=db.name,
                    t=f.tag,
                ):
                    seen[app_name.removeprefix(f.tag + "-")].add(user)
                # The statistics function meanwhile: its public read, and its schedule (it writes a snapshot)
                stats_answers.append(stats.call(load_event("stats/get.json")).status)
                stats_answers.append(200 if stats.worker.invoke(load_event("stats/schedule.json")).ok else 500)

        api = [c for c in f.containers if c.name != STATS]
        run_load(api, world, ledger, 4.0, during=watch, label="least privilege")
    TALLY["least privilege: requests watched"] += ledger.requests + len(stats_answers)
    roles = wired_roles(template)
    expected = {
        template.function(name).code_uri.name: set(roles[name].values()) for name in (USERS, POSTS, COMMENTS, STATS)
    }
    assert set(ledger.statuses) <= {200, 201}, ledger.statuses
    assert stats_answers and set(stats_answers) <= {200, 404}, stats_answers
    assert set(seen) == set(expected), seen
    for function, users in seen.items():
        assert users <= expected[function], (function, users)
        assert provision.OWNER not in users
    assert clean(audit(owner_conn, world, ledger, "least privilege"))


ESCALATIONS = [
    "CREATE TABLE intruder (id int)",
    "CREATE SCHEMA intruder",
    "CREATE FUNCTION public.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE EXTENSION IF NOT EXISTS pgcrypto",
    "ALTER TABLE posts DISABLE TRIGGER ALL",
    "ALTER TABLE comments DROP CONSTRAINT IF EXISTS comments_pkey",
    "CREATE TRIGGER intruder BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    "DROP TABLE post_likes",
    "TRUNCATE posts",
    "TRUNCATE schema_migrations",
    "DELETE FROM schema_migrations",
    "REINDEX TABLE posts",
    "GRANT blog_owner TO blog_app",
    "SET ROLE blog_owner",
    "CREATE ROLE intruder LOGIN PASSWORD 'x'",
    "ALTER ROLE blog_readonly SET default_transaction_read_only = off",
    "COPY users TO PROGRAM 'true'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "CREATE PUBLICATION intruder FOR ALL TABLES",
]


def role_database(database: provision.Database, aws: dict[str, Any], template: Template, function: str) -> Database:
    """A connection built exactly as the function's container builds it (same env, same secret)."""
    env = function_environment(database, aws["AWS_ENDPOINT_URL_SECRETS_MANAGER"], template, template.function(function))
    return Database(load_settings(env).db)


def refusal(database: Database, statement: str) -> str | None:
    try:
        database.execute(statement)
    except AppError as exc:
        return sqlstate(exc.__cause__) if exc.__cause__ is not None else exc.code
    return None


@pytest.mark.parametrize("function", [USERS, POSTS, COMMENTS])
def test_the_api_functions_connection_cannot_change_the_schema_or_escalate(db, aws, owner_conn, template, function):
    before = schema_hash(owner_conn)
    conn = role_database(db, aws, template, function)
    try:
        assert conn.value("SELECT current_user") == provision.APP
        refused = {statement: refusal(conn, statement) for statement in ESCALATIONS}
    finally:
        conn.close()
    TALLY["least privilege: statements refused"] += sum(1 for r in refused.values() if r)
    # 42501 insufficient_privilege (and 42704 for an object it may not even name)
    assert {s: r for s, r in refused.items() if r not in ("42501", "42704")} == {}
    # And a grant of what it does not own gives nothing away (a warning, no change of the ACLs)
    conn = role_database(db, aws, template, function)
    try:
        conn.execute("GRANT SELECT ON users TO PUBLIC")
    finally:
        conn.close()
    assert schema_hash(owner_conn) == before


def test_the_read_only_role_cannot_write_even_after_switching_its_transactions_to_read_write(
    db, aws, owner_conn, template
):
    # The statistics function's reader: without any write privilege (not read-only by default:
    # single-user rotation must let it set its own password)
    conn = role_database(db, aws, template, STATS)
    tables = [r[0] for r in owner_conn.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    try:
        assert conn.value("SELECT current_user") == provision.READONLY
        writable = conn.all(
            "SELECT t.tablename, p.priv FROM pg_tables t"
            " CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)"
            " WHERE t.schemaname = 'public' AND has_table_privilege(current_user, t.tablename::regclass, p.priv)"
        )
        outcomes = []
        for table in tables:
            # Even inside a READ WRITE transaction, privileges refuse the write (42501)
            with pytest.raises(AppError) as caught, conn.transaction() as tx:
                tx.execute("SET TRANSACTION READ WRITE")
                tx.execute('DELETE FROM "' + table + '"')
            outcomes.append(sqlstate(caught.value.__cause__))
    finally:
        conn.close()
    TALLY["least privilege: statements refused"] += len(outcomes)
    assert writable == []
    assert set(outcomes) == {"42501"}, outcomes
    assert owner_conn.run("SELECT count(*) FROM schema_migrations")[0][0] > 0
