"""What API Gateway (HTTP API, payload format 2.0) does around a Lambda integration.

* `Router`: route selection as API Gateway does it (the most specific route
  wins: a literal segment beats a {param}, which beats a {greedy+}).
* `build_event`: the v2.0 event from a raw HTTP request: routeKey, rawPath,
  rawQueryString, queryStringParameters (repeated keys joined with commas),
  pathParameters (URL-decoded), lower-cased headers (repeated ones joined with
  commas), cookies, body (base64 for non-text content types), requestContext.
* `to_http`: the function's result as an HTTP response (statusCode, headers,
  multiValueHeaders, cookies, base64 bodies; anything without a statusCode is
  returned as 200 JSON, as the 2.0 format's simple responses are).
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from devstack.template import ACCOUNT_ID, Route

API_ID = "localapi01"
TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded|graphql|yaml|x-yaml))$"
)
NOT_FOUND = {"message": "Not Found"}
# The methods an HTTP API route can have (AWS::ApiGatewayV2::Route RouteKey; ANY stands for these).
HTTP_API_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
METHOD_NOT_ALLOWED = {"message": "Method Not Allowed"}
UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}
INTERNAL_ERROR = {"message": "Internal Server Error"}
TOO_LARGE = {"message": "Request Entity Too Large"}
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


# -- routing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Compiled:
    route: Route
    segments: tuple[str, ...]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 {param}, 2 {greedy+}


@dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class WrongMethod:
    allowed: tuple[str, ...]


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return 2
    if segment.startswith("{") and segment.endswith("}"):
        return 1
    return 0


class Router:
    def __init__(self, routes: list[Route]):
        compiled = []
        for r in routes:
            if r.path == "$default":
                continue
            segments = tuple(r.path.strip("/").split("/")) if r.path.strip("/") else ()
            compiled.append(_Compiled(r, segments, tuple(_kind(s) for s in segments)))
        self._routes = sorted(compiled, key=lambda c: (c.rank, c.route.method == "ANY"))
        self._default = [r for r in routes if r.path == "$default"]

    @staticmethod
    def _match_path(c: _Compiled, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, segment in enumerate(c.segments):
            kind = c.rank[i]
            if kind == 2:
                if i >= len(parts):
                    return None
                params[segment[1:-2]] = unquote("/".join(parts[i:]))
                return params
            if i >= len(parts):
                return None
            if kind == 1:
                if parts[i] == "":
                    return None
                params[segment[1:-1]] = unquote(parts[i])
            elif unquote(parts[i]) != segment:
                return None
        return params if len(parts) == len(c.segments) else None

    def match(self, method: str, raw_path: str) -> Match | WrongMethod | None:
        stripped = raw_path[1:] if raw_path.startswith("/") else raw_path
        # API Gateway routes `/posts/` as `/posts` (the event keeps the rawPath as sent).
        stripped = stripped.rstrip("/")
        parts = stripped.split("/") if stripped else []
        allowed: list[str] = []
        for c in self._routes:
            params = self._match_path(c, parts)
            if params is None:
                continue
            if c.route.method in (method, "ANY"):
                return Match(c.route, params)
            allowed.append(c.route.method)
        for r in self._default:
            if r.method in (method, "ANY"):
                return Match(r, {})
        return WrongMethod(tuple(dict.fromkeys(allowed))) if allowed else None


# -- requests --------------------------------------------------------------------------
def is_text(content_type: str | None) -> bool:
    if not content_type:
        return True  # API Gateway passes bodies without a type as text
    return bool(TEXT_TYPES.match(content_type.split(";")[0].strip().lower()))


def join_headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with commas (cookies are separate)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        out[key] = out[key] + "," + value if key in out else value
    return out


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    header_pairs: list[tuple[str, str]],
    body: bytes,
    match: Match,
    source_ip: str,
    request_id: str,
    claims: dict[str, str] | None = None,
    scopes: list[str] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    headers = join_headers(header_pairs)
    cookies: list[str] = []
    if "cookie" in headers:
        for name, value in header_pairs:
            if name.lower() == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
        del headers["cookie"]
    host = headers.get("host", "localhost")
    domain = host.split(":")[0]
    now = time.time() if now is None else now
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.route.route_key if match.route.path != "$default" else "$default",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": scopes}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": context["routeKey"],
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = params[key] + "," + value if key in params else value
        if params:
            event["queryStringParameters"] = params
    event["requestContext"] = context
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if body:
        text: str | None = None
        if is_text(headers.get("content-type")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None:
            event["body"] = text
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


# -- responses -------------------------------------------------------------------------
@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json"), *(headers or [])], _compact(payload))


def to_http(result: Any) -> HttpResponse:
    """A Lambda result (payload format 2.0) as the HTTP response API Gateway sends."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # "If your function returns valid JSON without a statusCode, API Gateway assumes
        # 200, application/json, and the whole result as the body."
        return HttpResponse(200, [("Content-Type", "application/json")], _compact(result))
    try:
        status = int(result["statusCode"])
        if not 100 <= status <= 599:
            raise ValueError(status)
    except (TypeError, ValueError):
        return json_response(500, INTERNAL_ERROR)
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_value(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body)
        except (ValueError, TypeError):
            return json_response(500, INTERNAL_ERROR)
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    return HttpResponse(status, headers, data)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compact(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
