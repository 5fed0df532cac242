"""One function's long-lived worker process: the local stand-in for a warm Lambda container.

Started by devstack.workers as `python -m devstack.worker FD HANDLER REPO` with
the function's environment, PYTHONPATH=<CodeUri>:<layer> and the working
directory at the CodeUri (Lambda's /var/task). It imports the handler once
(the cold start), then serves invocations one at a time over the socket FD:
4-byte big-endian length + JSON. The handler's stdout/stderr are the
function's log, exactly as in Lambda (START/END/REPORT lines included).

Messages (parent -> worker): {"type": "invoke", "event", "context"} and
{"type": "openapi"}. Replies: {"ok": true, "result_json"} (the result,
serialized as Lambda does) or {"ok": false, "error": {"errorType",
"errorMessage", "stackTrace"}}. The first message from the worker
is {"type": "ready"} or {"type": "init_error"}. The worker exits when the socket
closes, so it never outlives the process that started it.

Only the standard library is imported before the handler: what the function
imports is what its own Lambda would.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

_LEN = struct.Struct(">I")


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":"), default=str).encode()
    sock.sendall(_LEN.pack(len(data)) + data)


def recv(sock: socket.socket) -> dict[str, Any] | None:
    """The next message, or None when the other side has gone."""
    try:
        head = _recv_exact(sock, _LEN.size)
    except ConnectionResetError:
        return None
    if head is None:
        return None
    try:
        body = _recv_exact(sock, _LEN.unpack(head)[0])
    except ConnectionResetError:
        return None
    if body is None:
        return None
    return json.loads(body)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class LambdaContext:
    """The context object Lambda passes to a Python handler."""

    def __init__(self, data: dict[str, Any]):
        self.aws_request_id: str = data["aws_request_id"]
        self.function_name: str = data["function_name"]
        self.function_version: str = data.get("function_version", "$LATEST")
        self.invoked_function_arn: str = data["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(data["memory_limit_in_mb"])
        self.log_group_name: str = data["log_group_name"]
        self.log_stream_name: str = data["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline_ms: float = float(data["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[1:],
    }


def _log_error(payload: dict[str, Any]) -> None:
    # Lambda's Python runtime writes an unhandled error to the function's log like this.
    print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
    print("".join(payload["stackTrace"]).rstrip(), file=sys.stderr, flush=True)


def _openapi(module: Any) -> dict[str, Any]:
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_openapi_json_schema"):
        return {"ok": True, "result": None}
    return {"ok": True, "result": json.loads(app.get_openapi_json_schema())}


def main(argv: list[str]) -> int:
    fd, handler_spec, repo = int(argv[0]), argv[1], os.path.realpath(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the dev server stops us; Ctrl-C reaches it
    sock = socket.socket(fileno=fd)
    # Import like Lambda: the CodeUri and the layer (PYTHONPATH), not the repository.
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != repo]
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT") or ".")
    started = time.perf_counter()
    try:
        module_name, _, attribute = handler_spec.rpartition(".")
        module = importlib.import_module(module_name)
        handler = getattr(module, attribute)
    except BaseException as exc:  # noqa: BLE001 - reported as Lambda reports an init error
        if isinstance(exc, SyntaxError):
            kind = "Runtime.UserCodeSyntaxError"
        elif isinstance(exc, ImportError):
            kind = "Runtime.ImportModuleError"
        elif isinstance(exc, AttributeError):
            kind = "Runtime.HandlerNotFound"
        else:
            kind = type(exc).__name__
        payload = error_payload(exc, kind)
        _log_error(payload)
        send(sock, {"type": "init_error", "error": payload})
        return 1
    init_ms = (time.perf_counter() - started) * 1000
    send(sock, {"type": "ready", "pid": os.getpid(), "init_ms": init_ms})
    first = True
    while True:
        message = recv(sock)
        if message is None or message.get("type") == "exit":
            return 0
        if message.get("type") == "openapi":
            try:
                send(sock, _openapi(module))
            except Exception as exc:  # noqa: BLE001
                send(sock, {"ok": False, "error": error_payload(exc)})
            continue
        context = LambdaContext(message["context"])
        request_id = context.aws_request_id
        print(f"START RequestId: {request_id} Version: {context.function_version}", flush=True)
        t0 = time.perf_counter()
        reply: dict[str, Any]
        try:
            result = handler(message["event"], context)
            try:
                reply = {"ok": True, "result_json": json.dumps(result)}
            except (TypeError, ValueError) as exc:
                reply = {"ok": False, "error": error_payload(exc, "Runtime.MarshalError")}
        except Exception as exc:  # noqa: BLE001 - an unhandled error is the invocation's result
            reply = {"ok": False, "error": error_payload(exc)}
            _log_error(reply["error"])
        duration = (time.perf_counter() - t0) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        max_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        init = f"\tInit Duration: {init_ms:.2f} ms" if first else ""
        print(f"END RequestId: {request_id}", flush=True)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {int(duration) + 1} ms"
            f"\tMemory Size: {context.memory_limit_in_mb} MB\tMax Memory Used: {max_mb} MB{init}",
            flush=True,
        )
        first = False
        reply["duration_ms"] = duration
        try:
            send(sock, reply)
        except OSError:
            return 0  # the dev server has gone: so does its worker


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
