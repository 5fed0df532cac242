"""HTTP API v2 events: build them like API Gateway does, and adapt the samples
in events/ to the rows a test created (ids, claims, bodies)."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import secrets
from typing import Any
from urllib.parse import quote, urlencode

DEFAULT_CLAIMS_TEMPLATE = {
    "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
    "aud": "exampleclientid",
    "token_use": "id",
    "auth_time": "1763900000",
    "iat": "1763900000",
    "exp": "1763903600",
}


def claims(
    sub: str,
    *,
    email: str | None = None,
    groups: list[str] | None = None,
    email_verified: bool = True,
) -> dict[str, str]:
    """A Cognito ID token's claims as API Gateway passes them to the function: every value
    a string, `email_verified` included ("true" or "false")."""
    out = dict(DEFAULT_CLAIMS_TEMPLATE, sub=sub, email=email or f"{sub[:8]}@example.com")
    out["email_verified"] = "true" if email_verified else "false"
    out["cognito:username"] = sub
    if groups:
        out["cognito:groups"] = "[" + " ".join(groups) + "]"
    return out


def access_claims(sub: str, *, groups: list[str] | None = None) -> dict[str, str]:
    """A Cognito access token's claims: `client_id` and `scope` instead of `aud`, no e-mail."""
    out = {
        "iss": DEFAULT_CLAIMS_TEMPLATE["iss"],
        "client_id": DEFAULT_CLAIMS_TEMPLATE["aud"],
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": DEFAULT_CLAIMS_TEMPLATE["auth_time"],
        "iat": DEFAULT_CLAIMS_TEMPLATE["iat"],
        "exp": DEFAULT_CLAIMS_TEMPLATE["exp"],
        "sub": sub,
        "username": sub,
    }
    if groups:
        out["cognito:groups"] = "[" + " ".join(groups) + "]"
    return out


def _path(route_path: str, params: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: quote(params[m.group(1)], safe=""), route_path)


def http_event(
    method: str,
    route_path: str,
    *,
    path_params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    path_params = path_params or {}
    raw_path = _path(route_path, path_params)
    hdrs = {
        "accept": "application/json",
        "host": "api.example.com",
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    text = None
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        hdrs["content-type"] = "application/json"
    if claims:
        hdrs["authorization"] = "Bearer eyJraWQiOiJleGFtcGxlIn0.eyJzdWIiOiJleGFtcGxlIn0.c2lnbmF0dXJl"
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    request_id = secrets.token_hex(8)
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "a1b2c3d4e5",
        "domainName": "api.example.com",
        "domainPrefix": "api",
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": "curl/8.5.0",
        },
        "requestId": request_id,
        "routeKey": f"{method} {route_path}",
        "stage": "$default",
        "time": "23/Nov/2026:12:00:00 +0000",
        "timeEpoch": 1763899200000,
    }
    if claims:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route_path}",
        "rawPath": raw_path,
        "rawQueryString": urlencode(query or {}),
        "headers": hdrs,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_params:
        event["pathParameters"] = dict(path_params)
    if text is not None:
        if base64_body:
            event["body"] = base64.b64encode(text.encode()).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def prepare(
    sample: dict[str, Any],
    *,
    path_params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = ...,
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | Any | None = ...,
) -> dict[str, Any]:
    """A copy of a sample event with the given parts replaced (`...` keeps the sample's)."""
    event = copy.deepcopy(sample)
    _, route_path = event["routeKey"].split(" ", 1)
    if path_params is not None:
        params = dict(event.get("pathParameters") or {}, **path_params)
        event["pathParameters"] = params
        event["rawPath"] = _path(route_path, params)
        event["requestContext"]["http"]["path"] = event["rawPath"]
    if query is not None:
        event["queryStringParameters"] = dict(query) or None
        event["rawQueryString"] = urlencode(query)
        if not query:
            event.pop("queryStringParameters")
    if body is not ...:
        if body is None:
            event.pop("body", None)
        else:
            event["body"] = body if isinstance(body, str) else json.dumps(body)
            event["isBase64Encoded"] = False
            event["headers"]["content-type"] = "application/json"
    if headers:
        event["headers"].update({k.lower(): v for k, v in headers.items()})
    if claims is not ...:
        if claims is None:
            event["requestContext"].pop("authorizer", None)
            event["headers"].pop("authorization", None)
        else:
            event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
            event["headers"].setdefault("authorization", "Bearer eyJraWQiOiJleGFtcGxlIn0.e30.c2ln")
    return event


_READERS = itertools.count(secrets.randbelow(1 << 31))


def as_viewer(event: dict[str, Any], source_ip: str | None = None, user_agent: str | None = None) -> dict[str, Any]:
    """The event as sent by another client: its source IP and user agent as API Gateway
    reports them (requestContext.http); a new address and a random user agent when none is
    given: a new reader. The addresses are distinct /64s of the documentation prefix 2001:db8::/32
    (RFC 3849), counted, so two new readers are never one viewer."""
    http = event["requestContext"]["http"]
    if source_ip is None:
        n = next(_READERS)
        source_ip = f"2001:db8:{n >> 16 & 0xFFFF:x}:{n & 0xFFFF:x}::1"
    http["sourceIp"] = source_ip
    event["headers"]["x-forwarded-for"] = source_ip
    agent = user_agent if user_agent is not None else "reader/" + secrets.token_hex(8)
    http["userAgent"] = agent
    event["headers"]["user-agent"] = agent
    return event
