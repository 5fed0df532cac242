"""The TCP relay in front of PostgreSQL that tests and benchmarks put between the layer and
the server. One relay, three modes, usable together:

* delay and count: every chunk the client sends is held for `delay` seconds before it is
  passed on, so a request that costs k round trips gets k x delay of added latency. `turns`
  counts round trips: a turn starts when the client sends after the server has answered (or
  for the first time). A pipelined statement is one turn; pg8000's own parameterized path
  is three.
* lose a reply (`lose_reply_to(marker)`): the next client packet containing `marker` reaches
  the server; the server's answer is read and thrown away and both sides are closed, as when
  a network path dies after the commit. The client cannot know whether its statement ran:
  the case that tells retry-safe writes from the rest.
* cut logins (`break_next_logins(n)`): the next `n` connections die during their startup,
  after the startup message reached the server.
"""

from __future__ import annotations

import socket
import threading
import time


class Relay:
    """A TCP relay from 127.0.0.1:`port` to (`host`, `port` given); see the module docstring."""

    def __init__(self, host: str, port: int, delay: float = 0.0):
        self.target = (host, port)
        self.delay = delay
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.lost = 0
        self.broken_logins = 0
        self._lock = threading.Lock()
        self._turns = 0
        self._chunks = 0
        self._marker: bytes | None = None
        self._break_logins = 0
        threading.Thread(target=self._accept, daemon=True).start()

    # -- counting ---------------------------------------------------------------
    @property
    def turns(self) -> int:
        """Client turns (round trips) over all connections so far."""
        with self._lock:
            return self._turns

    @property
    def chunks(self) -> int:
        """Client->server chunks received so far (>= turns)."""
        with self._lock:
            return self._chunks

    # -- faults -----------------------------------------------------------------
    def lose_reply_to(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker

    def break_next_logins(self, n: int = 1) -> None:
        """The next `n` connections die during their startup (after the startup message reached the server)."""
        with self._lock:
            self._break_logins = n

    def _take_login(self) -> bool:
        with self._lock:
            if self._break_logins > 0:
                self._break_logins -= 1
                return True
        return False

    def _take_marker(self, data: bytes) -> bool:
        with self._lock:
            if self._marker is not None and self._marker in data:
                self._marker = None
                return True
        return False

    # -- relaying ---------------------------------------------------------------
    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Per connection: has the server spoken since the client last did; is the path cut?
            state = {"server_spoke": True}
            cut = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, state, cut), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, state, cut), daemon=True).start()

    def _upstream(
        self, client: socket.socket, server: socket.socket, state: dict[str, bool], cut: threading.Event
    ) -> None:
        try:
            if self._take_login():
                server.sendall(client.recv(65536))  # the startup message; then the path dies
                time.sleep(0.05)
                self.broken_logins += 1
                return
            while data := client.recv(65536):
                with self._lock:
                    self._chunks += 1
                    if state["server_spoke"]:
                        self._turns += 1
                        state["server_spoke"] = False
                if self._take_marker(data):
                    cut.set()  # from now on the server's answers go nowhere
                    server.sendall(data)
                    time.sleep(0.3)  # the server executes, commits and answers; the answer is lost
                    self.lost += 1
                    break
                if self.delay:
                    time.sleep(self.delay)
                server.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(client, server)

    def _downstream(
        self, server: socket.socket, client: socket.socket, state: dict[str, bool], cut: threading.Event
    ) -> None:
        try:
            while data := server.recv(65536):
                with self._lock:
                    state["server_spoke"] = True
                if not cut.is_set():
                    client.sendall(data)
        except OSError:
            pass
        finally:
            if not cut.is_set():
                _shutdown(server, client)

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shutdown(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
