"""The named-SQL loader (shared/statements.py) and the .sql files every function ships."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared import statements

ROOT = Path(__file__).resolve().parents[2]
SQL_FILES = sorted([*ROOT.glob("functions/*/*.sql"), *ROOT.glob("layers/shared/shared/*.sql")])


def test_blocks_are_named_documented_and_included(tmp_path):
    # Given a file with a fragment, a statement that includes it and the layer's author fragment
    path = tmp_path / "x.sql"
    path.write_text(
        "-- file comment\n\n-- name: cols\nu.user_id\n\n"
        "-- name: get_user\n-- One user.\n"
        "SELECT {{cols}}, {{author_json}} FROM users u WHERE u.user_id = CAST(:id AS uuid)\n"
    )
    # When it is loaded with its constraint messages
    sql = statements.load(path, {"users_pkey": ("user_id", "taken")})
    # Then each block is a Statement by name, includes expanded, leading comments dropped
    assert sql.get_user.startswith("SELECT u.user_id, json_build_object('user_id', u.user_id")
    assert "One user" not in sql.get_user and "{{" not in sql.get_user
    assert sql["get_user"].constraints == {"users_pkey": ("user_id", "taken")}
    assert sql.get_user.name == "get_user"
    with pytest.raises(AttributeError, match="no statement named 'nope'"):
        _ = sql.nope


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("SELECT 1\n-- name: a\nSELECT 2", "before the first"),
        ("-- name: a\nSELECT 1\n-- name: a\nSELECT 2", "used twice"),
        ("-- name: a\nSELECT :x::uuid", "CAST"),
        ("-- name: a\nSELECT {{a}}", "includes itself"),
        ("-- name: a\nSELECT {{missing}}", "names no block"),
    ],
)
def test_malformed_files_fail_at_import_with_the_reason(tmp_path, text, problem):
    path = tmp_path / "bad.sql"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        statements.load(path)


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_sql_file_loads_and_casts_parameters_one_way(path):
    loaded = statements.load(path)
    assert loaded, f"{path} holds no statement"
    for name, text in loaded.items():
        assert "{{" not in text, name
        assert not re.search(r"(?<![:\w]):[a-z_]\w*::", text), f"{name}: cast as CAST(:x AS type)"


def test_sql_files_sit_beside_the_code_sam_build_packages():
    # CodeUri is functions/<resource>/ and the layer's Makefile copies shared/: both carry the .sql files
    assert {p.parent.name for p in SQL_FILES} == {"comments", "posts", "stats", "users", "shared"}
