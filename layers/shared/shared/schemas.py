"""Shapes shared by every function's OpenAPI document and validation: the error body (with the
catalogue of codes), the embedded author, request datetimes, and the response-entry helpers.

Response models document the API (openapi.json) and are never used to validate at run time:
the responses are JSON built by SQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from .errors import CATALOGUE


# -- the one error body ---------------------------------------------------------------
class ErrorDetail(BaseModel):
    """One problem with the request: which field (and where), and what is wrong with it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    field: str | None = None
    message: str
    in_: str | None = Field(default=None, alias="in")


class ErrorInfo(BaseModel):
    code: str = Field(
        description="What went wrong, for programs. One of: "
        + "; ".join(f"`{code}`: {meaning}" for code, meaning in CATALOGUE.items())
        + ".",
        json_schema_extra={"enum": list(CATALOGUE)},
    )
    message: str
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    """Every error answer of every function: `{"error": {"code", "message", "details"}}`."""

    error: ErrorInfo


# Their build is deferred to first use, which keeps it out of cold start.
DOCS_ONLY = ConfigDict(defer_build=True)


class AuthorSummary(BaseModel):
    """The author embedded in posts and comments."""

    model_config = DOCS_ONLY

    user_id: UUID
    username: str
    first_name: str | None = None
    last_name: str | None = None
    profile_image_url: str | None = None


# The headers the API documents, described once. Request headers a route reads are named in its
# decorator (`openapi_extensions=reads_headers(...)`), response headers in its `json_doc(...)`.
MAX_IDEMPOTENCY_KEY = 200
REQUEST_HEADERS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {
        "description": "A key you choose that names this create: the same request again replays it (200); "
        "another request under the same key is 422 `idempotency_key_reused` "
        "(draft-ietf-httpapi-idempotency-key-header). Not together with a client-chosen id.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY, "pattern": "^[ -~]+$"},
    },
    "If-Match": {
        "description": "The ETag you read: the change applies only to that version of the post (412 for "
        "another; `*` for any version). Compared strongly (RFC 9110 §13.1.1).",
        "schema": {"type": "string"},
    },
}
RESPONSE_HEADERS: dict[str, str] = {
    "ETag": "The post's content version, for If-Match (a new one after every edit).",
    "Location": "The created resource's path, relative to the API's base URL.",
    "Link": 'The published post\'s canonical address (rel="canonical"), percent-encoded.',
    "Content-Location": "The canonical, percent-encoded path of the post read by its slug.",
}


def reads_headers(*names: str) -> dict[str, Any]:
    """A route's `openapi_extensions`: the request headers it reads (keys of REQUEST_HEADERS),
    turned into header parameters when openapi.json is assembled."""
    unknown = set(names) - set(REQUEST_HEADERS)
    if unknown:
        raise KeyError(f"undocumented request headers: {sorted(unknown)}")
    return {"x-request-headers": list(names)}


def json_doc(model: Any, description: str, headers: tuple[str, ...] = ()) -> dict[str, Any]:
    """An OpenAPI response entry for a route: Powertools registers `model` (and what it nests);
    `headers` names the response headers it carries (keys of RESPONSE_HEADERS)."""
    doc: dict[str, Any] = {"description": description, "content": {"application/json": {"model": model}}}
    if headers:
        doc["headers"] = {h: {"description": RESPONSE_HEADERS[h], "schema": {"type": "string"}} for h in headers}
    return doc


ERROR_MEANINGS: dict[int, str] = {
    400: "Malformed JSON or an invalid cursor.",
    401: "No verified identity.",
    403: "Not allowed (not the owner, not an administrator, or not registered).",
    404: "No such resource.",
    409: "The resource's state does not allow this, or a unique value is taken.",
    412: "If-Match names another version.",
    422: "Invalid input; `details` name each field.",
    503: "A dependency is unavailable; try again.",
}


def error_docs(*statuses: int, meanings: dict[int, str] | None = None) -> dict[int, dict[str, Any]]:
    """OpenAPI response entries for error statuses, each with the one error body.

    422 is always listed: it replaces Powertools' default 422, whose body shape is not ours.
    A function may word a status its own way through `meanings`."""
    text = {**ERROR_MEANINGS, **(meanings or {})}
    return {status: json_doc(ErrorBody, text[status]) for status in sorted({*statuses, 422})}


# -- query parameter types ------------------------------------------------------------
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _iso_text(value: Any) -> Any:
    # Pydantic also reads a bare number as Unix time ("0.5" is 1970-01-01T00:00:00.5Z):
    # the document promises ISO 8601, so a number is refused like any other malformed date.
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.match(value.strip())):
        raise ValueError("an ISO 8601 date and time is expected, e.g. 2026-11-23T12:00:00Z")
    return value


# Every timestamp the API accepts lies in this range once converted to UTC: Python's datetime
# (years 1-9999, https://docs.python.org/3/library/datetime.html#datetime.MINYEAR) is the narrower
# of the two; PostgreSQL's timestamptz holds 4713 BC to 294276 AD
# (https://www.postgresql.org/docs/current/datatype-datetime.html), so whatever passes fits it.
MIN_UTC = datetime.min.replace(tzinfo=UTC)
MAX_UTC = datetime.max.replace(tzinfo=UTC)
DATETIME_RANGE = f"{MIN_UTC.isoformat()} .. {MAX_UTC.isoformat()}"


def utc_datetime(value: datetime) -> datetime:
    """`value` in UTC (no offset is read as UTC); ValueError when the conversion leaves the range
    above, e.g. 9999-12-31T23:59:59-01:00 (Python would raise OverflowError)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"outside the supported range {DATETIME_RANGE} once converted to UTC") from None


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(utc_datetime)]
"""An ISO 8601 date and time, returned in UTC; refused (422 naming the field) outside
DATETIME_RANGE. The one type for every datetime parameter and body field."""
