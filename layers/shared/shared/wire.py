"""pg8000 connection that runs a parameterized statement in one round trip.

pg8000.native's `run()` with parameters costs three round trips (PARSE+SYNC,
DESCRIBE+SYNC, BIND+EXECUTE+SYNC). `PipelinedConnection` writes the whole
extended-protocol exchange for an *unnamed* statement in a single packet:

    Parse("") Bind("", "") Describe(portal) Execute Sync

and then reads until ReadyForQuery: one round trip, exactly what libpq's
PQexecParams does. Unnamed statements and portals die at the next Parse/Sync, so
no session state is left behind and RDS Proxy can keep multiplexing (named
prepared statements would pin the client to one backend).

It is not injectable by construction: the SQL text is a constant that travels
in the Parse message; values travel separately in Bind and are never parsed as
SQL. Parse also refuses more than one command per statement, so even a
constant with two statements fails loudly.

Several statements can be sent under one Sync (`run_many`): the server runs
them as one implicit transaction, so a small multi-statement write is atomic
and still costs one round trip.

JSON (oid 114) values are returned as raw text so that SQL that builds a whole
response with json_build_object/json_agg passes through without a decode and
re-encode in Python. JSONB columns are decoded as usual.

Driver internals. This module (and shared/db.py) uses private names of pg8000
PG8000_VERSION: `pg8000.core._write`, `_flush`, `Context`, and the connection's
`_sock`, `_usock`, `_client_encoding`, `_context`, `py_types`, `message_types`,
`handle_messages`. tests/unit/test_driver_internals.py fails when the installed
pg8000 is another version or one of these names is gone. To upgrade pg8000:

1. Read pg8000's release notes and the diff of pg8000/core.py and
   pg8000/native.py between PG8000_VERSION and the new version, for the names
   above and for the message flow `handle_messages` drives.
2. Pin the new version in layers/shared/requirements.txt and constraints.txt,
   run `make venv`, and set PG8000_VERSION below.
3. Run tests/unit/test_driver_internals.py, then the round-trip and fault tests
   (tests/integration/test_db_connection.py, tests/reliability/test_faults.py)
   and `make bench-quick`: one round trip per statement must still hold.
"""

from __future__ import annotations

import select
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import pg8000.native
from pg8000.converters import make_params
from pg8000.core import Context, InterfaceError, _flush, _write

PG8000_VERSION = "1.31.6"
"""The pg8000 release whose internals this module was written against (see the docstring)."""

JSON_OID = 114
_I = struct.Struct("!i")
_H = struct.Struct("!h")
_SYNC = b"S\x00\x00\x00\x04"
_DESCRIBE_PORTAL = b"D\x00\x00\x00\x06P\x00"
_EXECUTE_ALL = b"E\x00\x00\x00\x09\x00\x00\x00\x00\x00"
_NO_FORMATS = _H.pack(0)


@lru_cache(maxsize=512)
def compile_sql(sql: str) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """`:name` placeholders to `$n`, cached: pg8000 re-parses the text on every run."""
    return pg8000.native.to_statement(sql)  # type: ignore[no-any-return]


def _message(code: bytes, payload: bytes) -> bytes:
    return code + _I.pack(len(payload) + 4) + payload


