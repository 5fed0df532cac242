"""PostgreSQL access for the functions: one pg8000 connection per container.

Decisions, with the numbers measured on this project's harness (bench/ and
tests/integration/test_db_*.py reproduce them):

* Round trips. pg8000.native's parameterized `run()` costs 3 round trips
  (PARSE/SYNC, DESCRIBE/SYNC, BIND/EXECUTE/SYNC). `wire.PipelinedConnection`
  sends Parse/Bind/Describe/Execute/Sync for an unnamed statement in one write:
  1 round trip per statement, measured by counting through a delaying TCP relay
  (3 -> 1). Unnamed statements leave no session state, so RDS Proxy keeps
  multiplexing; named prepared statements (also 1 round trip) would pin.
* Reads run in autocommit (no BEGIN/COMMIT: pg8000's DB-API default costs 7
  round trips for a read). Writes that need several statements use
  `transaction()`; BEGIN is pipelined with the first statement, so a two
  statement transaction costs 3 round trips, not 4. `run_atomic()` sends
  several statements under one Sync: one round trip, one implicit transaction.
* TLS verifies the certificate and host name against the Amazon Trust Services
  roots (RDS Proxy presents ACM certificates). The SSLContext is built once per
  container: building it costs ~1-25 ms depending on the bundle size.
* TCP_NODELAY is set on the socket pg8000 is given (pg8000 never sets it).
* A client socket timeout bounds every read, so a dead peer fails the request
  with a 503 instead of hanging until the Lambda timeout. A read that timed out
  is not resent: a silent server stays silent, and a retry would double the wait.
* No startup parameters and no SET: both pin RDS Proxy sessions. Timeouts are
  role settings (see sql/migrations/0002_create_app_roles.sql).
* The connection lives at module scope across warm invocations. Before each use
  an idle socket that has become readable (pg_terminate_backend, failover,
  proxy idle timeout) is replaced without sending anything, which is safe for
  writes too. A failure *during* a statement is retried once only for reads.
* An authentication failure (SQLSTATE class 28) re-fetches the secret with
  force_fetch and retries once, so a rotation never causes an outage. When the
  fresh AWSCURRENT fails too, the rotation is between setSecret (the database
  has the new password) and finishSecret (the secret does not say so yet): the
  AWSPENDING version is tried once. Through RDS Proxy this changes nothing (the
  proxy checks clients against the AWSCURRENT it read) and costs one more failed
  login; connecting directly (migrations, the stats reader, the local stack) it
  closes the gap.
* A login cut off half-way (the new backend terminated, the path dropped) is
  tried once more: nothing was sent yet. A refused or silent server is not.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pg8000.exceptions import DatabaseError, InterfaceError

from .errors import (
    AppError,
    ServiceUnavailable,
    from_db_error,
    is_auth_failure,
    is_connection_failure,
    sqlstate,
)
from .secrets import Credentials, database_credentials, pending_database_credentials
from .settings import DatabaseSettings, get_settings
from .wire import PipelinedConnection, open_socket

Row = dict[str, Any]
T = TypeVar("T")

_ssl_contexts: dict[str, ssl.SSLContext] = {}


def ssl_context_for(db: DatabaseSettings) -> ssl.SSLContext | None:
    """A verifying SSLContext per CA bundle, built once per container."""
    if db.tls == "disable":
        return None
    key = str(db.ca_bundle)
    ctx = _ssl_contexts.get(key)
    if ctx is None:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=key)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        _ssl_contexts[key] = ctx
    return ctx


def _broken_while_opening(exc: BaseException) -> bool:
    """A login cut off half-way: the peer closed or reset it, or terminated the new backend.

    Not a timeout (a silent server stays silent: fail fast), not TLS (a certificate
    does not start verifying on a second try), not a refusal (raised before this).
    """
    causes = (exc, exc.__cause__)
    if any(isinstance(c, (TimeoutError, ssl.SSLError)) for c in causes):
        return False
    if isinstance(exc, DatabaseError):
        return sqlstate(exc) == "57P01"  # admin_shutdown: pg_terminate_backend
    return isinstance(exc, (InterfaceError, ConnectionError))


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError)


def _rows(ctx: Any) -> list[Row]:
    if not ctx.rows:
        return []
    names = [c["name"] for c in ctx.columns]
    return [dict(zip(names, r, strict=True)) for r in ctx.rows]


def _note_constraints(exc: DatabaseError, statements: list[str]) -> None:
    """Keep, on the error, the constraint messages of the statements that ran (a
    `shared.statements.Statement` carries its own), for `from_db_error`."""
    messages: dict[str, tuple[str, str]] = {}
    for sql in statements:
        messages.update(getattr(sql, "constraints", None) or {})
    exc.constraints = messages  # type: ignore[attr-defined]


def _db_error(exc: BaseException) -> AppError:
    return from_db_error(exc, getattr(exc, "constraints", None))


class Session:
    """Statements on one connection; the surface handlers and queries use."""

    def __init__(self, conn: PipelinedConnection, *, begin: bool = False):
        self.conn = conn
        self._pending_begin = begin

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        try:
            if self._pending_begin:
                self._pending_begin = False
                return self.conn.run_many([("BEGIN", {}), (sql, params)])[1]
            self.conn.run(sql, **params)
            return self.conn._context
        except DatabaseError as exc:
            _note_constraints(exc, [sql])
            raise

    def run_many(self, statements: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Several statements under one Sync: one round trip, one implicit transaction."""
        try:
            return self.conn.run_many(statements)
        except DatabaseError as exc:
            _note_constraints(exc, [sql for sql, _ in statements])
            raise

    def all(self, sql: str, **params: Any) -> list[Row]:
        return _rows(self._run(sql, params))

    def one(self, sql: str, **params: Any) -> Row | None:
        rows = self.all(sql, **params)
        return rows[0] if rows else None

    def value(self, sql: str, **params: Any) -> Any:
        rows = self._run(sql, params).rows
        return rows[0][0] if rows else None

    def execute(self, sql: str, **params: Any) -> int:
        ctx = self._run(sql, params)
        return max(int(ctx.row_count), 0)

    def finish(self) -> None:
        if self._pending_begin:  # nothing ran: nothing to commit
            self._pending_begin = False
            return
        self.conn.run("COMMIT")


