"""TLS connect time and round trips: pg8000 as it comes vs. the layer's configuration.

Runs against a throwaway TLS-enabled cluster (or nothing else): interleaves A/B
connects and reports medians. `python -m bench.connect [--n 40]`
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import pg8000.native

from devstack import provision
from devstack.postgres import throwaway_cluster
from devstack.tls import make_tls_files
from shared.db import Database
from shared.secrets import Credentials
from shared.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="blogbench-"))
    root.chmod(0o755)
    tls = make_tls_files(root / "tls")
    cluster = throwaway_cluster(root / "cluster", tls_files=(tls.server_cert, tls.server_key))
    try:
        pw = {r: secrets.token_urlsafe(12) for r in (provision.OWNER, provision.APP, provision.READONLY)}
        db = provision.create(cluster.superuser_url, "bench", pw, ROOT / "sql" / "migrations")
        env = {
            "DB_HOST": "localhost",
            "DB_PORT": str(db.port),
            "DB_NAME": db.name,
            "DB_SECRET_ID": "unused",
            "DB_CA_BUNDLE": str(tls.ca_cert),
        }
        settings = load_settings(env).db
        creds = Credentials(provision.APP, pw[provision.APP])

        def naive() -> None:
            # what pg8000 users typically write: a fresh verifying context per connect, Nagle on
            ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
            conn = pg8000.native.Connection(
                provision.APP,
                host="localhost",
                port=db.port,
                database=db.name,
                password=pw[provision.APP],
                ssl_context=ctx,
            )
            conn.run("SELECT 1")
            conn.close()

        def layer() -> None:
            d = Database(settings, credentials=lambda *_a, **_k: creds)
            d.value("SELECT 1")
            d.close()

        samples: dict[str, list[float]] = {"pg8000_default": [], "layer": []}
        for fn in (naive, layer):  # warm-up
            fn()
        for _ in range(args.n):
            for name, fn in (("pg8000_default", naive), ("layer", layer)):
                t = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - t) * 1000)
        out = {
            k: {"median_ms": round(statistics.median(v), 2), "p95_ms": round(sorted(v)[int(len(v) * 0.95) - 1], 2)}
            for k, v in samples.items()
        }
        out["ratio_layer_vs_default"] = round(out["layer"]["median_ms"] / out["pg8000_default"]["median_ms"], 3)
        print(json.dumps(out, indent=2))
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
