"""Worker processes, one per function, like warm Lambda containers.

`WorkerPool.invoke(name, event)` runs the event in that function's worker
(devstack.worker), starting it when needed. A worker keeps its imports, its
settings cache and its database connection between invocations. It is replaced
when it crashes or times out (like Lambda replaces a failed sandbox), and when
the code under its CodeUri or its layers changed (so edits show up on the
next request, as with `sam local`). The handler's output is passed through line
by line to a sink, prefixed with the function's name.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from devstack.template import ACCOUNT_ID, REGION, Function, Template
from devstack.worker import recv, send

REPO = Path(__file__).resolve().parents[1]
RETIRED = {"errorType": "Local.WorkerRetired", "errorMessage": "the worker was replaced", "stackTrace": []}
READY_TIMEOUT = 120.0  # imports on a busy machine can be slow; Lambda allows 10 s of init
TIMEOUT_GRACE = 1.0


@dataclass
class Invocation:
    """The outcome of one invocation, as the Lambda service would report it."""

    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None  # errorType, errorMessage, stackTrace
    duration_ms: float = 0.0
    request_id: str = ""
    crashed: bool = False  # the worker died, timed out or failed to start: it is replaced

    @property
    def error_type(self) -> str | None:
        return (self.error or {}).get("errorType")


class LogPump:
    """Copies a worker's output to the sink, line by line, with a prefix."""

    def __init__(self, stream: Any, prefix: str, sink: TextIO, lock: threading.Lock):
        self.thread = threading.Thread(target=self._run, args=(stream, prefix, sink, lock), daemon=True)
        self.thread.start()

    @staticmethod
    def _run(stream: Any, prefix: str, sink: TextIO, lock: threading.Lock) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with lock:
                sink.write(prefix + line + "\n")
                sink.flush()
        stream.close()


