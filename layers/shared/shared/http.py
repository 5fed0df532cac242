"""HTTP plumbing shared by the API functions: the resolver, identity, errors,
JSON responses, ETags and the Lambda entry point.

A function module does:

    app = create_app()

    @app.get("/posts/<post_id>")
    def get_post(post_id: str) -> Response:
        ...

    handler = make_handler(app)

Identity comes only from `requestContext.authorizer.jwt.claims`, which API
Gateway fills after its JWT authorizer verified the token. On a public route
there is no authorizer, so a caller is anonymous even if it sends a token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from . import caching
from .errors import (
    AppError,
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from .observability import logger, metrics
from .settings import get_settings

JSON = content_types.APPLICATION_JSON
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# -- the one error body ---------------------------------------------------------------
class ErrorDetail(BaseModel):
    """One problem with the request: which field (and where), and what is wrong with it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    field: str | None = None
    message: str
    in_: str | None = Field(default=None, alias="in")


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    """Every error answer of every function: `{"error": {"code", "message", "details"}}`."""

    error: ErrorInfo


# Response models document the API (openapi.json) and are never used to validate at run time: the
# responses are JSON built by SQL. Their build is deferred to first use, which keeps it out of cold start.
DOCS_ONLY = ConfigDict(defer_build=True)


class AuthorSummary(BaseModel):
    """The author embedded in posts and comments."""

    model_config = DOCS_ONLY

    user_id: UUID
    username: str
    first_name: str | None = None
    last_name: str | None = None
    profile_image_url: str | None = None


def json_doc(model: Any, description: str) -> dict[str, Any]:
    """An OpenAPI response entry for a route: Powertools registers `model` (and what it nests)."""
    return {"description": description, "content": {"application/json": {"model": model}}}


# -- JSON -----------------------------------------------------------------------------
def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value) if isinstance(value, UUID) else (int(value) if value == value.to_integral() else float(value))
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response. A `str` body is sent as is (SQL-built JSON passes through)."""
    text = body if isinstance(body, str) else to_json(body)
    return Response(status_code=status, content_type=JSON, body=text, headers=headers or {})


def error_response(exc: AppError) -> Response:
    return json_response(exc.body(), exc.status)


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


# -- identity -------------------------------------------------------------------------
TokenUse = Literal["id", "access"]


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller as the JWT authorizer verified it.

    `email` is the address only when the issuer vouches for it: an ID token whose
    `email_verified` claim is "true" (API Gateway passes every claim as a string).
    An unverified address, or a token without one (an access token), gives None.
    `token_use` is "id" or "access": Cognito's `token_use` claim, or, for another
    issuer, "access" when the token names a `client_id` and no `aud` (RFC 9068).
    """

    sub: str
    email: str | None
    groups: frozenset[str]
    token_use: TokenUse = "id"  # noqa: S105 - the `token_use` claim, not a credential

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups

    def can_act_for(self, user_id: str) -> bool:
        return self.is_admin or self.sub == user_id


