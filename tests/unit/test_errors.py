import re
from pathlib import Path

import pytest
from pg8000.exceptions import DatabaseError, InterfaceError

from shared import errors


def db_error(code: str, constraint: str = "") -> DatabaseError:
    return DatabaseError({"S": "ERROR", "C": code, "M": "secret server text with SQL", "n": constraint})


@pytest.mark.parametrize(
    ("code", "cls", "status"),
    [
        ("23505", errors.Conflict, 409),
        ("23503", errors.Conflict, 409),
        ("23514", errors.Unprocessable, 422),
        ("22P02", errors.Unprocessable, 422),
        ("57014", errors.ServiceUnavailable, 503),
        ("57P01", errors.ServiceUnavailable, 503),
        ("08006", errors.ServiceUnavailable, 503),
        ("40001", errors.ServiceUnavailable, 503),
        ("28P01", errors.ServiceUnavailable, 503),
        ("42601", errors.AppError, 500),
    ],
)
def test_sqlstate_mapping(code, cls, status):
    mapped = errors.from_db_error(db_error(code))
    assert type(mapped) is cls and mapped.status == status
    assert "SQL" not in mapped.message and "secret" not in mapped.message


def test_interface_error_is_503():
    assert errors.from_db_error(InterfaceError("network error")).status == 503


def test_named_constraint_gets_the_readable_message_its_statement_gives():
    # Given the messages a statement carries for its constraints
    messages = {"probe_key": ("username", "this username is taken")}
    # When that constraint is violated
    mapped = errors.from_db_error(db_error("23505", "probe_key"), messages)
    # Then the answer names the field and says why, in words
    assert mapped.body() == {
        "error": {
            "code": "conflict",
            "message": "this username is taken",
            "details": [{"field": "username", "message": "this username is taken"}],
        }
    }
    # and without the statement's messages the answer is the generic one (nothing global)
    assert errors.from_db_error(db_error("23505", "probe_key")).details == []


CODE_IN_SOURCE = re.compile(
    r'code\s*=\s*"([a-z_]+)"'  # code="not_found", code = "internal_error"
    r'|status, code = \d+, "([a-z_]+)"'  # status, code = 404, "not_found"
)


def test_every_error_code_the_sources_raise_is_in_the_catalogue():
    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("functions/*/*.py"), *root.glob("layers/shared/shared/*.py")]
    found = {
        next(g for g in m.groups() if g): path.relative_to(root)
        for path in sources
        for m in CODE_IN_SOURCE.finditer(path.read_text(encoding="utf-8"))
    }
    assert len(found) > 20, "the pattern no longer finds the codes the sources raise"
    missing = {code: str(path) for code, path in found.items() if code not in errors.CATALOGUE}
    assert not missing, f"add these codes, with their meaning, to shared.errors.CATALOGUE: {missing}"


def test_not_registered_is_one_code_everywhere():
    assert errors.NotRegistered().code == "not_registered"
    assert "registration_required" not in errors.CATALOGUE


def test_connection_failure_classification():
    assert errors.is_connection_failure(InterfaceError("x"))
    assert errors.is_connection_failure(db_error("57P01"))
    assert not errors.is_connection_failure(db_error("57014"))  # statement timeout: the connection is fine
    assert not errors.is_connection_failure(db_error("23505"))
    assert errors.is_auth_failure(db_error("28P01")) and not errors.is_auth_failure(db_error("08006"))