class PipelinedConnection(pg8000.native.Connection):
    """A pg8000 native connection with single-round-trip parameterized statements."""

    round_trips: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """pg8000's arguments. Without `sock` or `unix_sock` it opens its TCP socket with
        `open_socket` (Nagle off), as shared.db does: pg8000's own socket keeps Nagle on."""
        self.round_trips = 0
        if kwargs.get("sock") is None and kwargs.get("unix_sock") is None:
            # pg8000's `timeout` (None: none) bounds the connect and every read, as it would have
            kwargs["sock"] = open_socket(
                kwargs.get("host") or "localhost", int(kwargs.get("port") or 5432), kwargs.get("timeout")
            )
        super().__init__(*args, **kwargs)
        self.register_in_adapter(JSON_OID, str)

    def run(self, sql, stream=None, types=None, **params):  # type: ignore[no-untyped-def]
        if not params and stream is None and types is None:
            self._context = self.execute_simple(sql)
        elif stream is not None or types is not None:
            return super().run(sql, stream=stream, types=types, **params)
        else:
            statement, make_vals = compile_sql(sql)
            self._context = self._exchange(self._encode_statement(statement, make_vals(params)), Context(statement))
        return self._context.rows

    # -- protocol -------------------------------------------------------------
    def _encode_statement(self, statement: str, vals: Sequence[Any]) -> bytes:
        enc = self._client_encoding
        parse = _message(b"P", b"\x00" + statement.encode(enc) + b"\x00" + _NO_FORMATS)
        bind = bytearray(b"\x00\x00" + _NO_FORMATS + _H.pack(len(vals)))
        for value in make_params(self.py_types, vals):
            if value is None:
                bind += _I.pack(-1)
            else:
                data = value.encode(enc)
                bind += _I.pack(len(data)) + data
        bind += _NO_FORMATS
        return parse + _message(b"B", bytes(bind)) + _DESCRIBE_PORTAL + _EXECUTE_ALL

    def _exchange(self, packet: bytes, context: Context) -> Context:
        if self._sock is None:
            raise InterfaceError("connection is closed")
        self.round_trips += 1
        _write(self._sock, packet + _SYNC)
        _flush(self._sock)
        self.handle_messages(context)
        return context

    def execute_unnamed(self, statement, vals=(), oids=(), stream=None):  # type: ignore[no-untyped-def]
        if stream is not None or oids:  # COPY and explicit types keep pg8000's path
            self.round_trips += 3
            return super().execute_unnamed(statement, vals=vals, oids=oids, stream=stream)
        return self._exchange(self._encode_statement(statement, vals), Context(statement))

    def execute_simple(self, statement):  # type: ignore[no-untyped-def]
        self.round_trips += 1
        return super().execute_simple(statement)

    def run_many(self, statements: Iterable[tuple[str, dict[str, Any]]]) -> list[Context]:
        """Run statements under one Sync: one round trip, one implicit transaction.

        Each statement gets its own Context, but the server's replies arrive in
        order, so they are read with one context per statement in turn.
        """
        packet = bytearray()
        contexts = []
        for sql, params in statements:
            statement, make_vals = compile_sql(sql)
            packet += self._encode_statement(statement, make_vals(params))
            contexts.append(Context(statement))
        if self._sock is None:
            raise InterfaceError("connection is closed")
        self.round_trips += 1
        _write(self._sock, bytes(packet) + _SYNC)
        _flush(self._sock)
        self._read_pipeline(contexts)
        return contexts

    def _read_pipeline(self, contexts: list[Context]) -> None:
        # Replies for statement i end with CommandComplete (or an error, after
        # which the server skips to Sync). Advance to the next context then.
        from pg8000.core import COMMAND_COMPLETE, READY_FOR_QUERY, _read, ci_unpack

        idx = 0
        error = None
        code = None
        while code != READY_FOR_QUERY:
            code, data_len = ci_unpack(_read(self._sock, 5))
            ctx = contexts[min(idx, len(contexts) - 1)]
            self.message_types[code](_read(self._sock, data_len - 4), ctx)
            if ctx.error is not None and error is None:
                error = ctx.error
            if code == COMMAND_COMPLETE:
                idx += 1
        if error is not None:
            raise error

    # -- liveness ---------------------------------------------------------------
    def is_stale(self) -> bool:
        """True when the idle socket has something to read: the server said goodbye.

        An idle connection never receives unsolicited data from PostgreSQL or
        RDS Proxy except a termination notice or EOF, so readability means
        pg_terminate_backend, a restart, failover or an idle timeout. Checking
        costs one poll() and no round trip, which lets even non-idempotent
        writes reconnect safely *before* anything is sent.
        """
        if self._sock is None:
            return True
        try:
            readable, _, _ = select.select([self._usock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    @property
    def in_transaction(self) -> bool:
        return getattr(self, "_transaction_status", None) in (b"T", b"E")


def open_socket(host: str, port: int, timeout: float | None) -> socket.socket:
    """A connected TCP socket with Nagle disabled.

    pg8000 never sets TCP_NODELAY; with Nagle on, the small writes of the TLS
    handshake and startup wait for delayed ACKs (~40 ms per connect measured).
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock
