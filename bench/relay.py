"""A TCP relay in front of PostgreSQL that counts and delays round trips.

Every chunk the client sends is held for `delay` seconds before it is passed on,
so a request that costs k round trips gets k x delay of added latency. The relay
also counts turns on the wire: a turn starts when the client sends after the
server has answered (or for the first time). A pipelined statement is one turn;
pg8000's own parameterized path is three.
"""

from __future__ import annotations

import socket
import threading
import time


class DelayRelay:
    """A TCP relay that delays every client->server chunk by `delay` seconds."""

    def __init__(self, host: str, port: int, delay: float = 0.0):
        self.target = (host, port)
        self.delay = delay
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self._lock = threading.Lock()
        self._turns = 0
        self._chunks = 0
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
            # Per connection: has the server spoken since the client last did?
            state = {"server_spoke": True}
            threading.Thread(target=self._upstream, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, state), daemon=True).start()

    def _upstream(self, src: socket.socket, dst: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    self._chunks += 1
                    if state["server_spoke"]:
                        self._turns += 1
                        state["server_spoke"] = False
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(src, dst)

    def _downstream(self, src: socket.socket, dst: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    state["server_spoke"] = True
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(src, dst)

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def __enter__(self) -> DelayRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shutdown(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
