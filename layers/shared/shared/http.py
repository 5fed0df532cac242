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
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .errors import (
    AppError,
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Unauthorized,
    Unprocessable,
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


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]


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


def verified_email(claims: dict[str, Any]) -> str | None:
    """The `email` claim when `email_verified` is true, else None (OpenID Connect Core 5.1)."""
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip() or not claim_is_true(claims.get("email_verified")):
        return None
    return email.strip()


def token_use_of(claims: dict[str, Any]) -> TokenUse:
    use = claims.get("token_use")
    if use in ("id", "access"):
        return use  # type: ignore[return-value]
    return "access" if "client_id" in claims and "aud" not in claims else "id"


def parse_groups(raw: Any) -> frozenset[str]:
    """`cognito:groups` as API Gateway delivers it: "[admin editors]" (or a list, or JSON)."""
    if raw is None:
        return frozenset()
    if isinstance(raw, (list, tuple)):
        return frozenset(str(g) for g in raw if g)
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, list):
                return frozenset(str(g) for g in parsed if g)
        except ValueError:
            pass
        text = text[1:-1]
    return frozenset(g for g in re.split(r"[\s,]+", text) if g)


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


def json_loads(text: str) -> dict[str, Any]:
    """json.loads for request bodies, which are JSON objects on every route.

    What json.loads raises besides JSONDecodeError on hostile input (RecursionError for deep
    nesting, ValueError for an integer of over 4300 digits) becomes a JSONDecodeError too: a 400,
    never a 500. Anything but an object is a 422 (Powertools would validate the first element
    of an array as the body and ignore the rest)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number is too large"
        raise json.JSONDecodeError(reason, "", 0) from None
    if not isinstance(value, dict):
        raise Unprocessable(
            "the request body must be a JSON object", [{"field": "body", "in": "body", "message": "expected an object"}]
        )
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
    except (binascii.Error, UnicodeDecodeError):
        return False
    event["body"], event["isBase64Encoded"] = text, False
    return True


def _json_or_absent(event: dict[str, Any]) -> bool:
    """Bodies are JSON on every route. Powertools would also parse form and multipart bodies (a
    multipart type without a boundary raises ValueError: a 500) and fails on other types."""
    if not event.get("body"):
        return True
    headers = event.get("headers") or {}
    kind = str(headers.get("content-type") or headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    return not kind or kind == "application/json" or kind.endswith("+json")


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
        if not _json_or_absent(event):
            return _plain_error(
                BadRequest(
                    "the request body must be JSON, sent with Content-Type: application/json",
                    [{"field": "Content-Type", "in": "header", "message": "expected application/json"}],
                    code="unsupported_media_type",
                )
            )
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
