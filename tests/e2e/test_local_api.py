"""`make dev` end to end: the real server machinery over real HTTP.

The server is started the way `make dev` starts it (`python -m devstack dev`),
on a free port, with its cluster under a temporary directory, and driven with
urllib: the README walkthrough, API Gateway's answers for unknown routes and
rejected tokens, and a clean stop on SIGINT/SIGTERM. The last test stops the
server, so it stays last in this file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import jwt_local
from devstack.postgres import free_port
from tests.conftest import ROOT
from tests.support.api import Reply
from tests.support.http import http_request

START_TIMEOUT = 120


@dataclass
class DevServer:
    url: str
    proc: subprocess.Popen[bytes]
    local_dir: Path
    key: jwt_local.SigningKey
    log: Path

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        return http_request(self.url, method, path, token=token, body=body, headers=headers, timeout=30)

    def token(self, sub: str, **kwargs: Any) -> str:
        return jwt_local.mint(self.key, sub, **kwargs)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""


def _wait_until_serving(server: DevServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"the dev server exited with {server.proc.returncode}:\n{server.logs()}")
        try:
            with urllib.request.urlopen(server.url + "/posts?limit=1", timeout=30) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the dev server did not serve within {START_TIMEOUT}s:\n{server.logs()}")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "PGPORT_DEV", "DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT / "layers" / "shared")
    return env


def start_server(local_dir: Path, *extra: str) -> DevServer:
    """`make dev` as the Makefile runs it, on free ports, with its state under local_dir."""
    port, pg_port = free_port(), free_port()
    log = local_dir / f"dev-server-{port}.log"
    args = ["--port", str(port), "--pg-port", str(pg_port), "--local-dir", str(local_dir), *extra]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "dev", *args], cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT
        )
    server = DevServer(f"http://127.0.0.1:{port}", proc, local_dir, jwt_local.load_or_create_key(local_dir), log)
    _wait_until_serving(server)
    return server


def stop_server(server: DevServer) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()


@pytest.fixture(scope="module")
def dev(e2e_local_dir: Path) -> Iterator[DevServer]:
    server = start_server(e2e_local_dir)
    try:
        yield server
    finally:
        stop_server(server)


# -- the README walkthrough --------------------------------------------------------------
def test_walkthrough(dev: DevServer) -> None:
    # Given the seeded local stack: the public list of posts
    listing = dev.request("GET", "/posts?limit=5")
    assert listing.status == 200, listing.body
    assert len(listing.body["items"]) == 5 and listing.body["next_cursor"]

    # When a new person signs in (a token for a fresh sub) and registers
    sub = str(uuid.uuid4())
    me = dev.token(sub, email=f"walker-{sub[:8]}@example.com")
    registered = dev.request("POST", "/users", token=me, body={"username": f"walker_{sub[:8]}", "first_name": "Wal"})
    assert registered.status == 201, registered.body
    assert registered.body["user_id"] == sub

    # and creates a published post
    created = dev.request(
        "POST",
        "/posts",
        token=me,
        body={
            "title": "Hello from the local stack",
            "content": "Written through make dev.",
            "status": "published",
            "tags": ["local", "walkthrough"],
        },
    )
    assert created.status == 201, created.body
    post_id = created.body["post_id"]
    assert created.headers["location"] == f"/posts/{post_id}"

    # and user1 comments on it and likes it
    user1 = dev.token(jwt_local.USER1_SUB)
    comment = dev.request("POST", f"/posts/{post_id}/comments", token=user1, body={"content": "Welcome!"})
    assert comment.status == 201, comment.body
    liked = dev.request("PUT", f"/posts/{post_id}/like", token=user1)
    assert liked.status == 200 and liked.body == {"liked": True, "like_count": 1}, liked.body

    # Then it leads today's popular posts (generated posts are at least two days old)
    popular = dev.request("GET", "/posts/popular?days=1")
    assert popular.status == 200
    top = popular.body["items"][0]
    assert (top["post_id"], top["like_count"], top["comment_count"]) == (post_id, 1, 1)

    # and its comments are public
    thread = dev.request("GET", f"/posts/{post_id}/comments")
    assert thread.status == 200 and [c["content"] for c in thread.body["items"]] == ["Welcome!"]

    # When the statistics function runs on its schedule (make invoke, next to the running server)
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "invoke",
            "StatsFunction",
            "events/stats/schedule.json",
            "--local-dir",
            str(dev.local_dir),
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(ran.stdout)["status"] == "published", ran.stdout

    # Then /stats shows the snapshot, which counts the new post
    stats = dev.request("GET", "/stats")
    assert stats.status == 200, stats.body
    assert stats.body["generated_at"] is not None
    assert stats.body["posts_published"] >= 800


def test_protected_route_answers_with_a_valid_token(dev: DevServer) -> None:
    reply = dev.request("GET", "/me", token=dev.token(jwt_local.USER1_SUB))
    assert reply.status == 200, reply.body
    assert reply.body["email"] == "user1@example.com"  # private fields: the user themself
    assert reply.headers["cache-control"] == "private, no-store"
    public = dev.request("GET", f"/users/{jwt_local.USER1_SUB}")  # the public page needs no token
    assert public.status == 200 and "email" not in public.body
    assert public.headers["cache-control"].startswith("public, max-age=")
    admin = dev.token(jwt_local.ADMIN_SUB, groups=["admin", "editors"])
    assert dev.request("GET", "/admin/users/statistics", token=admin).status == 200
    assert dev.request("GET", "/admin/users/statistics", token=dev.token(jwt_local.USER1_SUB)).status == 403


# -- what API Gateway answers itself -------------------------------------------------------
def test_unknown_route_is_404_json(dev: DevServer) -> None:
    reply = dev.request("GET", "/no/such/route")
    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.body == {"message": "Not Found"}


def test_wrong_method_is_404_like_api_gateway(dev: DevServer) -> None:
    # API Gateway (HTTP API) has no 405: a method no route has on a known path is an unknown route.
    reply = dev.request("PUT", "/posts")
    assert reply.status == 404
    assert reply.body == {"message": "Not Found"}
    assert "allow" not in reply.headers


def test_malformed_content_length_is_400_and_the_server_keeps_serving(dev: DevServer) -> None:
    host, port = urllib.parse.urlsplit(dev.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /posts HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"400"
    assert dev.request("GET", "/posts?limit=1").status == 200


def test_cors_preflight_is_answered_locally(dev: DevServer) -> None:
    # Any localhost port is a dev origin by default (a front-end dev server on 5173, 8080, ...)
    for origin in ("http://localhost:3000", "http://localhost:5173", "http://127.0.0.1:8080"):
        reply = dev.request(
            "OPTIONS",
            "/posts/x",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization,content-type,if-match,idempotency-key",
            },
        )
        assert reply.status == 204
        assert reply.headers["access-control-allow-origin"] == origin
        assert "PATCH" in reply.headers["access-control-allow-methods"]
        allowed = set(reply.headers["access-control-allow-headers"].split(","))
        assert {"authorization", "content-type", "if-match", "if-none-match", "idempotency-key"} <= allowed
    # another site is not allowed
    reply = dev.request(
        "OPTIONS", "/posts", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in reply.headers


def test_cors_exposes_what_the_api_sends(dev: DevServer) -> None:
    reply = dev.request("GET", "/posts?limit=1", headers={"Origin": "http://localhost:5173"})
    assert reply.status == 200
    exposed = set(reply.headers["access-control-expose-headers"].split(","))
    assert exposed == {"etag", "location", "content-location"}
    assert "etag" in reply.headers


def test_docs_and_openapi(dev: DevServer) -> None:
    doc = dev.request("GET", "/openapi.json")
    assert doc.status == 200
    assert doc.body["paths"]["/me/posts/{post_id}"]["get"].get("security") == [{"bearerAuth": []}]
    assert "security" not in doc.body["paths"]["/posts/{post_id}"]["get"]
    page = dev.request("GET", "/docs")
    assert page.status == 200 and "swagger-ui" in page.body
    bundle = dev.request("GET", "/docs/swagger-ui-bundle.js")
    assert bundle.status == 200


# -- the JWT authorizer ----------------------------------------------------------------------
PROTECTED = "/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": jwt_local.USER1_SUB,
        "iss": jwt_local.ISSUER,
        "aud": jwt_local.AUDIENCE,
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return claims


def _bad_tokens(dev: DevServer) -> dict[str, str]:
    good = dev.token(jwt_local.USER1_SUB)
    head, payload, signature = good.split(".")
    tampered_payload = _b64(json.dumps(_claims(sub=jwt_local.ADMIN_SUB, **{"cognito:groups": ["admin"]})).encode())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": dev.key.kid}).encode())
    hs_body = _b64(json.dumps(_claims()).encode())
    # The classic confusion attack: HMAC "signed" with the RSA public key as the secret.
    hs_secret = dev.key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_sig = _b64(hmac.new(hs_secret, f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest())
    return {
        "expired": dev.token(jwt_local.USER1_SUB, now=time.time() - 13 * 3600),
        "wrong audience": dev.token(jwt_local.USER1_SUB, audience="someone-else"),
        "wrong issuer": dev.token(jwt_local.USER1_SUB, issuer="https://issuer.example.com"),
        "not yet valid": dev.token(jwt_local.USER1_SUB, extra={"nbf": int(time.time()) + 3600}),
        "tampered payload": f"{head}.{tampered_payload}.{signature}",
        "tampered signature": f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}",
        "unsigned (alg none)": _b64(b'{"alg":"none","typ":"JWT"}') + "." + hs_body + ".",
        "HS256 with the public key": f"{hs_header}.{hs_body}.{hs_sig}",
        "another key, same kid": jwt.encode(_claims(), other_key, algorithm="RS256", headers={"kid": dev.key.kid}),
        "garbage": "not-a-jwt",
    }


def test_missing_token_is_401_before_any_handler(dev: DevServer) -> None:
    reply = dev.request("GET", PROTECTED)
    assert reply.status == 401
    assert reply.body == {"message": "Unauthorized"}


def test_rejected_tokens_are_401(dev: DevServer) -> None:
    for name, token in _bad_tokens(dev).items():
        reply = dev.request("GET", PROTECTED, token=token)
        assert (reply.status, reply.body) == (401, {"message": "Unauthorized"}), name


def test_public_route_ignores_a_bad_token(dev: DevServer) -> None:
    # Public routes have no authorizer: a token is neither checked nor passed on.
    reply = dev.request("GET", "/posts?limit=1", token="not-a-jwt")
    assert reply.status == 200


# -- stopping --------------------------------------------------------------------------------
def _children(pid: int) -> set[int]:
    """Every descendant of `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _assert_stops_cleanly(server: DevServer, how: signal.Signals) -> None:
    # Given the running server: its workers, and the PostgreSQL it started
    postmaster = int((server.local_dir / "pg" / "data" / "postmaster.pid").read_text().splitlines()[0])
    started = _children(server.proc.pid) | {postmaster}
    state = json.loads((server.local_dir / "stack.json").read_text())
    assert state["pid"] == server.proc.pid
    # When the signal reaches it
    server.proc.send_signal(how)
    assert server.proc.wait(60) == 0, server.logs()
    # Then nothing it started is left, and its state file is gone
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.1)
    assert not [p for p in started if _alive(p)], server.logs()
    assert not (server.local_dir / "stack.json").exists()
    assert "local stack stopped" in server.logs()


def test_ctrl_c_stops_everything_it_started(dev: DevServer) -> None:
    assert len(_children(dev.proc.pid)) >= 4  # the four warm workers (and nothing else of ours)
    _assert_stops_cleanly(dev, signal.SIGINT)


def test_terminate_stops_everything_too(e2e_local_dir: Path) -> None:
    # A second start reuses the initialized cluster; workers start on first use (--lazy).
    server = start_server(e2e_local_dir, "--lazy")
    try:
        assert len(_children(server.proc.pid)) >= 1  # the worker that served the readiness probe
        _assert_stops_cleanly(server, signal.SIGTERM)
    finally:
        stop_server(server)
