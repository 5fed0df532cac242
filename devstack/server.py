"""`make dev`: the local HTTP API in front of the real handlers.

Reads template.yaml (re-read when it changes), maps each HttpApi event to its
function, verifies JWTs on protected routes like API Gateway's JWT authorizer
(before any handler runs), builds payload-format-2.0 events and runs them in the
function's worker process (devstack.workers). Also serves, locally only:

  GET /openapi.json            the committed openapi.json, else generated from the apps
  GET /docs                    Swagger UI (assets shipped with Powertools, no CDN)
  GET /.well-known/jwks.json   the public key of the local token issuer

CORS: the template's CorsConfiguration (allowed and exposed headers, methods,
max age), but the allowed origins of `make dev` are its own: any localhost
port by default (DEFAULT_DEV_ORIGINS), or the comma-separated CORS_ORIGINS
(`*` matches any port or subdomain part: `http://localhost:*`). The deployed
API allows only the template's CorsAllowedOrigins.

Like API Gateway, a path or method no route has answers 404
{"message":"Not Found"} (no 405, no Allow header). Differences from API
Gateway, on purpose: throttling, the 30 s integration timeout and custom domains are not
emulated; one worker per function serves requests one at a time. Methods no
HTTP API route can have (TRACE, CONNECT, ...) answer 404 {"message":"Not Found"}
on every path, as API Gateway does.
"""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack import apigw, jwt_local, openapi
from devstack.openapi import http_functions
from devstack.stack import REPO, LocalStack, StackError
from devstack.template import Template, TemplateError
from devstack.template import load as load_template
from devstack.workers import WorkerPool, new_request_id

# Any port of the machine itself: a front-end dev server (Vite 5173, CRA 3000, ...) works unchanged.
DEFAULT_DEV_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*")


def dev_origins(value: str | None) -> tuple[str, ...]:
    """The origins `make dev` allows: CORS_ORIGINS (comma separated, `*` wildcards) or DEFAULT_DEV_ORIGINS."""
    given = tuple(o.strip() for o in (value or "").split(",") if o.strip())
    return given or DEFAULT_DEV_ORIGINS


SWAGGER_ASSETS = ("swagger-ui-bundle.min.js", "swagger-ui.min.css")
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Blog API (local)</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui">Loading…</div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis],
    });
  </script>
</body>
</html>
"""


class Shutdown(Exception):
    """SIGINT or SIGTERM: stop everything that was started."""


def swagger_assets() -> dict[str, Path] | None:
    """Swagger UI's bundle and stylesheet, as shipped inside aws_lambda_powertools."""
    try:
        import aws_lambda_powertools
    except ImportError:
        return None
    base = Path(aws_lambda_powertools.__file__).parent / "event_handler" / "openapi" / "swagger_ui"
    files = {"swagger-ui-bundle.js": base / SWAGGER_ASSETS[0], "swagger-ui.css": base / SWAGGER_ASSETS[1]}
    return files if all(p.is_file() for p in files.values()) else None