def claim_is_true(value: Any) -> bool:
    """A boolean claim as API Gateway delivers it: the string "true" (or a JSON true)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# An address as a mailbox can carry it: one @, a dotted domain, no spaces or control
# characters, at most 254 characters (RFC 5321 §4.5.3.1.3 path limit less the brackets).
_EMAIL_CLAIM = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")


def verified_email(claims: dict[str, Any]) -> str | None:
    """The `email` claim when `email_verified` is true (OpenID Connect Core 5.1), else None.

    A claim that cannot be an address (no @, a line break, a lone surrogate, over 254
    characters) binds nothing either: the issuer is trusted to verify, not to format."""
    email = claims.get("email")
    if not isinstance(email, str) or not claim_is_true(claims.get("email_verified")):
        return None
    email = email.strip()
    if len(email) > 254 or not _EMAIL_CLAIM.match(email) or _SURROGATE.search(email):
        return None
    return email


def token_use_of(claims: dict[str, Any]) -> TokenUse:
    """`id` or `access`. Cognito names it (`token_use`). For another issuer, a JWT access token
    carries `client_id` (required by RFC 9068 §2.2, besides `aud`) or a `scope`; an OpenID
    Connect ID token carries neither."""
    use = claims.get("token_use")
    if use in ("id", "access"):
        return use  # type: ignore[return-value]
    if use is not None or "client_id" in claims or "scope" in claims or "scp" in claims:
        return "access"  # an unknown token_use (e.g. refresh) binds no address either
    return "id"


def parse_groups(raw: Any) -> frozenset[str]:
    """`cognito:groups` as API Gateway's HTTP API delivers an array claim: "[admin editors]",
    names separated by spaces (a Cognito group name holds no whitespace). Nothing else splits a
    name: "editors,admin" or "\"admin\"" is one group, not admin. A list (a test or the local
    stack passing claims unflattened) is taken as it is."""
    if raw is None:
        return frozenset()
    if isinstance(raw, (list, tuple)):
        return frozenset(str(g) for g in raw if g)
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return frozenset(text.split())


def identity_from_event(event: dict[str, Any]) -> Identity | None:
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    sub = claims.get("sub")
    if not isinstance(sub, str) or not UUID_RE.match(sub):
        return None
    use = token_use_of(claims)
    return Identity(
        sub=sub.lower(),
        email=verified_email(claims) if use == "id" else None,
        groups=parse_groups(claims.get("cognito:groups")),
        token_use=use,
    )


def current_identity(app: APIGatewayHttpResolver) -> Identity | None:
    return identity_from_event(app.current_event.raw_event)


def require_identity(app: APIGatewayHttpResolver) -> Identity:
    who = current_identity(app)
    if who is None:
        raise Unauthorized("sign in to do this: the request carries no verified identity")
    return who


def require_admin(app: APIGatewayHttpResolver) -> Identity:
    who = require_identity(app)
    if not who.is_admin:
        raise Forbidden("only administrators can do this")
    return who


MAX_IDEMPOTENCY_KEY = 200


def idempotency_key(app: APIGatewayHttpResolver) -> str | None:
    """The request's `Idempotency-Key` header (1-200 printable ASCII characters), if it has one.

    Creates use it to make a retry find the record the first attempt made.
    """
    key = app.current_event.headers.get("idempotency-key")
    if key is None:
        return None
    if not (1 <= len(key) <= MAX_IDEMPOTENCY_KEY) or not key.isascii() or not key.isprintable():
        raise Unprocessable(
            "the Idempotency-Key header is invalid",
            [
                {
                    "field": "Idempotency-Key",
                    "in": "header",
                    "message": f"1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters",
                }
            ],
        )
    return key


def request_fingerprint(app: APIGatewayHttpResolver) -> str:
    """What an Idempotency-Key is bound to: SHA-256 (hex) over the method, the path (as routed)
    and the body as canonical JSON (keys sorted, no insignificant whitespace, UTF-8), so the same
    JSON sent with other key order or spacing is the same request. A reused key with another
    fingerprint is refused (draft-ietf-httpapi-idempotency-key-header, "Idempotency-Key reuse")."""
    event = app.current_event
    body = event.raw_event.get("body")
    parsed = json_loads(body) if body else None
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = f"{event.http_method.upper()} {event.raw_event.get('rawPath')}\n{canonical}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_reused(field: str = "Idempotency-Key", where: str = "header") -> Unprocessable:
    """422 for a key already used with a different request: the Idempotency-Key header, or a
    client-chosen id (`post_id`, `comment_id` in the body), which names a record the same way."""
    return Unprocessable(
        f"this {field} was already used with a different request; use a new one for a new request",
        [{"field": field, "in": where, "message": "already used with another payload"}],
        code="idempotency_key_reused",
    )


def require_uuid(value: str, what: str) -> str:
    """Path ids: a malformed id cannot name anything, so it is simply not found."""
    if not UUID_RE.match(value or ""):
        raise NotFound(f"{what} not found")
    return value.lower()


# -- ETags ----------------------------------------------------------------------------
def etag_of(*parts: Any) -> str:
    raw = "|".join(str(p) for p in parts).encode()
    return '"' + base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode() + '"'


def check_if_match(app: APIGatewayHttpResolver, current: str) -> None:
    """412 when If-Match names another version. No If-Match: last write wins."""
    header = app.current_event.headers.get("if-match")
    if header is None:
        return
    wanted = {t.strip().removeprefix("W/") for t in header.split(",")}
    if "*" not in wanted and current not in wanted:
        raise PreconditionFailed(
            "the resource changed since you read it; fetch it again and retry",
            [{"field": "If-Match", "message": "stale ETag"}],
        )


# -- the resolver ---------------------------------------------------------------------
def _field(loc: Any) -> str:
    parts = [str(p) for p in (loc or ()) if p not in ("body",)]
    return ".".join(parts) or "body"


def _validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    details = []
    for err in errors:
        loc = tuple(err.get("loc") or ())
        msg = str(err.get("msg") or "invalid value")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field: it cannot be set here"
        elif err.get("type") == "missing":
            msg = "this field is required"
        where = loc[0] if loc else "body"
        details.append(
            {
                "field": _field(loc[1:] if where in ("query", "path", "header") else loc),
                "in": str(where),
                "message": msg,
            }
        )
    return details


class _Refused:
    """A JSON number json.loads would have turned into something else: NaN/Infinity, a number
    beyond the float range (inf) or one that underflows to 0.0. Found and named by `check_values`."""

    __slots__ = ("text", "underflow")

    def __init__(self, text: str, underflow: bool = False) -> None:
        self.text = text
        self.underflow = underflow


_NONZERO_MANTISSA = re.compile(r"^[+-]?0*\.?0*[1-9]")


def _parse_float(text: str) -> float | _Refused:
    value = float(text)
    if math.isinf(value):
        return _Refused(text)
    if value == 0.0 and _NONZERO_MANTISSA.match(text):
        return _Refused(text, underflow=True)
    return value


def _bad_text(text: str) -> str | None:
    """Why `text` cannot be stored (PostgreSQL text is UTF-8 without NUL), or None."""
    if "\x00" in text:
        return "NUL characters (\\u0000) are not allowed: PostgreSQL text cannot store them"
    if _SURROGATE.search(text):
        return "a lone UTF-16 surrogate (\\ud800-\\udfff) is not a character: send valid Unicode"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _path(parent: str, key: Any) -> str:
    name = str(key).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
    return f"{parent}.{name}" if parent else name


def check_values(value: Any, where: str = "body") -> None:
    """Unprocessable (422) naming the first value, at any depth, that JSON allows and the
    database or the API refuses: a string or object key with NUL or a lone surrogate, NaN,
    Infinity, a number beyond the float range or one that underflows to 0 (1e-400).

    Fields are named by their path: `metadata.k`, `tags.2`. Iterative, so depth costs no stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        problem: str | None = None
        if isinstance(item, str):
            problem = _bad_text(item)
        elif isinstance(item, _Refused):
            problem = (
                f"{item.text} underflows to 0 in a IEEE 754 double: send 0 or a number of at least 5e-324"
                if item.underflow
                else f"{item.text} is not a finite number: JSON numbers lie within ±1.7976931348623157e308"
            )
        elif isinstance(item, dict):
            for key, child in item.items():
                key_problem = _bad_text(key)
                if key_problem:
                    raise Unprocessable(
                        "the request contains a value that cannot be stored",
                        [{"field": _path(path, key), "in": where, "message": "object key: " + key_problem}],
                    )
                stack.append((_path(path, key), child))
        elif isinstance(item, list):
            stack.extend((_path(path, i), child) for i, child in enumerate(item))
        if problem:
            raise Unprocessable(
                "the request contains a value that cannot be stored",
                [{"field": path or where, "in": where, "message": problem}],
            )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose names are unique (RFC 8259 §4: with duplicates, "the behavior of software
    that receives such an object is unpredictable"): a repeated name is a 422, not "last one wins"."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise Unprocessable(
            "the request body names a field twice",
            [{"field": _path("", repeated), "in": "body", "message": "this name appears more than once in its object"}],
        )
    return value


def json_loads(text: str) -> dict[str, Any]:
    """json.loads for request bodies, which are JSON objects on every route.

    What json.loads raises besides JSONDecodeError on hostile input (RecursionError for deep
    nesting, ValueError for an integer of over 4300 digits) becomes a JSONDecodeError too: a 400,
    never a 500. Anything but an object is a 422 (Powertools would validate the first element
    of an array as the body and ignore the rest), and so is any value `check_values` refuses and
    an object that names a field twice.
    Integers of any size up to 4300 digits are accepted (jsonb stores them as numeric); a route's
    own model bounds the ones it uses."""
    try:
        value = json.loads(text, parse_float=_parse_float, parse_constant=_Refused, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number is too large"
        raise json.JSONDecodeError(reason, "", 0) from None
    if not isinstance(value, dict):
        raise Unprocessable(
            "the request body must be a JSON object", [{"field": "body", "in": "body", "message": "expected an object"}]
        )
    check_values(value)
    return value


class _RequestState(threading.local):
    def __init__(self) -> None:
        self.event: Any = None
        self.lambda_context: Any = None
        self.context: dict[str, Any] = {}
        self.frames: list[str] = []


def _thread_safe(app: APIGatewayHttpResolver) -> APIGatewayHttpResolver:
    """Keep Powertools' per-request state per thread.

    The resolver stores the current event on its base class
    (`BaseRouter.current_event`) and the matched route in `app.context`: one
    request at a time per process. That is all Lambda ever does, but the local
    stack and the concurrency tests run handlers in threads, where a request
    would read another one's identity. Reads go to thread-local state instead;
    in Lambda (one request at a time) nothing changes.
    """
    state = _RequestState()
    base = type(app)

    def resolve(self: Any, event: Any, context: Any) -> Any:
        state.event = self._to_proxy_event(event)
        state.lambda_context = context
        return base.resolve(self, event, context)

    def set_context(self: Any, value: dict[str, Any]) -> None:
        state.context = value

    app.__class__ = type(
        "ThreadSafe" + base.__name__,
        (base,),
        {
            "resolve": resolve,
            "current_event": property(lambda self: state.event),
            "lambda_context": property(lambda self: state.lambda_context),
            "context": property(lambda self: state.context, set_context),
            "processed_stack_frames": property(lambda self: state.frames, lambda self, v: None),
        },
    )
    return app


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, serializer=to_json, json_body_deserializer=json_loads)

    @app.exception_handler(AppError)
    def _app_error(exc: AppError) -> Response:
        if exc.status >= 500:
            logger.warning(
                "request failed", extra={"code": exc.code, "error": exc.message, "cause": repr(exc.__cause__)}
            )
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(BadRequest("the request body is not valid JSON", code="malformed_json"))
        return error_response(Unprocessable("the request is invalid", _validation_details(errors)))

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return error_response(NotFound("no such route", code="route_not_found"))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(AppError("internal error; the request was logged"))

    return _thread_safe(app)


def _body_too_large(event: dict[str, Any], limit: int) -> bool:
    body = event.get("body")
    if not body:
        return False
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8", "surrogatepass"))
    return size > limit


def _body_as_text(event: dict[str, Any]) -> bool:
    """Decode a base64 body (API Gateway encodes what it takes for binary) once, here: False if
    it is not UTF-8 text, which no route accepts (Powertools would raise UnicodeDecodeError)."""
    body = event.get("body")
    if not body or not event.get("isBase64Encoded"):
        return True
    try:
        text = base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text where base64 was promised
        return False
    event["body"], event["isBase64Encoded"] = text, False
    return True


_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"^({_TCHARS})/({_TCHARS})$")
_JSON_SUBTYPE = re.compile(r"^(json|[!#$%&'*.^_`|~0-9a-z-][!#$%&'*+.^_`|~0-9a-z-]*\+json)$")


