"""Typed errors and the one JSON error shape every function answers with.

    {"error": {"code": "not_found", "message": "post not found", "details": []}}

Handlers raise these; `shared.http` turns them into responses. Database errors
are classified by SQLSTATE in `from_db_error`, so a unique violation becomes a
409 with a readable message and never a 500 carrying SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CATALOGUE: dict[str, str] = {
    # The one list of error codes, with what each means. Every function answers with these
    # only (tests/unit/test_errors.py reads the sources for codes not listed here), and
    # openapi.json lists them as the enum of `error.code`.
    "bad_request": "the request cannot be read",
    "malformed_json": "the body is not valid JSON",
    "malformed_body": "the body is not UTF-8 text",
    "invalid_cursor": "the cursor is invalid or belongs to another list; start again without it",
    "unauthorized": "the request carries no verified identity",
    "forbidden": "the caller may not do this",
    "not_registered": "the caller has no user profile yet (register first)",
    "account_inactive": "the caller's account is deactivated",
    "not_found": "no such resource",
    "route_not_found": "no such route",
    "profile_not_found": "no such user profile",
    "conflict": "the resource's state, or a unique value, conflicts with the request",
    "duplicate_id": "the client-chosen id is already used by another resource",
    "reference_error": "a referenced record does not exist",
    "comment_not_editable": "the comment is hidden or deleted and cannot be edited",
    "comment_not_active": "only active comments can be liked",
    "comment_deleted": "a deleted comment can be neither hidden nor unhidden",
    "post_archived": "the post is archived",
    "precondition_failed": "If-Match names another version of the resource",
    "payload_too_large": "the body is larger than the limit",
    "unsupported_media_type": "the body is not JSON",
    "validation_error": "a field is missing, malformed or out of range (details name it)",
    "idempotency_key_reused": "the Idempotency-Key was already used with a different request",
    "internal_error": "an unexpected error; the request was logged",
    "service_unavailable": "a dependency is unavailable; try again",
    "database_unavailable": "the database is unavailable; try again",
    "timeout": "the statement took too long; try again",
    "busy": "the record is locked by another request; try again",
    "read_only": "the database is read-only right now (failover); try again",
    "unhealthy": "a health check failed",
}

ConstraintMessages = Mapping[str, tuple[str, str]]
"""Readable (field, message) per named constraint, given by the statements that can violate it."""


class AppError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PreconditionFailed(AppError):
    status, code = 412, "precondition_failed"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(AppError):
    status, code = 422, "validation_error"


class ServiceUnavailable(AppError):
    status, code = 503, "service_unavailable"


class StaleVersion(PreconditionFailed):
    """The record changed since the version the client named (its If-Match ETag)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the {what} changed since you read it; fetch it again and retry",
            [{"field": "If-Match", "message": "stale ETag"}],
        )


class InvalidCursor(BadRequest):
    """A `cursor` query parameter that does not decode, or belongs to another list: another route,
    path or set of filters (shared.pagination.cursor_kind)."""

    def __init__(self) -> None:
        super().__init__(
            "the cursor is invalid or belongs to another list; start again without it",
            [{"field": "cursor", "message": "invalid cursor"}],
            code="invalid_cursor",
        )


class NotRegistered(Forbidden):
    """The caller is signed in but has no user profile yet."""

    def __init__(self) -> None:
        super().__init__("register first: your account has no active user profile", code="not_registered")


class AccountInactive(Forbidden):
    """The caller's user profile is deactivated."""

    def __init__(self) -> None:
        super().__init__("your account is deactivated", code="account_inactive")


class IdempotencyKeyReused(Unprocessable):
    """A key already used with a different request: the Idempotency-Key header, or a
    client-chosen id (`post_id`, `comment_id` in the body), which names a record the same way."""

    def __init__(self, field: str = "Idempotency-Key", where: str = "header") -> None:
        super().__init__(
            f"this {field} was already used with a different request; use a new one for a new request",
            [{"field": field, "in": where, "message": "already used with another payload"}],
            code="idempotency_key_reused",
        )


# SQLSTATE classes and codes we answer specifically.
_CONNECTION_CLASSES = ("08", "57", "53")  # connection exception, operator intervention, resources
_AUTH_CLASS = "28"


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a pg8000 DatabaseError, else None."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], dict):
        code = args[0].get("C")
        return code if isinstance(code, str) else None
    return None


def is_connection_failure(exc: BaseException) -> bool:
    """The connection is unusable (network error, backend terminated, server shutting down)."""
    from pg8000.exceptions import InterfaceError

    if isinstance(exc, (InterfaceError, OSError)):
        return True
    code = sqlstate(exc)
    return code is not None and code[:2] in ("08", "57") and code != "57014"


def is_auth_failure(exc: BaseException) -> bool:
    code = sqlstate(exc)
    return code is not None and code.startswith(_AUTH_CLASS)


def _constraint(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], dict):
        return str(args[0].get("n", ""))
    return ""


def from_db_error(exc: BaseException, constraints: ConstraintMessages | None = None) -> AppError:
    """Map a driver error to an AppError. Never leaks SQL or server messages.

    `constraints` are the readable messages of the statement that failed (see
    `shared.statements`); a constraint not named there gets the generic message."""
    code = sqlstate(exc) or ""
    constraint = _constraint(exc)
    field, message = (constraints or {}).get(constraint, ("", ""))
    details = [{"field": field, "message": message}] if field else []
    if code == "23505":
        return Conflict(message or "a record with these values already exists", details, code="conflict")
    if code == "23503":
        return Conflict(message or "a referenced record does not exist", details, code="reference_error")
    if code in ("23514", "23502", "22001", "22003", "22007", "22008", "22P02", "22P05", "22023", "22021", "2201X"):
        return Unprocessable(message or "a value is out of range or malformed", details)
    if code == "57014":
        return ServiceUnavailable("the request took too long; try again", code="timeout")
    if code in ("55P03", "40001", "40P01"):
        return ServiceUnavailable("the record is busy; try again", code="busy")
    if code == "25006":
        return ServiceUnavailable("the database is read-only right now; try again", code="read_only")
    if is_connection_failure(exc) or code[:2] in _CONNECTION_CLASSES or code.startswith(_AUTH_CLASS):
        return ServiceUnavailable("the database is unavailable; try again", code="database_unavailable")
    return AppError("internal error")
