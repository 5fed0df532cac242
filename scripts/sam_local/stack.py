"""The local stack as a container sees it: PostgreSQL and moto through the host gateway.

The local stack (devstack.stack.LocalStack, as under `make dev` and `make invoke`) keeps
PostgreSQL and moto on loopback. A function container reaches the host at
host.containers.internal, the gateway of podman's bridge. Relays listen on that address only
(never on every interface) and only while a `sam local` command runs, and pass each connection
to the loopback service; PostgreSQL's own configuration (loopback, SCRAM passwords) is left as
it is, and a running `make dev` is used as it is.

* PostgreSQL: a relay on a free port; DB_HOST/DB_PORT point at it (the template declares both,
  so `--env-vars` may override them).
* moto (Secrets Manager): a relay on AWS_PORT, the port the image's AWS_ENDPOINT_URL names
  (scripts/sam_local/image.py says why the endpoint is in the image).
* CloudFormation's answer to a custom resource (the MigrateFunction): the ResponseURL catcher
  of `make invoke`, listening on the gateway.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devstack import envvars
from devstack.invoke import ResponseCatcher
from devstack.stack import LocalStack
from devstack.template import Template
from scripts.sam_local import engine, image

CONTAINER_HOST = "host.containers.internal"


class Relay:
    """Accept on (host, port) and pass every connection to (target_host, target_port)."""

    def __init__(self, host: str, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._server.bind((host, port))
        except OSError as exc:
            self._server.close()
            raise engine.EngineError(
                f"cannot listen on {host}:{port} ({exc}): is another `sam local` running?"
            ) from exc
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"relay-{self.port}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stopped.set()
        self._server.close()


class GatewayCatcher(ResponseCatcher):
    """`make invoke`'s CloudFormation catcher, reachable from a container."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self._server.server_close()
        handler = self._server.RequestHandlerClass
        from http.server import ThreadingHTTPServer

        self._server = ThreadingHTTPServer((address, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, key: str) -> str:
        return f"http://{CONTAINER_HOST}:{self._server.server_address[1]}/cloudformation/{key}"


class ContainerView:
    """Relays for one started LocalStack; `env_vars()` is the file `sam local --env-vars` reads."""

    def __init__(self, stack: LocalStack, address: str) -> None:
        self.stack = stack
        self.address = address
        self.db = Relay(address, 0, ("127.0.0.1", stack.cluster.port))
        moto_port = int(stack.moto_url.rsplit(":", 1)[1])
        try:
            self.aws = Relay(address, image.AWS_PORT, ("127.0.0.1", moto_port))
        except engine.EngineError:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()
        self.aws.close()

    def function_values(self, template: Template, name: str) -> dict[str, str]:
        """What `make invoke` gives the function, as far as the template lets `sam local` set it."""
        fn = template.function(name)
        env = self.stack.function_environment(template, fn)
        env.update({"DB_HOST": CONTAINER_HOST, "DB_PORT": str(self.db.port)})
        declared = fn.environment
        return {k: v for k, v in env.items() if k in declared}

    def env_vars(self, template: Template) -> dict[str, Any]:
        return {fn.name: self.function_values(template, fn.name) for fn in template.functions.values()}

    def write_env_vars(self, template: Template, path: Path, overrides: dict[str, Any] | None = None) -> Path:
        """The --env-vars file: the local stack's values, then the user's own file's (`Parameters`
        for every function, then the function's own key), as `sam local` itself reads one: only
        variables the template declares; the others are named on stderr and dropped."""
        values = self.env_vars(template)
        ignored: set[str] = set()
        for fn in template.functions.values():
            for key, value in envvars.overrides_for(overrides, fn).items():
                if key in fn.environment:
                    values[fn.name][key] = value
                else:
                    ignored.add(key)
        if ignored:
            print(
                "env-vars the template does not declare are ignored (as sam local does): " + ", ".join(sorted(ignored)),
                file=sys.stderr,
            )
        path.write_text(json.dumps(values, indent=2) + "\n")
        path.chmod(0o600)  # it names the secrets, not their values; still kept private
        return path


@contextmanager
def container_view(stack: LocalStack) -> Iterator[ContainerView]:
    address = engine.gateway()
    if not engine.bridge_up(address):
        engine.ensure_bridge(image.tag("x86_64" if image.is_current("x86_64") else "arm64"))
    view = ContainerView(stack, address)
    try:
        yield view
    finally:
        view.close()