class Database:
    """A lazily opened, self-healing connection for one database endpoint."""

    def __init__(
        self,
        settings: DatabaseSettings,
        credentials: Callable[..., Credentials] = database_credentials,
        pending_credentials: Callable[[DatabaseSettings], Credentials | None] = pending_database_credentials,
    ):
        self.settings = settings
        self._credentials = credentials
        self._pending_credentials = pending_credentials
        self._conn: PipelinedConnection | None = None
        self._lock = threading.RLock()
        self.connects = 0
        self.pending_logins = 0  # logins that needed AWSPENDING (a rotation's gap)

    # -- connection lifecycle ---------------------------------------------------
    def _open(self, force_secret: bool = False, creds: Credentials | None = None) -> PipelinedConnection:
        s = self.settings
        if creds is None:
            creds = self._credentials(s, force=force_secret)
        try:
            sock = open_socket(s.host, s.port, s.connect_timeout)
        except OSError as exc:
            raise ServiceUnavailable("the database is unavailable; try again", code="database_unavailable") from exc
        try:
            conn = PipelinedConnection(
                user=creds.user,
                password=creds.password,
                host=s.host,
                port=s.port,
                database=s.name,
                sock=sock,
                ssl_context=ssl_context_for(s) if s.tls != "disable" else False,
                timeout=s.connect_timeout,
                application_name=s.application_name,
            )
        except BaseException:
            sock.close()
            raise
        conn._usock.settimeout(s.query_timeout)
        self.connects += 1
        return conn

    def _open_again_if_broken(
        self, force_secret: bool = False, creds: Credentials | None = None
    ) -> PipelinedConnection:
        try:
            return self._open(force_secret, creds)
        except (DatabaseError, InterfaceError, OSError) as exc:
            if not _broken_while_opening(exc):
                raise
            # The new session died while logging in (terminated, a failover, a proxy
            # dropping it). Nothing was sent, so one more attempt is safe for any work.
            return self._open(force_secret, creds)

    def _connect(self) -> PipelinedConnection:
        try:
            try:
                return self._open_again_if_broken()
            except DatabaseError as exc:
                if not is_auth_failure(exc):
                    raise
            # The cached secret may predate a rotation: fetch it fresh, once.
            try:
                return self._open_again_if_broken(force_secret=True)
            except DatabaseError as exc:
                if not is_auth_failure(exc):
                    raise
                # Between setSecret and finishSecret: the new password is only in AWSPENDING.
                pending = self._pending_credentials(self.settings)
                if pending is None:
                    raise
                self.pending_logins += 1
                return self._open_again_if_broken(creds=pending)
        except AppError:
            raise
        except (DatabaseError, InterfaceError, OSError, ssl.SSLError) as exc:
            raise ServiceUnavailable("the database is unavailable; try again", code="database_unavailable") from exc

    def connection(self) -> PipelinedConnection:
        conn = self._conn
        if conn is None or conn.is_stale():
            self.discard()
            conn = self._conn = self._connect()
        return conn

    def discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn._usock.close()
            except OSError:
                pass

    def prepare(self, statements: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """Open the connection now and run read-only `statements` on it (rows discarded), holding the
        connection's lock throughout, so a request arriving meanwhile waits for this connection
        instead of opening a second one (SnapStart's after-restore hook, shared.snapstart)."""
        with self._lock:
            self.connection()
            for sql, params in statements:
                self.all(sql, **params)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except (InterfaceError, OSError):
                pass

    @property
    def round_trips(self) -> int:
        return self._conn.round_trips if self._conn is not None else 0

    # -- running work -----------------------------------------------------------
    def _call(self, work: Callable[[Session], T], *, idempotent: bool) -> T:
        with self._lock:
            for attempt in (1, 2):
                conn = self.connection()
                try:
                    return work(Session(conn))
                except DatabaseError as exc:
                    if is_connection_failure(exc):
                        self.discard()
                        if idempotent and attempt == 1:
                            continue
                    elif conn.in_transaction:
                        self._rollback_quietly(conn)
                    raise _db_error(exc) from exc
                except (InterfaceError, OSError) as exc:
                    self.discard()
                    # A server that stopped answering stays silent: resending would only
                    # double the wait (and outlast the function's timeout).
                    if idempotent and attempt == 1 and not _timed_out(exc):
                        continue
                    raise _db_error(exc) from exc
            raise AssertionError("unreachable")

    def _rollback_quietly(self, conn: PipelinedConnection) -> None:
        try:
            conn.run("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is replaced anyway
            self.discard()

    def read(self, work: Callable[[Session], T]) -> T:
        """Run idempotent work; retried once on a broken connection."""
        return self._call(work, idempotent=True)

    def write(self, work: Callable[[Session], T]) -> T:
        """Run non-idempotent work in autocommit; never retried once sent."""
        return self._call(work, idempotent=False)

    def all(self, sql: str, **params: Any) -> list[Row]:
        return self.read(lambda s: s.all(sql, **params))

    def one(self, sql: str, **params: Any) -> Row | None:
        return self.read(lambda s: s.one(sql, **params))

    def value(self, sql: str, **params: Any) -> Any:
        return self.read(lambda s: s.value(sql, **params))

    def execute(self, sql: str, **params: Any) -> int:
        """A single write statement in autocommit (atomic by itself)."""
        return self.write(lambda s: s.execute(sql, **params))

    def write_one(self, sql: str, **params: Any) -> Row | None:
        """A single write statement with RETURNING."""
        return self.write(lambda s: s.one(sql, **params))

    def run_atomic(self, statements: list[tuple[str, dict[str, Any]]]) -> list[list[Row]]:
        """Several statements, one round trip, all-or-nothing (one implicit transaction)."""

        def work(s: Session) -> list[list[Row]]:
            return [_rows(ctx) for ctx in s.run_many(statements)]

        return self.write(work)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """An explicit transaction for multi-statement writes. Not retried.

        BEGIN is sent with the first statement (one round trip saved); COMMIT
        on success, ROLLBACK on any exception.
        """
        with self._lock:
            conn = self.connection()
            session = Session(conn, begin=True)
            try:
                yield session
                session.finish()
            except AppError:
                if conn.in_transaction:
                    self._rollback_quietly(conn)
                raise
            except DatabaseError as exc:
                if is_connection_failure(exc):
                    self.discard()
                else:
                    self._rollback_quietly(conn)
                raise _db_error(exc) from exc
            except (InterfaceError, OSError) as exc:
                self.discard()
                raise _db_error(exc) from exc
            except BaseException:
                if conn.in_transaction:
                    self._rollback_quietly(conn)
                raise


_databases: dict[str, Database] = {}
_init_lock = threading.Lock()


def get_database(role: str = "primary") -> Database:
    """The container's Database for `primary` (DB_*), `reader` (DB_READER_*) or `writer`."""
    db = _databases.get(role)
    if db is None:
        with _init_lock:
            db = _databases.get(role)
            if db is None:
                settings = get_settings()
                target = {"primary": settings.db, "reader": settings.reader_db, "writer": settings.writer_db}.get(role)
                if target is None:
                    raise ServiceUnavailable(f"no {role} database is configured")
                db = _databases[role] = Database(target)
    return db


def reset_databases() -> None:
    """Close every cached connection (tests, and settings changes)."""
    for db in list(_databases.values()):
        db.close()
    _databases.clear()
