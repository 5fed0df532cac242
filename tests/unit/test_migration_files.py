import hashlib
import re

import pytest

from shared import migrations
from shared.migrations import MigrationError, scram_verifier, split_statements
from tests.conftest import MIGRATIONS


def test_repository_migrations_are_well_formed():
    found = migrations.load(MIGRATIONS)
    versions = [m.version for m in found]
    assert versions == sorted(versions) and versions[0] == 1
    for m in found:
        assert re.match(r"^\d{4}_(create|alter|add|drop|rename|backfill|update)_[a-z0-9_]+\.sql$", m.filename), (
            m.filename
        )
        assert m.checksum == hashlib.sha256(m.path.read_bytes()).hexdigest()
        assert len(m.sql.encode()) < 1_000_000


def test_bad_names_and_duplicates_are_refused(tmp_path):
    (tmp_path / "1_create_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_verb_object"):
        migrations.load(tmp_path)
    (tmp_path / "1_create_x.sql").unlink()
    (tmp_path / "0001_create_x.sql").write_text("SELECT 1;")
    (tmp_path / "0001_create_y.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="used twice"):
        migrations.load(tmp_path)


def test_set_checksum_changes_with_any_file(tmp_path):
    (tmp_path / "0001_create_x.sql").write_text("SELECT 1;")
    before = migrations.checksum_of(tmp_path)
    (tmp_path / "0002_create_y.sql").write_text("SELECT 2;")
    assert migrations.checksum_of(tmp_path) != before


def test_split_statements_for_no_transaction_files():
    sql = (
        "-- migrate:no-transaction\n-- a comment\n"
        "CREATE INDEX CONCURRENTLY a ON t (x);\nCREATE INDEX CONCURRENTLY b\n  ON t (y);\n"
    )
    assert split_statements(sql) == ["CREATE INDEX CONCURRENTLY a ON t (x)", "CREATE INDEX CONCURRENTLY b\n  ON t (y)"]


def test_scram_verifier_matches_postgres_format():
    verifier = scram_verifier("correct horse", salt=b"0123456789abcdef")
    assert re.match(r"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$", verifier)
    assert verifier != scram_verifier("correct horse")  # random salt by default


def test_only_known_roles_get_passwords():
    with pytest.raises(MigrationError):
        migrations.set_role_password(None, "postgres", "x")  # type: ignore[arg-type]
