"""A benchmark database: a throwaway TLS cluster sized for bulk data, migrated,
with the application roles, and moto-free credentials (benchmarks measure our
code and PostgreSQL, not Secrets Manager)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack import provision
from devstack.postgres import Cluster, throwaway_cluster
from devstack.tls import TlsFiles, make_tls_files

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "sql" / "migrations"

TUNING = [
    "shared_buffers = 1GB",
    "work_mem = 32MB",
    "maintenance_work_mem = 512MB",
    "max_wal_size = 8GB",
    "checkpoint_timeout = 30min",
    "max_parallel_workers_per_gather = 2",
    "max_parallel_maintenance_workers = 2",
    "autovacuum = off",
    "jit = off",
]


@dataclass
class BenchDatabase:
    cluster: Cluster
    db: provision.Database
    tls: TlsFiles

    def layer_env(self, role: str = provision.APP, tls: bool = False) -> dict[str, str]:
        env = {
            "DB_HOST": "localhost" if tls else "127.0.0.1",
            "DB_PORT": str(self.db.port),
            "DB_NAME": self.db.name,
            "DB_SECRET_ID": f"bench/{role}",
            "DB_TLS": "verify-full" if tls else "disable",
            "DB_CA_BUNDLE": str(self.tls.ca_cert),
            "STAGE": "bench",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        }
        return env


@contextmanager
def bench_database(name: str = "bench") -> Iterator[BenchDatabase]:
    root = Path(tempfile.mkdtemp(prefix="blogbench-"))
    root.chmod(0o755)
    tls = make_tls_files(root / "tls")
    cluster = throwaway_cluster(root / "cluster", tls_files=(tls.server_cert, tls.server_key))
    try:
        with open(cluster.datadir / "postgresql.auto.conf", "a") as f:
            f.write("\n".join(TUNING) + "\n")
        cluster.restart()
        passwords = {r: secrets.token_urlsafe(16) for r in (provision.OWNER, provision.APP, provision.READONLY)}
        db = provision.create(cluster.superuser_url, name, passwords, MIGRATIONS)
        yield BenchDatabase(cluster, db, tls)
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