def is_json_media_type(header: str) -> bool:
    """True for `application/json` and the `application/*+json` types (RFC 6839 §3.1, e.g.
    application/merge-patch+json), compared case-insensitively with any parameters
    (RFC 9110 §8.3.1); a `charset` parameter, if any, must be UTF-8 (RFC 8259 §8.1).

    API Gateway joins a repeated header with commas: that is JSON only when every value is."""
    values = [v.strip() for v in header.split(",")]
    for value in values:
        kind, _, params = value.partition(";")
        match = _MEDIA_TYPE.match(kind.strip())
        if not match or match[1].lower() != "application" or not _JSON_SUBTYPE.match(match[2].lower()):
            return False
        for param in params.split(";"):
            name, _, val = param.partition("=")
            if name.strip().lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
                return False
    return True


def _normalize_content_type(event: dict[str, Any]) -> bool:
    """Bodies are JSON on every route. Rewrites the event's Content-Type (whatever its name's case)
    to plain `application/json` for a JSON media type, which is what Powertools compares against
    literally, and drops it when there is no body. False for a body of another media type (415).

    A body without a Content-Type is read as JSON: API Gateway may omit it and the API speaks only
    JSON (RFC 9110 §8.3 lets a recipient examine the content when the type is absent)."""
    headers = event.get("headers")
    if not isinstance(headers, dict):
        headers = event["headers"] = {}
    values = [str(headers.pop(name)) for name in [k for k in headers if str(k).lower() == "content-type"]]
    header = ",".join(v for v in values if v.strip())
    if not event.get("body"):
        return True
    if header and not is_json_media_type(header):
        return False
    headers["content-type"] = JSON
    return True