@dataclass
class Worker:
    fn: Function
    env: dict[str, str]
    layer_paths: list[Path]
    sink: TextIO
    sink_lock: threading.Lock
    prefix: bool = True
    python: str = sys.executable

    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    sock: socket.socket | None = field(default=None, init=False)
    ready: bool = field(default=False, init=False)
    init_error: dict[str, Any] | None = field(default=None, init=False)
    init_ms: float = field(default=0.0, init=False)
    started_at: float = field(default=0.0, init=False)
    lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _pumps: list[LogPump] = field(default_factory=list, init=False)

    def start(self) -> None:
        parent, child = socket.socketpair()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONNOUSERSITE": "1",
            **self.env,
            "PYTHONPATH": os.pathsep.join(str(p) for p in [self.fn.code_uri, *self.layer_paths]),
        }
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [self.python, "-m", "devstack.worker", str(child.fileno()), self.fn.handler, str(REPO)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(child.fileno(),),
        )
        child.close()
        self.sock = parent
        label = f"[{self.fn.name}] " if self.prefix else ""
        self._pumps = [
            LogPump(self.proc.stdout, label, self.sink, self.sink_lock),
            LogPump(self.proc.stderr, label, self.sink, self.sink_lock),
        ]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.init_error is None

    def _wait_ready(self) -> None:
        if self.ready or self.init_error is not None:
            return
        assert self.sock is not None
        self.sock.settimeout(READY_TIMEOUT)
        try:
            message = recv(self.sock)
        except TimeoutError:
            message = None
        if message is None:
            self.init_error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"{self.fn.name}: the worker exited (or hung) before it was ready",
                "stackTrace": [],
            }
        elif message.get("type") == "init_error":
            self.init_error = message["error"]
        else:
            self.ready = True
            self.init_ms = float(message.get("init_ms") or 0)

    def wait_ready(self) -> bool:
        with self.lock:
            self._wait_ready()
            return self.ready

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one message and wait for its reply; None when the worker died or timed out."""
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            send(self.sock, message)
            return recv(self.sock)
        except (TimeoutError, OSError):
            return None

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        with self.lock:
            if self.sock is None:  # retired (code reload) between being chosen and being used
                return Invocation(False, error=dict(RETIRED), request_id=request_id, crashed=True)
            self._wait_ready()
            if self.init_error is not None:
                return Invocation(False, error=self.init_error, request_id=request_id, crashed=True)
            context = {
                "aws_request_id": request_id,
                "function_name": self.fn.function_name,
                "function_version": "$LATEST",
                "invoked_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.fn.function_name}",
                "memory_limit_in_mb": self.fn.memory,
                "log_group_name": self.env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
                "log_stream_name": self.env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
                "deadline_ms": time.time() * 1000 + self.fn.timeout * 1000,
            }
            started = time.perf_counter()
            reply = self.request(
                {"type": "invoke", "event": event, "context": context}, self.fn.timeout + TIMEOUT_GRACE
            )
            elapsed = (time.perf_counter() - started) * 1000
            if reply is None:
                timed_out = self.proc is not None and self.proc.poll() is None
                self._kill()
                message = (
                    f"Task timed out after {self.fn.timeout:.2f} seconds"
                    if timed_out
                    else f"the worker exited (code {self.proc.returncode if self.proc else '?'}) during the invocation"
                )
                error = {"errorType": "Sandbox.Timedout" if timed_out else "Runtime.ExitError", "errorMessage": message}
                self._say(f"{request_id} {message}")
                return Invocation(False, error=error, duration_ms=elapsed, request_id=request_id, crashed=True)
            if reply.get("ok"):
                result = json.loads(reply["result_json"]) if "result_json" in reply else reply.get("result")
                return Invocation(
                    True, result=result, duration_ms=reply.get("duration_ms", elapsed), request_id=request_id
                )
            return Invocation(
                False, error=reply.get("error"), duration_ms=reply.get("duration_ms", elapsed), request_id=request_id
            )

    def openapi(self) -> dict[str, Any] | None:
        with self.lock:
            self._wait_ready()
            if not self.ready:
                return None
            reply = self.request({"type": "openapi"}, 30)
        return (reply or {}).get("result") if (reply or {}).get("ok") else None

    def _say(self, text: str) -> None:
        with self.sink_lock:
            self.sink.write(f"[{self.fn.name}] {text}\n" if self.prefix else text + "\n")
            self.sink.flush()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.init_error = self.init_error or {"errorType": "Runtime.ExitError", "errorMessage": "worker stopped"}

    def stop(self, timeout: float = 3.0) -> None:
        """Close the socket (the worker exits on EOF), then make sure it is gone.

        An invocation in progress (a retired worker still serving) may finish first, for a while.
        """
        locked = self.lock.acquire(timeout=5.0)
        try:
            if self.sock is not None:
                self.sock.close()
                self.sock = None
        finally:
            if locked:
                self.lock.release()
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for pump in self._pumps:
            pump.thread.join(timeout)


def _code_stamp(paths: list[Path]) -> float:
    """Newest modification time of the Python files under `paths` (code reload)."""
    newest = 0.0
    for root in paths:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            for name in filenames:
                if name.endswith((".py", ".sql", ".json")):
                    try:
                        newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
                    except OSError:
                        pass
    return newest


class WorkerPool:
    """One worker per function, created on first use (or eagerly with `warm()`)."""

    def __init__(
        self,
        template: Template,
        environment: Callable[[Template, Function], dict[str, str]],
        *,
        sink: TextIO | None = None,
        prefix: bool = True,
        reload: bool = True,
    ):
        self.template = template
        self.environment = environment
        self.sink = sink or sys.stderr
        self.sink_lock = threading.Lock()
        self.prefix = prefix
        self.reload = reload
        self._workers: dict[str, Worker] = {}
        self._stamps: dict[str, float] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._retiring: list[threading.Thread] = []

    def _layer_paths(self, fn: Function) -> list[Path]:
        paths: list[Path] = []
        for layer in fn.layers:
            name = layer.get("LocalRef") if isinstance(layer, dict) else None
            resource = self.template.resolver.resources.get(name or "") or {}
            content = (resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content, str):
                root = (self.template.root / content).resolve()
                paths.append(root / "python" if (root / "python").is_dir() else root)
        return paths

    def _watched(self, fn: Function) -> list[Path]:
        return [fn.code_uri, *self._layer_paths(fn)]

    def _spawn(self, fn: Function) -> Worker:
        env = dict(self.environment(self.template, fn))
        if self.reload:  # before the import starts: an edit made during it is seen next time
            self._stamps[fn.name] = _code_stamp(self._watched(fn))
            self._checked[fn.name] = time.monotonic()
        worker = Worker(fn, env, self._layer_paths(fn), self.sink, self.sink_lock, self.prefix)
        worker.start()
        return worker

    def worker(self, name: str) -> Worker:
        fn = self.template.function(name)
        retired: Worker | None = None
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is stopped")
            current = self._workers.get(fn.name)
            if current is not None and self.reload and time.monotonic() - self._checked.get(fn.name, 0) > 0.5:
                self._checked[fn.name] = time.monotonic()
                if _code_stamp(self._watched(fn)) != self._stamps.get(fn.name):
                    with self.sink_lock:
                        self.sink.write(f"[{fn.name}] code changed: starting a new worker\n")
                    retired, current = current, None
            if current is None or not current.alive:
                if current is not None and current is not retired:
                    retired = current
                current = self._spawn(fn)
                self._workers[fn.name] = current
        if retired is not None:
            self._retire(retired)
        return current

    def warm(self, names: list[str]) -> None:
        """Start these functions' workers now (their imports run in parallel)."""
        for name in names:
            self.worker(name)

    def invoke(self, name: str, event: Any, request_id: str | None = None) -> Invocation:
        worker = self.worker(name)
        outcome = worker.invoke(event, request_id)
        if outcome.error_type == RETIRED["errorType"]:
            worker = self.worker(name)
            outcome = worker.invoke(event, request_id)
        if outcome.crashed:
            with self._lock:
                if self._workers.get(worker.fn.name) is worker:
                    del self._workers[worker.fn.name]
            worker.stop()
            if worker.ready and not self._closed:
                # It served before, then crashed or timed out: replace it now so the next
                # request finds a warm worker. One that failed to start is retried on the
                # next request instead (after the developer fixed the code).
                try:
                    self.worker(name)
                except RuntimeError:
                    pass
        return outcome

    def openapi(self, name: str) -> dict[str, Any] | None:
        return self.worker(name).openapi()

    def replace_template(self, template: Template) -> None:
        """A new template.yaml: every worker is replaced (handlers or environments may differ)."""
        with self._lock:
            self.template = template
            retired = list(self._workers.values())
            self._workers.clear()
        for worker in retired:
            self._retire(worker)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers.values() if w.pid is not None]

    def _retire(self, worker: Worker) -> None:
        """Stop a replaced worker in the background; stop() waits for it, so none outlives the pool."""
        thread = threading.Thread(target=worker.stop, daemon=True)
        self._retiring.append(thread)
        thread.start()

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
            self._workers.clear()
            retiring, self._retiring = self._retiring, []
        for t in retiring:
            t.join()
        threads = [threading.Thread(target=w.stop, daemon=True) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def new_request_id() -> str:
    """An API Gateway style request id (unique, short)."""
    return secrets.token_urlsafe(12).replace("-", "A").replace("_", "b")
