"""The HTTP side shared by the API functions: the resolver, request helpers (identity, the
idempotency key, path ids), JSON responses and the Lambda entry point.

A function module does:

    app = create_app()

    @app.get("/posts/<post_id>")
    def get_post(post_id: str) -> Response:
        ...

    handler = make_handler(app)

Who the caller is lives in `shared.identity`, the error body in `shared.schemas`, JSON
encoding in `shared.jsonio`; this module is what turns them into HTTP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query

from . import caching
from .errors import (
    AppError,
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from .identity import UUID_RE, Identity, identity_from_event
from .jsonio import _bad_text, check_values, json_loads, to_json
from .observability import logger, metrics
from .pagination import CURSOR_DESCRIPTION, CURSOR_PATTERN
from .schemas import MAX_IDEMPOTENCY_KEY
from .settings import get_settings

JSON = content_types.APPLICATION_JSON


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response. A `str` body is sent as is (SQL-built JSON passes through)."""
    text = body if isinstance(body, str) else to_json(body)
    return Response(status_code=status, content_type=JSON, body=text, headers=headers or {})


def error_response(exc: AppError) -> Response:
    return json_response(exc.body(), exc.status)


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


def request_fingerprint(app: APIGatewayHttpResolver, body: Any, *path_ids: str) -> str:
    """What an Idempotency-Key (or a client-chosen id) is bound to: SHA-256 (hex) over the route
    (routeKey: the method and path template, so `/posts/` is `/posts`), the path's ids as the
    route read them (`path_ids`, e.g. a lower-cased UUID) and the body as the route's model read
    it (`body.model_dump(mode="json")`, keys sorted, UTF-8). The same request therefore has one
    fingerprint however its JSON is ordered or spaced and however its UUIDs are cased; a reused
    key with another fingerprint is refused (draft-ietf-httpapi-idempotency-key-header,
    "Idempotency-Key reuse")."""
    event = app.current_event
    route = event.raw_event.get("routeKey") or f"{event.http_method.upper()} {event.raw_event.get('rawPath')}"
    data = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
    canonical = json.dumps(
        {"route": route, "path": list(path_ids), "body": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def one_request_name(key: str | None, client_id: Any, field: str) -> None:
    """An Idempotency-Key and a client-chosen id (`field`) each name a create on their own; sent
    together, a later request under the same key could not be matched to the record the first one
    made under the client's id. 422 naming the field."""
    if key is not None and client_id is not None:
        raise Unprocessable(
            "send either an Idempotency-Key header or a " + field + ", not both",
            [
                {
                    "field": field,
                    "in": "body",
                    "message": "each names the request on its own: retry with the same one you sent first",
                }
            ],
        )


# The `cursor` query parameter of every keyset list: an opaque token from the last page's
# `next_cursor` (shared.pagination).
CursorQuery = Annotated[
    str | None, Query(min_length=1, max_length=512, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
]


def require_uuid(value: str, what: str) -> str:
    """Path ids: a malformed id cannot name anything, so it is simply not found."""
    if not UUID_RE.match(value or ""):
        raise NotFound(f"{what} not found")
    return value.lower()


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

    return app


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


def _request_id(event: Any) -> str | None:
    """API Gateway's request id (`requestContext.requestId`), the logs' correlation id: what
    Powertools' `correlation_paths.API_GATEWAY_HTTP` selects, read without a JMESPath search
    per request. None for events without one (a Cognito trigger)."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return request_id if isinstance(request_id, str) else None


def make_handler(
    app: APIGatewayHttpResolver, extra: Callable[[dict[str, Any], Any], Any] | None = None
) -> Callable[[dict[str, Any], Any], Any]:
    """The Lambda entry point: logging context, metrics, size guard, then routing.

    `extra(event, context)` handles non-HTTP events sent to the same function
    (e.g. a Cognito trigger); it returns NotImplemented for events it does not own.
    """

    @logger.inject_lambda_context(log_event=False)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> Any:
        logger.set_correlation_id(_request_id(event))
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
        # An encoded body (gzip bytes are not UTF-8) is refused for its coding before it is read.
        coding = _encoded_body(event)
        if coding is not None:
            return _plain_error(
                UnsupportedMediaType(
                    f"the request body is encoded ({coding}); send it without a Content-Encoding",
                    [{"field": "Content-Encoding", "in": "header", "message": "only identity is accepted"}],
                )
            )
        if not _body_as_text(event):
            return _plain_error(BadRequest("the request body is not UTF-8 text", code="malformed_body"))
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
