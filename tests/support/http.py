"""Talking to a local API over real HTTP, and keeping what its workers print.

Shared by the end-to-end tests (`make dev` itself) and the reliability suite (the local API over
the test database): one client function and one log sink.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

from tests.support.api import Reply


class LogCapture:
    """A sink for everything the functions print (worker output, in-process handlers); thread-safe."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.lines.extend(text.splitlines())
        return len(text)

    def flush(self) -> None:
        return None

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def tail(self, n: int = 40) -> str:
        with self._lock:
            return "\n".join(self.lines[-n:])


def http_request(
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Reply:
    """One request; `body` is sent as JSON (`raw_body` as given). The Reply's headers are
    lower-cased, its body parsed when the answer says JSON (text otherwise, or the text when it
    does not parse), and `raw` holds the bytes received. HTTP error statuses are answers, not
    exceptions; a refused connection or a timeout raises (urllib.error.URLError, TimeoutError)."""
    data = raw_body
    if data is None and body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base_url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, hdrs = resp.status, resp.read(), dict(resp.headers.items())
    except urllib.error.HTTPError as err:
        status, raw, hdrs = err.code, err.read(), dict(err.headers.items())
    lowered = {k.lower(): v for k, v in hdrs.items()}
    parsed: Any = raw.decode("utf-8", "replace") if raw else None
    if raw and lowered.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            pass
    return Reply(status, lowered, parsed, raw)
