"""Typed errors and the one JSON error shape every function answers with.

    {"error": {"code": "not_found", "message": "post not found", "details": []}}

Handlers raise these; `shared.http` turns them into responses. Database errors
are classified by SQLSTATE in `from_db_error`, so a unique violation becomes a
409 with a readable message and never a 500 carrying SQL text.
"""

from __future__ import annotations

from typing import Any


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


# Readable messages for named constraints; the fallback is generic on purpose.
CONSTRAINT_MESSAGES: dict[str, tuple[str, str]] = {}


def from_db_error(exc: BaseException) -> AppError:
    """Map a driver error to an AppError. Never leaks SQL or server messages."""
    code = sqlstate(exc) or ""
    constraint = _constraint(exc)
    field, message = CONSTRAINT_MESSAGES.get(constraint, ("", ""))
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
