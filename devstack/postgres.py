"""A private PostgreSQL cluster from the server binaries on the machine.

Used by the test harness (a throwaway cluster per run) and by `make dev` (a
cluster kept under .local/). It never touches a server that is already running:
it listens on its own free port on 127.0.0.1 and on a socket in its own
directory. initdb refuses to run as root, so as root the cluster belongs to an
unprivileged OS user (postgres if it exists, else nobody).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"


def find_bindir() -> Path:
    """Where initdb/pg_ctl live: $PG_BINDIR, else PATH, else the newest /usr/lib/postgresql/*/bin."""
    override = os.environ.get("PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/local/pgsql/bin"),
        key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()] or [0],
    )
    for c in reversed(candidates):
        if (Path(c) / "initdb").exists():
            return Path(c)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them "
        "(Debian: apt-get install postgresql) or set DATABASE_URL to an existing server."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _os_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and no unprivileged user (postgres, nobody) exists for initdb")


@dataclass
class Cluster:
    root: Path
    port: int
    bindir: Path

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    @property
    def superuser_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        user = _os_user()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        kwargs: dict[str, Any] = {}
        if user is not None:
            kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
            env["HOME"] = str(self.root)
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=timeout,
            **kwargs,
        )

    def _chown(self, path: Path) -> None:
        user = _os_user()
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)

    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self, tls_files: tuple[Path, Path] | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        for p in (self.root, self.sockdir):
            self._chown(p)
            os.chmod(p, 0o700 if p == self.sockdir else 0o755)
        self._run("initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.sockdir}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "shared_buffers = 128MB",
            "max_connections = 200",
            "shared_preload_libraries = 'pg_stat_statements'",
            "track_io_timing = on",
            "password_encryption = 'scram-sha-256'",
            "log_min_messages = warning",
        ]
        if tls_files is not None:
            cert, key = tls_files
            dst_cert, dst_key = self.datadir / "server.crt", self.datadir / "server.key"
            shutil.copyfile(cert, dst_cert)
            shutil.copyfile(key, dst_key)
            for p in (dst_cert, dst_key):
                self._chown(p)
                os.chmod(p, 0o600)
            conf += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        with open(self.datadir / "postgresql.auto.conf", "a") as f:
            f.write("\n".join(conf) + "\n")
        # The superuser may log in without a password (harness only); every
        # other role authenticates with SCRAM, so credentials are really tested.
        (self.datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "local replication all trust\n"
            f"host all {SUPERUSER} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )

    def start(self) -> None:
        self.logfile.touch()
        self._chown(self.logfile)
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port}",
            "start",
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{self.logfile.read_text()[-2000:]}")

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def make_replica(self, root: Path) -> Cluster:
        """A streaming replica of this cluster (pg_basebackup -R), started on its own port."""
        replica = Cluster(root=root, port=free_port(), bindir=self.bindir)
        root.mkdir(parents=True, exist_ok=True)
        replica.sockdir.mkdir(exist_ok=True)
        for p in (root, replica.sockdir):
            self._chown(p)
        self._run(
            "pg_basebackup",
            "-D",
            str(replica.datadir),
            "-h",
            str(self.sockdir),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-R",
            "-X",
            "stream",
            "--no-sync",
            "--checkpoint=fast",
        )
        with open(replica.datadir / "postgresql.auto.conf", "a") as f:
            f.write(f"unix_socket_directories = '{replica.sockdir}'\nhot_standby = on\n")
        replica.start()
        return replica

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.datadir), "status", check=False).returncode == 0


def throwaway_cluster(root: Path, tls_files: tuple[Path, Path] | None = None) -> Cluster:
    cluster = Cluster(root=root, port=free_port(), bindir=find_bindir())
    cluster.init(tls_files)
    cluster.start()
    return cluster


def wait_for_port(host: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")


def random_password() -> str:
    return secrets.token_urlsafe(24)
