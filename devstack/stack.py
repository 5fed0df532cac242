"""The local infrastructure behind `make dev` and `make invoke`.

* PostgreSQL: a cluster kept under <local>/pg (initialized once, reused), started
  on its own port (PGPORT_DEV, default 54329, or a free port when that one is
  taken), as an unprivileged OS user when run as root (devstack.postgres).
* The database as production has it: owner, blog_app and blog_readonly roles
  with passwords (kept in <local>/passwords.json, mode 0600), migrations applied
  as the owner, then the development seed (sql/seed/*.sql in file order;
  idempotent, so it is applied on every start).
* Secrets Manager: moto's server on loopback (ThreadedMotoServer) holding one
  secret per role, shaped like an RDS secret (engine, host, port, dbname,
  username, password).
* Each function's environment: the template's (Globals + function), with the
  local values substituted (devstack.stack.function_environment).

A running `make dev` records where everything is in <local>/stack.json, so that
`make invoke` reuses its cluster and moto instead of starting its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import envvars, provision
from devstack.postgres import Cluster, find_bindir, free_port, random_password
from devstack.template import ACCOUNT_ID, REGION, STACK_NAME, Function, Template, placeholder_text
from shared.migrations import MigrationError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LOCAL_DIR = REPO / ".local"
DEFAULT_PG_PORT = 54329
DB_NAME = "blog"
ROLES = (provision.OWNER, provision.APP, provision.READONLY)
MIGRATIONS = REPO / "sql" / "migrations"
SEED = REPO / "sql" / "seed"

Log = Callable[[str], None]


class StackError(RuntimeError):
    """The local stack cannot start; the message says what to do."""


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def secret_name(role: str) -> str:
    """The local secret of a role, named like the template names the real ones."""
    return f"{STACK_NAME}/db/{role}"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # As PostgreSQL binds: SO_REUSEADDR, so connections in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def running_port(cluster: Cluster) -> int | None:
    """The port of the cluster's postmaster when it runs (line 4 of postmaster.pid)."""
    try:
        lines = (cluster.datadir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return port if pid_alive(pid) else None


def postmaster_pid(cluster: Cluster) -> int | None:
    try:
        pid = int((cluster.datadir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


@dataclass
class LocalStack:
    """PostgreSQL + database + moto for local runs. `start()` then `stop()`."""

    local_dir: Path = DEFAULT_LOCAL_DIR
    pg_port: int | None = None  # None: PGPORT_DEV, else 54329, else a free port
    db_name: str = DB_NAME
    log: Log = stderr_log
    reuse_running: bool = True  # attach to the moto of a running `make dev` (make invoke)
    adopt_running: bool = False  # stop on exit a cluster found running (left by a crashed make dev)

    cluster: Cluster = field(init=False)
    passwords: dict[str, str] = field(init=False)
    moto_url: str = field(init=False, default="")
    started_cluster: bool = field(init=False, default=False)
    created_database: bool = field(init=False, default=False)
    _moto: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.local_dir = self.local_dir.resolve()
        self.cluster = Cluster(root=self.local_dir / "pg", port=0, bindir=Path())

    # -- paths and state --------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.local_dir / "stack.json"

    @property
    def passwords_path(self) -> Path:
        return self.local_dir / "passwords.json"

    def running_dev(self) -> dict[str, Any] | None:
        """The state of a `make dev` that is running on this local directory, if any."""
        state = _read_json(self.state_path)
        if not state or not isinstance(state.get("pid"), int) or not pid_alive(state["pid"]):
            return None
        return state

    def write_state(self, **extra: Any) -> None:
        state = {
            "pid": os.getpid(),
            "pg_port": self.cluster.port,
            "db_name": self.db_name,
            "moto_url": self.moto_url,
            **extra,
        }
        _write_private(self.state_path, json.dumps(state, indent=2) + "\n")

    def clear_state(self) -> None:
        state = _read_json(self.state_path)
        if state and state.get("pid") == os.getpid():
            self.state_path.unlink(missing_ok=True)

    def _load_passwords(self) -> dict[str, str]:
        saved = _read_json(self.passwords_path) or {}
        passwords = {r: str(saved[r]) for r in ROLES if isinstance(saved.get(r), str) and saved[r]}
        if len(passwords) != len(ROLES):
            passwords = {r: passwords.get(r) or random_password() for r in ROLES}
            _write_private(self.passwords_path, json.dumps(passwords, indent=2) + "\n")
        return passwords

    # -- plan: everything a function's environment needs is known before starting -----
    def prepare(self) -> None:
        """Choose ports and passwords; nothing is started yet."""
        self.local_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.local_dir, 0o755)  # noqa: S103 - the cluster's OS user must reach .local/pg
        self.passwords = self._load_passwords()
        self.cluster.bindir = find_bindir()
        port = running_port(self.cluster) if self.cluster.initialized else None
        if port is None:
            wanted = self.pg_port or int(os.environ.get("PGPORT_DEV") or DEFAULT_PG_PORT)
            port = wanted if port_is_free(wanted) else free_port()
            if port != wanted:
                self.log(f"port {wanted} is taken: PostgreSQL will listen on {port}")
        self.cluster.port = port
        dev = self.running_dev() if self.reuse_running else None
        if (
            dev
            and dev.get("pid") != os.getpid()
            and isinstance(dev.get("moto_url"), str)
            and _moto_alive(dev["moto_url"])
        ):
            self.moto_url = dev["moto_url"]
        else:
            self.moto_url = f"http://127.0.0.1:{free_port()}"

    @property
    def database(self) -> provision.Database:
        return provision.Database("127.0.0.1", self.cluster.port, self.db_name, dict(self.passwords))

    # -- start / stop -----------------------------------------------------------------
    def start(self, *, seed: bool | None = True) -> None:
        """Start what is not running yet. seed=None seeds only a newly created database."""
        if not getattr(self, "passwords", None):
            self.prepare()
        errors: list[BaseException] = []

        def guarded(work: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    work()
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    errors.append(exc)

            return run

        moto_thread = threading.Thread(target=guarded(self._start_moto), name="moto", daemon=True)
        moto_thread.start()
        try:
            self._start_database(seed)
        finally:
            moto_thread.join()
        if errors:
            raise errors[0]

    def _start_cluster(self) -> None:
        """Start PostgreSQL; when another process took the chosen port between the check and the
        start (two stacks starting at once), move to a free port, up to three times."""
        for attempt in range(4):
            try:
                self.cluster.start()
                return
            except RuntimeError as exc:
                if "Address already in use" not in str(exc) or attempt == 3:
                    raise
                taken, self.cluster.port = self.cluster.port, free_port()
                self.log(f"port {taken} was taken while PostgreSQL started: it will listen on {self.cluster.port}")

    def _start_database(self, seed: bool | None) -> None:
        started = time.perf_counter()
        if not self.cluster.initialized:
            self.log(f"initializing a PostgreSQL cluster in {self.cluster.root} (once)")
            self.cluster.init()
        if running_port(self.cluster) is None:
            self._start_cluster()
            self.started_cluster = True
        elif self.adopt_running:
            self.log("postgres: adopting the cluster an earlier run left running (it stops with this one)")
            self.started_cluster = True
        self.created_database = not self._database_exists()
        applied: list[str] = []
        try:
            provision.create(
                self.cluster.superuser_url,
                self.db_name,
                self.passwords,
                MIGRATIONS,
                log=lambda m: applied.append(str(m)),
            )
        except MigrationError as exc:
            raise StackError(
                f"{exc}\nThe local database was migrated with older versions of these files. If the change is"
                " intended (an unreleased migration), rebuild the local database: make dev-reset"
            ) from None
        for line in applied:
            self.log(f"migrations: {line}")
        if seed or (seed is None and self.created_database):
            self.apply_seed()
        self.log(
            f"postgres: 127.0.0.1:{self.cluster.port}/{self.db_name} ready in {time.perf_counter() - started:.1f} s"
            + (" (started)" if self.started_cluster else " (already running)")
        )

    def _database_exists(self) -> bool:
        from shared.migrations import connect_url

        conn = connect_url(self.cluster.superuser_url)
        try:
            return bool(conn.run("SELECT 1 FROM pg_database WHERE datname = :d", d=self.db_name))
        finally:
            conn.close()

    def apply_seed(self) -> None:
        started = time.perf_counter()
        conn = self.database.connect(provision.OWNER)
        try:
            files = sorted(SEED.glob("*.sql"))
            for path in files:
                conn.run(path.read_text())
        finally:
            conn.close()
        self.log(f"seed: {len(files)} file(s) from sql/seed applied in {time.perf_counter() - started:.1f} s")

    def reseed(self) -> None:
        """Empty every application table, then apply the seed again (tests)."""
        conn = self.database.connect(provision.OWNER)
        try:
            tables = [
                r[0]
                for r in conn.run(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
                )
            ]
            if tables:
                conn.run("TRUNCATE " + ", ".join('"' + t + '"' for t in tables) + " CASCADE")
        finally:
            conn.close()
        self.apply_seed()

    def _start_moto(self) -> None:
        if not _moto_alive(self.moto_url):
            started = time.perf_counter()
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines from moto
            port = int(self.moto_url.rsplit(":", 1)[1])
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self._moto.start()
            self.log(f"moto: Secrets Manager on {self.moto_url} ({time.perf_counter() - started:.1f} s)")
        self._put_secrets()

    def _put_secrets(self) -> None:
        db = self.database
        for role in ROLES:
            value = db.secret(role)
            status, _ = self._secretsmanager("CreateSecret", {"Name": secret_name(role), "SecretString": value})
            if status != 200:  # it exists (a reused moto): store the current value as the new version
                status, reply = self._secretsmanager(
                    "PutSecretValue", {"SecretId": secret_name(role), "SecretString": value}
                )
                if status != 200:
                    raise StackError(f"moto refused the secret {secret_name(role)}: {reply}")

    def _secretsmanager(self, action: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One Secrets Manager API call to moto (JSON protocol; moto does not check signatures).

        Plain HTTP rather than boto3: importing boto3 here would add to every start of make dev.
        """
        scope = f"testing/{time.strftime('%Y%m%d', time.gmtime())}/{REGION}/secretsmanager/aws4_request"
        request = urllib.request.Request(  # noqa: S310 - loopback moto only
            self.moto_url + "/",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "secretsmanager." + action,
                "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def stop(self) -> None:
        """Stop what this object started (a cluster it found running is left running)."""
        if self._moto is not None:
            try:
                self._moto.stop()
            finally:
                self._moto = None
        if self.started_cluster:
            self.cluster.stop("fast")
            self.started_cluster = False

    # -- what the functions see ----------------------------------------------------------
    def local_values(self) -> dict[str, str]:
        """Environment values that replace the cloud ones in every function."""
        return {
            "STAGE": "local",
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.cluster.port),
            "DB_NAME": self.db_name,
            "DB_TLS": "disable",
            "DB_AUTH": "secret",  # no IAM tokens locally: password login from the secret
        }

    def function_environment(
        self, template: Template, fn: Function, overrides: dict[str, Any] | None = None, log: Log | None = None
    ) -> dict[str, str]:
        """The function's environment as Lambda would give it, on the local stack.

        Template (Globals + function) < local values < an env-vars file
        (SAM format, read as `sam local` reads it: devstack.envvars; only variables the template
        declares are overridden).
        """
        declared = fn.environment
        env: dict[str, str] = {}
        for key, value in declared.items():
            if key.endswith("SECRET_ID") and isinstance(value, dict):
                env[key] = secret_name(_secret_role(template, fn, key, value))
            else:
                env[key] = placeholder_text(value)
        env.update(self.local_values())
        ignored: list[str] = []
        for key, value in envvars.overrides_for(overrides, fn).items():
            if key in declared or key in env:
                env[key] = value
            else:
                ignored.append(key)
        if ignored and log is not None:
            names = ", ".join(ignored)
            log(f"{fn.name}: env-vars the template does not declare are ignored (as with sam local): {names}")
        log_group = f"/aws/lambda/{fn.function_name}"
        env.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": self.moto_url,  # nothing reaches a real AWS endpoint
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto_url,
                "AWS_CONFIG_FILE": os.devnull,  # no developer profile leaks in
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]local"),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "LAMBDA_TASK_ROOT": str(fn.code_uri),
                "_HANDLER": fn.handler,
                "TZ": "UTC",
            }
        )
        return env

    def describe(self) -> str:
        return f"postgresql://{provision.OWNER}@127.0.0.1:{self.cluster.port}/{self.db_name}"


def _secret_role(template: Template, fn: Function, key: str, value: dict[str, Any]) -> str:
    """Which database role a *_SECRET_ID variable names, from the template itself."""
    resources = template.resolver.resources
    if "LocalRef" in value:
        resource = resources.get(value["LocalRef"]) or {}
        if resource.get("Type") == "AWS::SecretsManager::Secret":
            raw = json.dumps(resource.get("Properties") or {})
            m = re.search(r'\\"username\\":\s*\\"([A-Za-z0-9_]+)\\"', raw)
            if m:
                return m.group(1)
    if "LocalGetAtt" in value:
        name, attribute = value["LocalGetAtt"]
        resource = resources.get(name) or {}
        if attribute.startswith("MasterUserSecret") and resource.get("Type", "").startswith("AWS::RDS::"):
            user = template.resolver.resolve((resource.get("Properties") or {}).get("MasterUsername"))
            if isinstance(user, str):
                return user
    sibling = fn.environment.get(key.removesuffix("SECRET_ID") + "USER")
    if isinstance(sibling, str) and sibling in ROLES:
        return sibling
    for prefix, role in (("APP_", provision.APP), ("READONLY_", provision.READONLY), ("OWNER_", provision.OWNER)):
        if key.startswith(prefix):
            return role
    raise ValueError(f"{fn.name}: cannot tell which database role {key} names; add a *_USER variable beside it")


def _moto_alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/moto-api/", timeout=0.5) as r:  # noqa: S310 - loopback only
            return r.status < 500
    except OSError:
        return False


__all__ = ["ACCOUNT_ID", "DEFAULT_LOCAL_DIR", "LocalStack", "pid_alive", "postmaster_pid", "secret_name"]