def _encoded_body(event: dict[str, Any]) -> str | None:
    """The Content-Encoding of a body, when it is not `identity`: no route decodes gzip, br or any
    other coding, so such a body is a 415 (RFC 9110 §15.5.16) rather than text read as JSON."""
    if not event.get("body"):
        return None
    headers = event.get("headers") or {}
    codings = [str(v) for k, v in headers.items() if str(k).lower() == "content-encoding"]
    named = {c.strip().lower() for v in codings for c in v.split(",")} - {"", "identity"}
    return ", ".join(sorted(named)) or None


def _normalize_path(event: dict[str, Any]) -> None:
    """Serve `/posts/` as `/posts`: API Gateway hands a trailing-slash request to the route without
    it (routeKey `GET /posts`, rawPath `/posts/`), and Powertools matches rawPath literally."""
    raw = event.get("rawPath")
    if isinstance(raw, str) and len(raw) > 1 and raw.endswith("/"):
        event["rawPath"] = raw.rstrip("/") or "/"


def _check_parameters(event: dict[str, Any]) -> None:
    """Query and path parameters arrive decoded: the same 422 as for bodies when one carries NUL
    or a lone surrogate (names included), before any handler or the database sees it."""
    for where, key in (("query", "queryStringParameters"), ("path", "pathParameters")):
        params = event.get(key)
        if isinstance(params, dict):
            check_values({str(k): v for k, v in params.items()}, where)
    raw = event.get("rawPath")
    if isinstance(raw, str) and _bad_text(raw):
        raise Unprocessable(
            "the request path cannot be read", [{"field": "path", "in": "path", "message": str(_bad_text(raw))}]
        )


