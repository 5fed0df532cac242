"""The migration runner against real PostgreSQL, on a fresh database each test."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from devstack import provision
from shared import migrations
from shared.migrations import MigrationError
from tests.conftest import MIGRATIONS


@pytest.fixture()
def owner(scratch_database):
    conn = scratch_database.connect(provision.OWNER)
    yield conn
    conn.close()


@pytest.fixture()
def mdir(tmp_path: Path) -> Path:
    """A copy of the real migrations that a test may extend."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target


def tables(conn) -> set[str]:
    return {r[0] for r in conn.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_apply_then_reapply_is_a_no_op(owner, mdir):
    found = migrations.load(mdir)
    applied = migrations.apply(owner, found, log=lambda *_: None)
    assert [m.version for m in applied] == [m.version for m in found]
    assert {"users", "user_profiles", "posts", "comments", "schema_migrations"} <= tables(owner)
    rows = owner.run("SELECT version, name, checksum, duration_ms FROM schema_migrations ORDER BY version")
    assert [(r[0], r[1], r[2]) for r in rows] == [(m.version, m.name, m.checksum) for m in found]
    assert all(r[3] >= 0 for r in rows)
    # Re-applying changes nothing
    assert migrations.apply(owner, migrations.load(mdir), log=lambda *_: None) == []
    assert all(s.state == "applied" for s in migrations.status(owner, found))


def test_changed_checksum_is_refused_before_anything_runs(owner, mdir):
    migrations.apply(owner, migrations.load(mdir), log=lambda *_: None)
    first = sorted(mdir.glob("0001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    (mdir / "9998_create_probe.sql").write_text("CREATE TABLE probe_after_edit (id int);")
    with pytest.raises(MigrationError, match="modified after being applied: 0001_create_initial_schema"):
        migrations.apply(owner, migrations.load(mdir), log=lambda *_: None)
    assert "probe_after_edit" not in tables(owner)


def test_failed_migration_rolls_back_entirely(owner, mdir):
    (mdir / "9998_create_half.sql").write_text(
        "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT * FROM no_such_table;\n"
    )
    with pytest.raises(MigrationError, match=r"9998_create_half\.sql failed and was rolled back: 42P01"):
        migrations.apply(owner, migrations.load(mdir), log=lambda *_: None)
    assert "half_done" not in tables(owner)
    recorded = {r[0] for r in owner.run("SELECT version FROM schema_migrations")}
    assert 9998 not in recorded and 1 in recorded  # earlier files stay applied
    # fixing the file lets the next run apply it
    (mdir / "9998_create_half.sql").write_text("CREATE TABLE half_done (id int);\n")
    assert [m.version for m in migrations.apply(owner, migrations.load(mdir), log=lambda *_: None)] == [9998]


def test_concurrent_runs_apply_each_migration_once(scratch_database, mdir):
    (mdir / "9998_create_slow.sql").write_text(
        "CREATE TABLE slow_probe (id int);\nINSERT INTO slow_probe SELECT 1 FROM pg_sleep(0.3);\n"
    )
    results, errors = [], []

    def run() -> None:
        conn = scratch_database.connect(provision.OWNER)
        try:
            results.append([m.version for m in migrations.apply(conn, migrations.load(mdir), log=lambda *_: None)])
        except Exception as exc:  # recorded, asserted below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = sorted(v for r in results for v in r)
    assert applied == sorted(m.version for m in migrations.load(mdir))  # every version exactly once overall
    check = scratch_database.connect(provision.OWNER)
    assert check.run("SELECT count(*) FROM slow_probe")[0][0] == 1
    check.close()


def test_no_transaction_file_runs_concurrently_built_index(owner, mdir):
    (mdir / "9998_create_index_concurrently.sql").write_text(
        "-- migrate:no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_probe_comments_updated ON comments (updated_at);\n"
    )
    migrations.apply(owner, migrations.load(mdir), log=lambda *_: None)
    valid = owner.run(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = 'idx_probe_comments_updated'"
    )
    assert valid == [[True]]


def test_dry_run_and_status_change_nothing(owner, mdir):
    found = migrations.load(mdir)
    assert migrations.status(owner, found)[0].state == "pending"
    assert [m.version for m in migrations.verify(owner, found)] == [m.version for m in found]
    assert "users" not in tables(owner)


def test_missing_applied_file_is_reported(owner, mdir):
    (mdir / "9998_create_gone.sql").write_text("CREATE TABLE gone (id int);")
    migrations.apply(owner, migrations.load(mdir), log=lambda *_: None)
    (mdir / "9998_create_gone.sql").unlink()
    with pytest.raises(MigrationError, match="missing from the migrations directory: 9998_create_gone"):
        migrations.apply(owner, migrations.load(mdir), log=lambda *_: None)


def test_command_line_status_and_apply(scratch_database, capsys):
    url = scratch_database.url(provision.OWNER)
    assert migrations.main(["dry-run", "--url", url, "--dir", str(MIGRATIONS)]) == 0
    assert "would apply 0001_create_initial_schema.sql" in capsys.readouterr().out
    assert migrations.main(["apply", "--url", url, "--dir", str(MIGRATIONS)]) == 0
    assert migrations.main(["status", "--url", url, "--dir", str(MIGRATIONS)]) == 0
    out = capsys.readouterr().out
    assert "0001  applied" in out
