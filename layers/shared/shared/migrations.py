"""Forward-only SQL migrations: `sql/migrations/NNNN_verb_object.sql`.

* Pending files are applied in version order, each in its own transaction,
  and recorded in `schema_migrations` (version, name, checksum, duration).
* An applied file whose checksum changed stops the run before anything is
  applied: history is never rewritten silently.
* Concurrent runners (two deploys, a retried custom resource) serialize on a
  transaction-level advisory lock taken in every migration's transaction; the
  loser sees the version already recorded and skips it. Transaction-level locks
  are released by COMMIT/ROLLBACK, so a crashed runner never leaves one behind.
* A file whose first line is `-- migrate:no-transaction` (for `CREATE INDEX
  CONCURRENTLY`) runs statement by statement in autocommit. Such files must be
  idempotent (`IF NOT EXISTS`): if the runner dies half way, the next run
  starts the file again.

`python -m shared.migrations status|apply|dry-run --url postgresql://...`
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import statements
from .settings import database_url

FILE_RE = re.compile(r"^(\d{4})_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
NO_TRANSACTION = "-- migrate:no-transaction"
# Arbitrary, fixed 64-bit key for pg_advisory_xact_lock: "blog migrations".
LOCK_KEY = 0x626C6F675F6D6967

SQL = statements.beside(__file__, "migrations.sql")
"""The history's statements, by name (migrations.sql)."""


class Conn(Protocol):
    def run(self, sql: str, **params: Any) -> Any: ...


