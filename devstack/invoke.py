"""`make invoke FN=PostsFunction EVENT=events/posts/get.json`: one event, one function.

Like `sam local invoke`: the function's log goes to stderr, its result (JSON) to
stdout, and the exit code is non-zero when the handler raised. It runs on the
local stack: the cluster and moto of a running `make dev` when there is one,
otherwise it starts them (reusing .local/) and stops them afterwards. A new
database is migrated and seeded; an existing one is left as it is.

CloudFormation custom-resource events (the MigrateFunction's): the ResponseURL
is pointed at a local catcher, and what CloudFormation would have received is
printed instead of the handler's return value; FAILED exits non-zero.

`run_event()` is the code path shared with the tests (tests/e2e).
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack.stack import REPO, LocalStack, StackError
from devstack.template import Template, TemplateError
from devstack.template import load as load_template
from devstack.workers import Invocation, WorkerPool


# -- CloudFormation's side of a custom resource -------------------------------------------
class ResponseCatcher:
    """A local stand-in for the presigned S3 URL a custom resource answers to."""

    def __init__(self) -> None:
        received: dict[str, dict[str, Any]] = {}
        arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"Status": "INVALID", "Reason": "the response was not JSON", "Raw": raw.decode("replace")}
                with arrived:
                    received[self.path] = body
                    arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._received = received
        self._arrived = arrived
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ResponseCatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/cloudformation/{key}"

    def wait(self, key: str, timeout: float = 5.0) -> dict[str, Any] | None:
        path = f"/cloudformation/{key}"
        with self._arrived:
            self._arrived.wait_for(lambda: path in self._received, timeout)
            return self._received.get(path)


def is_custom_resource(event: Any) -> bool:
    return isinstance(event, dict) and "ResponseURL" in event and ("RequestType" in event or "StackId" in event)


def is_http(event: Any) -> bool:
    return isinstance(event, dict) and event.get("version") == "2.0" and "routeKey" in event


@dataclass
class Outcome:
    function: str
    kind: str  # "http", "custom-resource" or "event"
    invocation: Invocation
    cloudformation: dict[str, Any] | None = None  # what CloudFormation received (custom resources)

    @property
    def status(self) -> int | None:
        """The HTTP status API Gateway would answer (HTTP events)."""
        if self.kind != "http":
            return None
        if not self.invocation.ok:
            return 500
        result = self.invocation.result
        if isinstance(result, dict) and "statusCode" in result:
            try:
                return int(result["statusCode"])
            except (TypeError, ValueError):
                return 500
        return 200

    @property
    def cfn_status(self) -> str | None:
        return (self.cloudformation or {}).get("Status") if self.kind == "custom-resource" else None

    @property
    def failed(self) -> bool:
        if not self.invocation.ok:
            return True
        return self.kind == "custom-resource" and self.cfn_status != "SUCCESS"

    def printable(self) -> Any:
        """What stdout shows: the result, the error, or CloudFormation's view."""
        if self.kind == "custom-resource" and self.cloudformation is not None:
            return self.cloudformation
        if not self.invocation.ok:
            error = dict(self.invocation.error or {})
            error["requestId"] = self.invocation.request_id
            return error
        return self.invocation.result


def run_event(pool: WorkerPool, function: str, event: Any, catcher: ResponseCatcher | None = None) -> Outcome:
    """Invoke `function` with `event` in its worker; custom resources answer to a local catcher."""
    fn = pool.template.function(function)
    if not is_custom_resource(event):
        kind = "http" if is_http(event) else "event"
        return Outcome(fn.name, kind, pool.invoke(fn.name, event))
    own = catcher is None
    catcher = catcher or ResponseCatcher()
    if own:
        catcher.__enter__()
    try:
        key = uuid.uuid4().hex
        local_event = copy.deepcopy(event)
        local_event["ResponseURL"] = catcher.url(key)
        invocation = pool.invoke(fn.name, local_event)
        received = catcher.wait(key, timeout=5.0 if invocation.ok else 0.5)
        if received is None and invocation.ok:
            received = {"Status": "FAILED", "Reason": "the function returned without answering CloudFormation"}
        return Outcome(fn.name, "custom-resource", invocation, received)
    finally:
        if own:
            catcher.__exit__(None, None, None)


def function_for_event(template: Template, event_path: Path) -> str:
    """events/<resource>/x.json belongs to the function whose CodeUri is functions/<resource>/."""
    return template.function(event_path.parent.name).name


def load_event(path: str) -> Any:
    if path == "-":
        return json.load(sys.stdin)
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = REPO / path
    return json.loads(candidate.read_text())


def main(
    function: str,
    event_path: str,
    *,
    local_dir: Path,
    template_path: Path = REPO / "template.yaml",
    env_vars: dict[str, Any] | None = None,
) -> int:
    try:
        template = load_template(template_path)
        fn = template.function(function)
        event = load_event(event_path)
    except (TemplateError, OSError, ValueError) as exc:
        print(f"make invoke: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack(local_dir=local_dir)
    pool = WorkerPool(
        template,
        lambda t, f: stack.function_environment(t, f, env_vars, stack.log),
        sink=sys.stderr,
        prefix=False,
        reload=False,
    )
    try:
        stack.prepare()
        stack.start(seed=None)
        outcome = run_event(pool, fn.name, event)
    except StackError as exc:
        print(f"make invoke: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        pool.stop()
        stack.stop()
    text = json.dumps(outcome.printable(), indent=2 if sys.stdout.isatty() else None, ensure_ascii=False)
    print(text, flush=True)
    if outcome.kind == "custom-resource" and outcome.invocation.ok:
        print(f"(the handler returned {json.dumps(outcome.invocation.result)})", file=sys.stderr)
    return 1 if outcome.failed else 0