def _started_ago(pid: str) -> float | None:
    """Seconds since process `pid` started, from /proc (Linux); None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return None


def _parent_is_make() -> bool:
    try:
        return Path(f"/proc/{os.getppid()}/comm").read_text().strip() in ("make", "gmake")
    except OSError:
        return False


def process_age() -> float:
    """Seconds since `make dev` started: the make process's age when make is the parent (so the
    time includes creating .venv and installing dependencies on a first run), else this process's
    (interpreter start-up included)."""
    ages = [_started_ago("self")]
    if _parent_is_make():
        ages.append(_started_ago(str(os.getppid())))
    return max((a for a in ages if a is not None), default=0.0)


@dataclass
class LocalApi:
    """Everything a request needs: routes, authorizer settings, workers."""

    template_path: Path
    pool: WorkerPool
    key: jwt_local.SigningKey
    base_url: str
    issuer: str = jwt_local.ISSUER
    audiences: tuple[str, ...] = (jwt_local.AUDIENCE,)
    log_requests: bool = True
    cors_origins: tuple[str, ...] = DEFAULT_DEV_ORIGINS
    template: Template = field(init=False)
    router: apigw.Router = field(init=False)
    first_request_logged: bool = field(default=False, init=False)
    _mtime: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.template = self.pool.template
        self.router = apigw.Router(self.template.routes)
        self._mtime = self._template_mtime()

    def _template_mtime(self) -> float:
        try:
            return self.template_path.stat().st_mtime
        except OSError:
            return 0.0

    def refresh(self) -> None:
        """Re-read template.yaml when it changed (routes, handlers, environment)."""
        mtime = self._template_mtime()
        if mtime == self._mtime:
            return
        with self._lock:
            if mtime == self._mtime:
                return
            self._mtime = mtime
            try:
                template = load_template(self.template_path)
            except TemplateError as exc:
                self.say(f"template.yaml changed but cannot be used ({exc}); keeping the previous routes")
                return
            self.template = template
            self.router = apigw.Router(template.routes)
            self.pool.replace_template(template)
            self.say(f"template.yaml changed: {len(template.routes)} routes reloaded")

    def say(self, text: str) -> None:
        with self.pool.sink_lock:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    # -- CORS ---------------------------------------------------------------------------
    def allowed_origin(self, origin: str | None) -> str | None:
        cors = self.template.cors
        if not origin or cors is None:
            return None
        if "*" in cors.allow_origins or "*" in self.cors_origins:
            return "*"
        local = {self.base_url, self.base_url.replace("127.0.0.1", "localhost")}
        allowed = origin in local or any(fnmatch.fnmatchcase(origin, p) for p in self.cors_origins)
        return origin if allowed else None

    def cors_headers(self, origin: str | None, preflight: bool) -> list[tuple[str, str]]:
        allowed = self.allowed_origin(origin)
        cors = self.template.cors
        if allowed is None or cors is None:
            return []
        headers = [("Access-Control-Allow-Origin", allowed)]
        if cors.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if preflight:
            headers.append(("Access-Control-Allow-Methods", ",".join(cors.allow_methods or ["*"])))
            headers.append(("Access-Control-Allow-Headers", ",".join(cors.allow_headers or ["*"])))
            if cors.max_age is not None:
                headers.append(("Access-Control-Max-Age", str(cors.max_age)))
        elif cors.expose_headers:
            headers.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))
        return headers

    # -- the request path ---------------------------------------------------------------
    def handle(
        self, method: str, target: str, header_pairs: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[apigw.HttpResponse, str | None]:
        """One request: (response, the function that served it or None)."""
        self.refresh()
        raw_path, _, raw_query = target.partition("?")
        raw_path = raw_path or "/"
        headers = apigw.join_headers(header_pairs)
        request_id = new_request_id()
        if method not in apigw.HTTP_API_METHODS:
            # TRACE, CONNECT, WebDAV and invented methods: no HTTP API route can have them, so
            # API Gateway answers as for an unmatched route.
            return apigw.json_response(404, apigw.NOT_FOUND), None
        found = self.router.match(method, raw_path)
        if method == "OPTIONS" and not isinstance(found, apigw.Match):
            # CORS preflight, answered by API Gateway itself.
            return apigw.HttpResponse(204, self.cors_headers(headers.get("origin"), True), b""), None
        if found is None:
            local = self.local_route(method, raw_path)
            return (local or apigw.json_response(404, apigw.NOT_FOUND)), None
        if isinstance(found, apigw.WrongMethod):
            # API Gateway answers a known path with another method exactly like an unknown route.
            return apigw.json_response(404, apigw.NOT_FOUND), None
        if len(body) > apigw.MAX_BODY:
            return apigw.json_response(413, apigw.TOO_LARGE), None
        claims: dict[str, str] | None = None
        scopes: list[str] | None = None
        if found.route.authorizer is not None:
            verified = self.authorize(headers.get("authorization"))
            if verified is None:
                return apigw.json_response(401, apigw.UNAUTHORIZED, [("www-authenticate", "Bearer")]), None
            scopes = jwt_local.scopes(verified)
            if found.route.scopes and not set(found.route.scopes) & set(scopes or []):
                return apigw.json_response(403, apigw.FORBIDDEN), None
            claims = jwt_local.gateway_claims(verified)
        event = apigw.build_event(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            header_pairs=[*header_pairs, *self._forwarded(header_pairs, source_ip)],
            body=body,
            match=found,
            source_ip=source_ip,
            request_id=request_id,
            claims=claims,
            scopes=scopes,
        )
        outcome = self.pool.invoke(found.route.function, event)
        if outcome.ok:
            response = apigw.to_http(outcome.result)
        else:
            error = outcome.error or {}
            self.say(
                f"[{found.route.function}] invocation failed: {error.get('errorType')}: {error.get('errorMessage')}"
            )
            response = apigw.json_response(500, apigw.INTERNAL_ERROR)  # what API Gateway answers for a function error
        response.headers.append(("Apigw-Requestid", request_id))
        response.headers += self.cors_headers(headers.get("origin"), False)
        return response, found.route.function

    def _forwarded(self, header_pairs: list[tuple[str, str]], source_ip: str) -> list[tuple[str, str]]:
        present = {k.lower() for k, _ in header_pairs}
        port = self.base_url.rsplit(":", 1)[-1]
        extra = [("X-Forwarded-For", source_ip), ("X-Forwarded-Port", port), ("X-Forwarded-Proto", "http")]
        trace = f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"
        extra.append(("X-Amzn-Trace-Id", trace))
        return [(k, v) for k, v in extra if k.lower() not in present]

    def authorize(self, header: str | None) -> dict[str, Any] | None:
        if not header:
            return None
        token = header.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            return jwt_local.verify(token, self.key, issuer=self.issuer, audiences=self.audiences)
        except jwt_local.TokenRejected as exc:
            self.say(f"authorizer: 401 ({exc})")
            return None

    # -- local-only endpoints -----------------------------------------------------------
    def local_route(self, method: str, path: str) -> apigw.HttpResponse | None:
        if method not in ("GET", "HEAD"):
            return None
        if path == "/openapi.json":
            return apigw.json_response(200, self.openapi())
        if path in ("/docs", "/docs/"):
            return apigw.HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], DOCS_PAGE.encode())
        if path.startswith("/docs/"):
            assets = swagger_assets()
            name = path.removeprefix("/docs/")
            if assets and name in assets:
                kind = "application/javascript" if name.endswith(".js") else "text/css"
                headers = [("Content-Type", kind), ("Cache-Control", "max-age=3600")]
                return apigw.HttpResponse(200, headers, assets[name].read_bytes())
        if path == "/.well-known/jwks.json":
            return apigw.json_response(200, self.key.jwks())
        return None

    def openapi(self) -> dict[str, Any]:
        committed = REPO / "openapi.json"
        if committed.is_file():
            try:
                doc = json.loads(committed.read_text())
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                doc["servers"] = [{"url": self.base_url, "description": "local stack (make dev)"}]
                return doc
        return generate_openapi(self.template, self.pool, self.base_url)


def generate_openapi(template: Template, pool: WorkerPool, base_url: str) -> dict[str, Any]:
    """One document for the whole HTTP API, merged from the running workers' apps."""
    return openapi.merge(
        template,
        lambda fn: pool.openapi(fn.name),
        title="Blog API (local)",
        version="local",
        servers=[{"url": base_url, "description": "local stack (make dev)"}],
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "blog-local-api"
    api: LocalApi  # set on the subclass made by serve()

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are logged by _dispatch, errors by LocalApi

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except ValueError:  # a Content-Length or chunk size that is not a number
            self.close_connection = True
            self.send_error(400, "malformed Content-Length or chunked body")
            return
        pairs = [(k, v) for k, v in self.headers.items()]
        try:
            response, function = self.api.handle(self.command, self.path, pairs, body, self.client_address[0])
        except Exception as exc:  # noqa: BLE001 - the local API never drops a connection silently
            self.api.say(f"local API error: {type(exc).__name__}: {exc}")
            response, function = apigw.json_response(500, apigw.INTERNAL_ERROR), None
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting; nothing to report
        elapsed = (time.perf_counter() - started) * 1000
        if self.api.log_requests:
            served = f", {function}" if function else ""
            self.api.say(f"{self.command} {self.path} -> {response.status} ({elapsed:.0f} ms{served})")
        if not self.api.first_request_logged and function is not None and response.status < 500:
            self.api.first_request_logged = True
            self.api.say(f"(first request served {process_age():.1f} s after `make dev` started)")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with a 501 HTML page; every method
        # goes to _dispatch instead, which answers the ones API Gateway never routes as it does.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # a client that disconnects is not an error of the local API
        super().handle_error(request, client_address)


def make_server(api: LocalApi | None, host: str, port: int) -> LocalHttpServer:
    """Bind first (so a taken port fails before anything starts); attach the API later."""
    handler = type("Handler", (_Handler,), {"api": api})
    return LocalHttpServer((host, port), handler)


def _banner(api: LocalApi, stack: LocalStack, elapsed: float) -> str:
    user = jwt_local.mint(api.key, jwt_local.USER1_SUB, issuer=api.issuer, audience=api.audiences[0])
    admin = jwt_local.mint(api.key, jwt_local.ADMIN_SUB, groups=["admin"], issuer=api.issuer, audience=api.audiences[0])
    url = api.base_url
    return "\n".join(
        [
            "",
            f"Local API ready in {elapsed:.1f} s: {url}",
            f"  docs      {url}/docs   (OpenAPI: {url}/openapi.json)",
            f"  database  {stack.describe()}   (passwords: {stack.passwords_path})",
            f"  functions {', '.join(f.name for f in http_functions(api.template))} (one worker process each)",
            "",
            "Try (tokens valid 12 h; more with: make token SUB=<uuid> [EMAIL=...] [GROUPS=admin]):",
            f"  curl -s '{url}/posts?limit=3'",
            f"  curl -s {url}/users/{jwt_local.USER1_SUB}      # a public page: no token",
            f"  curl -s -H 'Authorization: Bearer {user}' \\\n       {url}/me      # user1's own account",
            f"  curl -s -H 'Authorization: Bearer {admin}' \\\n       {url}/admin/users/statistics      # admin",
            "",
            "Ctrl-C stops the API, the workers, moto and PostgreSQL.",
            "",
        ]
    )


def run(
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    local_dir: Path,
    pg_port: int | None = None,
    template_path: Path = REPO / "template.yaml",
    env_vars: dict[str, Any] | None = None,
    eager: bool = True,
    cors_origins: tuple[str, ...] = DEFAULT_DEV_ORIGINS,
) -> int:
    """`make dev`: start everything, serve until SIGINT/SIGTERM, then stop everything."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stopping.is_set():
            return  # make forwards Ctrl-C a second time; cleanup is already under way
        stopping.set()
        raise Shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = LocalStack(local_dir=local_dir, pg_port=pg_port, reuse_running=False, adopt_running=True)
    running = stack.running_dev()
    if running:
        print(f"make dev is already running (pid {running['pid']}) at {running.get('api')}", file=sys.stderr)
        return 1
    try:
        httpd = make_server(None, host, port)
    except OSError as exc:
        print(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another port: PORT=3001 make dev", file=sys.stderr
        )
        return 1
    pool: WorkerPool | None = None
    server_thread: threading.Thread | None = None
    starting: threading.Thread | None = None
    start_errors: list[BaseException] = []

    def start_stack() -> None:
        try:
            stack.start(seed=True)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            start_errors.append(exc)

    try:
        stack.prepare()
        # The database and moto are the critical path: they start first, in the background,
        # while this thread reads the template and starts the workers (their imports).
        starting = threading.Thread(target=start_stack, name="stack", daemon=True)
        starting.start()
        template = load_template(template_path)
        key = jwt_local.load_or_create_key(stack.local_dir)
        pool = WorkerPool(template, lambda t, fn: stack.function_environment(t, fn, env_vars, stack.log))
        base_url = f"http://{host}:{httpd.server_address[1]}"
        api = LocalApi(template_path, pool, key, base_url, cors_origins=cors_origins)
        if eager:
            pool.warm([f.name for f in http_functions(template)])
        starting.join()
        if start_errors:
            raise start_errors[0]
        stack.write_state(api=base_url, workers=pool.pids())
        httpd.RequestHandlerClass.api = api  # type: ignore[attr-defined]
        server_thread = threading.Thread(target=httpd.serve_forever, name="http", daemon=True)
        server_thread.start()
        print(_banner(api, stack, process_age()), flush=True)
        while not stopping.wait(3600):
            pass
    except Shutdown as exc:
        print(f"\n{exc}: stopping the local stack…", file=sys.stderr, flush=True)
    except (TemplateError, StackError) as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 1
    finally:
        stopping.set()
        if starting is not None:
            starting.join()  # a half-started cluster is stopped below, never left behind
        if server_thread is not None:
            httpd.shutdown()
        httpd.server_close()
        if pool is not None:
            pool.stop()
        stack.stop()
        stack.clear_state()
        print("local stack stopped", file=sys.stderr, flush=True)
    return 0