def make_handler(
    app: APIGatewayHttpResolver, extra: Callable[[dict[str, Any], Any], Any] | None = None
) -> Callable[[dict[str, Any], Any], Any]:
    """The Lambda entry point: logging context, metrics, size guard, then routing.

    `extra(event, context)` handles non-HTTP events sent to the same function
    (e.g. a Cognito trigger); it returns NotImplemented for events it does not own.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> Any:
        result = serve(event, context)
        if "routeKey" in event and isinstance(result, dict) and "statusCode" in result:
            return caching.apply(event, result)  # Cache-Control, ETag, 304 (shared/caching.py)
        return result

    def serve(event: dict[str, Any], context: Any) -> Any:
        settings = get_settings()  # parsed once per container, on the first invocation
        metrics.set_default_dimensions(Stage=settings.stage)
        if extra is not None and "routeKey" not in event:
            result = extra(event, context)
            if result is not NotImplemented:
                return result
        limit = settings.max_body_bytes
        if _body_too_large(event, limit):
            return _plain_error(PayloadTooLarge(f"the request body is larger than {limit // 1024} KB"))
        if not _body_as_text(event):
            return _plain_error(BadRequest("the request body is not UTF-8 text", code="malformed_body"))
        coding = _encoded_body(event)
        if coding is not None:
            return _plain_error(
                UnsupportedMediaType(
                    f"the request body is encoded ({coding}); send it without a Content-Encoding",
                    [{"field": "Content-Encoding", "in": "header", "message": "only identity is accepted"}],
                )
            )
        if not _normalize_content_type(event):
            return _plain_error(
                UnsupportedMediaType(
                    "the request body must be JSON, sent with Content-Type: application/json",
                    [
                        {
                            "field": "Content-Type",
                            "in": "header",
                            "message": "expected application/json (or an application/*+json type)",
                        }
                    ],
                )
            )
        _normalize_path(event)
        try:
            _check_parameters(event)
        except AppError as exc:
            return _plain_error(exc)
        return app.resolve(event, context)

    return handler


def _plain_error(exc: AppError) -> dict[str, Any]:
    """An API Gateway v2 proxy result without going through the resolver."""
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": JSON},
        "body": to_json(exc.body()),
        "isBase64Encoded": False,
    }
