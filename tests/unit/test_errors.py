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


def test_named_constraint_gets_a_readable_message():
    errors.CONSTRAINT_MESSAGES["probe_key"] = ("username", "this username is taken")
    try:
        mapped = errors.from_db_error(db_error("23505", "probe_key"))
        assert mapped.body() == {
            "error": {
                "code": "conflict",
                "message": "this username is taken",
                "details": [{"field": "username", "message": "this username is taken"}],
            }
        }
    finally:
        del errors.CONSTRAINT_MESSAGES["probe_key"]


def test_connection_failure_classification():
    assert errors.is_connection_failure(InterfaceError("x"))
    assert errors.is_connection_failure(db_error("57P01"))
    assert not errors.is_connection_failure(db_error("57014"))  # statement timeout: the connection is fine
    assert not errors.is_connection_failure(db_error("23505"))
    assert errors.is_auth_failure(db_error("28P01")) and not errors.is_auth_failure(db_error("08006"))