class MigrationError(RuntimeError):
    """The migration set cannot be applied; the message says why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str
    checksum: str
    transactional: bool

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Step:
    version: int
    name: str
    state: str  # applied | pending | changed | missing
    applied_at: Any = None


def load(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_verb_object.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        raw = path.read_bytes()
        sql = raw.decode("utf-8")
        found[version] = Migration(
            version=version,
            name=match.group(2),
            path=path,
            sql=sql,
            checksum=hashlib.sha256(raw).hexdigest(),
            transactional=not sql.lstrip().startswith(NO_TRANSACTION),
        )
    return [found[v] for v in sorted(found)]


def checksum_of(directory: Path) -> str:
    """One hash over the whole set: the template passes it to the custom resource."""
    h = hashlib.sha256()
    for m in load(directory):
        h.update(f"{m.version}:{m.checksum}\n".encode())
    return h.hexdigest()


def _applied(conn: Conn) -> dict[int, tuple[str, str, Any]]:
    exists = conn.run(SQL.history_exists)[0][0]
    if not exists:
        return {}
    rows = conn.run(SQL.applied)
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def status(conn: Conn, migrations: list[Migration]) -> list[Step]:
    applied = _applied(conn)
    steps = []
    by_version = {m.version: m for m in migrations}
    for m in migrations:
        if m.version not in applied:
            steps.append(Step(m.version, m.name, "pending"))
        else:
            name, checksum, at = applied[m.version]
            steps.append(Step(m.version, m.name, "applied" if checksum == m.checksum else "changed", at))
    for version, (name, _, at) in applied.items():
        if version not in by_version:
            steps.append(Step(version, name, "missing", at))
    return sorted(steps, key=lambda s: s.version)


def verify(conn: Conn, migrations: list[Migration]) -> list[Migration]:
    """The pending migrations; MigrationError if history and files disagree."""
    steps = status(conn, migrations)
    changed = [s for s in steps if s.state == "changed"]
    missing = [s for s in steps if s.state == "missing"]
    if changed:
        names = ", ".join(f"{s.version:04d}_{s.name}" for s in changed)
        raise MigrationError(
            f"applied migrations were modified after being applied: {names}. "
            "Migrations are forward-only: restore the files and add a new migration instead."
        )
    if missing:
        names = ", ".join(f"{s.version:04d}_{s.name}" for s in missing)
        raise MigrationError(f"applied migrations are missing from the migrations directory: {names}")
    pending = {s.version for s in steps if s.state == "pending"}
    return [m for m in migrations if m.version in pending]


def split_statements(sql: str) -> list[str]:
    """Statements of a no-transaction file: one per `;` at the end of a line."""
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def _record(conn: Conn, m: Migration, duration_ms: int) -> None:
    conn.run(
        SQL.record,
        v=m.version,
        n=m.name,
        c=m.checksum,
        d=duration_ms,
    )


def _locked_tx(conn: Conn) -> None:
    conn.run("BEGIN")
    conn.run(SQL.lock, k=LOCK_KEY)


def _is_applied(conn: Conn, version: int) -> bool:
    return bool(conn.run(SQL.is_applied, v=version)[0][0])


def apply(conn: Conn, migrations: list[Migration], *, log: Any = print) -> list[Migration]:
    """Apply what is pending; return what this run applied."""
    _locked_tx(conn)
    try:
        conn.run(SQL.create_table)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    done = []
    for m in verify(conn, migrations):
        started = time.perf_counter()
        if m.transactional:
            _locked_tx(conn)
            try:
                if _is_applied(conn, m.version):
                    conn.run("ROLLBACK")
                    continue
                conn.run(m.sql)
                _record(conn, m, int((time.perf_counter() - started) * 1000))
                conn.run("COMMIT")
            except BaseException as exc:
                conn.run("ROLLBACK")
                raise MigrationError(f"{m.filename} failed and was rolled back: {_describe(exc)}") from exc
        else:
            try:
                for statement in split_statements(m.sql):
                    conn.run(statement)
            except BaseException as exc:
                raise MigrationError(
                    f"{m.filename} failed (no transaction; it is re-run next time): {_describe(exc)}"
                ) from exc
            _locked_tx(conn)
            _record(conn, m, int((time.perf_counter() - started) * 1000))
            conn.run("COMMIT")
        log(f"applied {m.filename} in {int((time.perf_counter() - started) * 1000)} ms")
        done.append(m)
    return done


def _describe(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], dict):
        d = args[0]
        return f"{d.get('C', '')} {d.get('M', '')}".strip()
    return str(exc) or type(exc).__name__


# -- role passwords -------------------------------------------------------------
APP_ROLES = ("blog_app", "blog_readonly")
_VERIFIER_RE = re.compile(r"^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores: the password never reaches the server."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def set_role_password(conn: Conn, role: str, password: str) -> None:
    """Give an application role LOGIN with this password (as a SCRAM verifier).

    ALTER ROLE takes no bind parameters; the statement is assembled from an
    allow-listed role name and a verifier that matches a strict pattern, so no
    input reaches the SQL text unchecked, and the clear password never appears
    in server logs.
    """
    if role not in APP_ROLES:
        raise MigrationError(f"unknown application role {role!r}")
    verifier = scram_verifier(password)
    if not _VERIFIER_RE.match(verifier):  # pragma: no cover - defensive
        raise MigrationError("could not build a password verifier")
    statement = "ALTER ROLE " + role + " WITH LOGIN PASSWORD '" + verifier + "'"
    conn.run(statement)


# -- command line -----------------------------------------------------------------
def default_directory() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parent / "migrations", here.parents[3] / "sql" / "migrations"):
        if candidate.is_dir():
            return candidate
    return here.parents[3] / "sql" / "migrations"


def connect_url(url: str) -> Any:
    from urllib.parse import unquote, urlparse

    from .wire import PipelinedConnection

    u = urlparse(url)
    if u.scheme not in ("postgres", "postgresql"):
        raise MigrationError("the database URL must start with postgresql://")
    query = dict(p.split("=", 1) for p in u.query.split("&") if "=" in p)
    host = u.hostname or query.get("host")
    kwargs: dict[str, Any] = {
        "user": unquote(u.username or "postgres"),
        "password": unquote(u.password) if u.password else None,
        "database": (u.path or "/postgres")[1:] or "postgres",
        "port": u.port or 5432,
    }
    if host and host.startswith("/"):
        kwargs["unix_sock"] = f"{host}/.s.PGSQL.{kwargs['port']}"
    else:
        kwargs["host"] = host or "127.0.0.1"
    return PipelinedConnection(**kwargs)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.migrations")
    parser.add_argument("command", choices=("status", "apply", "dry-run"))
    parser.add_argument("--url", default=database_url(), help="postgresql:// URL (default $DATABASE_URL)")
    parser.add_argument("--dir", type=Path, default=None, help="migrations directory")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.url:
        parser.error("set DATABASE_URL or pass --url")
    migrations = load(args.dir or default_directory())
    conn = connect_url(args.url)
    try:
        if args.command == "status":
            for s in status(conn, migrations):
                print(f"{s.version:04d}  {s.state:8}  {s.name}  {s.applied_at or ''}")
        elif args.command == "dry-run":
            pending = verify(conn, migrations)
            print("\n".join(f"would apply {m.filename}" for m in pending) or "nothing to apply")
        else:
            done = apply(conn, migrations)
            print(f"{len(done)} migration(s) applied")
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
