"""HTTP caching of the API: one decision per route, applied to every response.

A route is either public (no authorizer, the same answer for every caller) or
private (behind the JWT authorizer, the answer depends on the caller). Public
reads are cacheable by browsers and shared caches (CloudFront) for `max_age`
seconds, then served stale for up to `stale_while_revalidate` more seconds
while one request revalidates (RFC 9111 section 5.2.2.1; RFC 5861 section 3).
Private answers are `private, no-store`: no cache anywhere keeps them.

`apply(event, result)` runs after the resolver, on the API Gateway payload
format 2.0 result dict (statusCode, headers, body). For a public read that
answered 200 it sets Cache-Control and an ETag (the handler's own, e.g. a
post's version, or a SHA-256 of the body), and answers a matching
`If-None-Match` with 304 and no body (RFC 9110 section 13.1.2). Errors and
public writes are `no-store`: a cached 404 would hide a post published a
moment later.

The rule table is keyed by API Gateway's `routeKey` ("GET /posts/{post_id}");
tests/unit/test_caching.py fails when a route of template.yaml has no entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

PRIVATE_NO_STORE = "private, no-store"
NO_STORE = "no-store"


@dataclass(frozen=True)
class CacheRule:
    """The caching decision of one route.

    `public`: no authorizer. `max_age` / `stale_while_revalidate` in seconds;
    both 0 for a public route that must not be cached (a write, a health check).
    `why`: the reason for the numbers, shown in the README's route table."""

    public: bool
    max_age: int = 0
    stale_while_revalidate: int = 0
    why: str = ""

    @property
    def cacheable(self) -> bool:
        return self.public and self.max_age > 0

    def header(self) -> str:
        """The Cache-Control value of a successful answer."""
        if not self.public:
            return PRIVATE_NO_STORE
        if not self.cacheable:
            return NO_STORE
        return f"public, max-age={self.max_age}, stale-while-revalidate={self.stale_while_revalidate}"


def _public(max_age: int, swr: int, why: str) -> CacheRule:
    return CacheRule(True, max_age, swr, why)


PRIVATE = CacheRule(False, why="depends on the caller")
PUBLIC_NO_STORE = CacheRule(True, why="a write or a live check: never cached")

RULES: dict[str, CacheRule] = {
    # posts
    "GET /posts": _public(30, 60, "a new post shows within 30 s; the first page is the hottest read"),
    "GET /posts/popular": _public(300, 600, "a ranking over days of counters: minutes of lag change nothing"),
    "GET /posts/by-slug/{slug}": _public(60, 300, "an edit shows within a minute; counters lag as much"),
    "GET /posts/{post_id}": _public(60, 300, "an edit shows within a minute; counters lag as much"),
    "POST /posts/{post_id}/views": PUBLIC_NO_STORE,
    "POST /posts": PRIVATE,
    "PATCH /posts/{post_id}": PRIVATE,
    "DELETE /posts/{post_id}": PRIVATE,
    "PUT /posts/{post_id}/like": PRIVATE,
    "DELETE /posts/{post_id}/like": PRIVATE,
    "POST /posts/{post_id}/transfer": PRIVATE,
    "GET /me/posts/{post_id}": PRIVATE,
    "GET /admin/posts/{post_id}": PRIVATE,
    # comments
    "GET /posts/{post_id}/comments": _public(15, 30, "a conversation should feel live: a reply shows within 15 s"),
    "GET /admin/posts/{post_id}/comments": PRIVATE,
    "POST /posts/{post_id}/comments": PRIVATE,
    "PATCH /comments/{comment_id}": PRIVATE,
    "DELETE /comments/{comment_id}": PRIVATE,
    "POST /comments/{comment_id}/hide": PRIVATE,
    "POST /comments/{comment_id}/unhide": PRIVATE,
    "PUT /comments/{comment_id}/like": PRIVATE,
    "DELETE /comments/{comment_id}/like": PRIVATE,
    # users
    "GET /users": _public(60, 300, "a directory: a new sign-up shows within a minute"),
    "GET /users/{user_id}": _public(120, 600, "names, avatar and bio change rarely"),
    "GET /users/{user_id}/profile": _public(120, 600, "names, avatar and bio change rarely"),
    "GET /users/{user_id}/posts": _public(60, 300, "a new post shows within a minute"),
    "POST /users": PRIVATE,
    "PATCH /users/{user_id}": PRIVATE,
    "DELETE /users/{user_id}": PRIVATE,
    "PUT /users/{user_id}/profile": PRIVATE,
    "GET /me": PRIVATE,
    "PATCH /me": PRIVATE,
    "GET /me/posts": PRIVATE,
    "GET /admin/users/statistics": PRIVATE,
    "GET /admin/users/by-email": PRIVATE,
    # stats
    "GET /stats": _public(300, 600, "the statistics are collected every 5 minutes"),
    "GET /admin/stats/history": PRIVATE,
    "GET /health": PUBLIC_NO_STORE,
}


def rule_for(route_key: str | None) -> CacheRule:
    """The rule of a route; a route without one is treated as private (never cached)."""
    return RULES.get(route_key or "", PRIVATE)


def body_etag(body: str) -> str:
    """A strong validator for a body: the first 16 bytes of its SHA-256, hex, quoted."""
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def none_match(header: str | None, tag: str) -> bool:
    """True when an If-None-Match header names `tag` (weak comparison, RFC 9110 13.1.2) or is `*`."""
    if not header:
        return False
    wanted = _opaque(tag)
    return any(t.strip() == "*" or _opaque(t) == wanted for t in header.split(","))


def _header(headers: dict[str, Any], name: str) -> Any:
    lower = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lower), None)


def apply(event: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Set Cache-Control (and for public reads ETag/304) on a payload 2.0 result; returns it."""
    rule = rule_for(event.get("routeKey"))
    headers: dict[str, Any] = result.setdefault("headers", {}) or {}
    result["headers"] = headers
    for k in [k for k in headers if k.lower() == "cache-control"]:
        del headers[k]
    status = int(result.get("statusCode", 200))
    method = (event.get("requestContext", {}).get("http", {}).get("method") or "").upper()
    if not (rule.cacheable and method == "GET" and status == 200):
        headers["Cache-Control"] = rule.header() if status < 300 or not rule.public else NO_STORE
        return result
    headers["Cache-Control"] = rule.header()
    # API Gateway answers CORS per Origin (Access-Control-Allow-Origin echoes an allowed one and is
    # absent otherwise): a shared cache must keep one copy per Origin (Fetch standard, "CORS
    # protocol and HTTP caches").
    vary = _header(headers, "Vary")
    if vary is None:
        headers["Vary"] = "Origin"
    elif "origin" not in {v.strip().lower() for v in vary.split(",")}:
        for k in [k for k in headers if k.lower() == "vary"]:
            headers[k] = vary + ", Origin"
    tag = _header(headers, "ETag")
    if tag is None and not result.get("isBase64Encoded"):
        tag = body_etag(result.get("body") or "")
        headers["ETag"] = tag
    request_headers = event.get("headers") or {}
    if tag is not None and none_match(_header(request_headers, "If-None-Match"), tag):
        result["statusCode"] = 304
        result["body"] = ""
        for k in [k for k in headers if k.lower() in ("content-type", "content-length")]:
            del headers[k]
    return result
