"""TLS connect time: the layer's configuration vs. pg8000 as it comes vs. psycopg.

Each sample opens a verified TLS connection to the same server (self-signed CA)
and runs `SELECT 1`; A/B/C interleaved. The layer builds its SSLContext once per
container and sets TCP_NODELAY; pg8000 users typically build a context per
connect and keep Nagle on.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import pg8000.native

from bench.env import BenchDatabase
from bench.stats_util import summarize
from devstack import provision
from shared.db import Database
from shared.secrets import Credentials
from shared.settings import load_settings


def measure(b: BenchDatabase, n: int = 30) -> dict[str, Any]:
    settings = load_settings(b.layer_env(provision.APP, tls=True)).db
    password = b.db.passwords[provision.APP]
    creds = Credentials(provision.APP, password)
    ca = str(b.tls.ca_cert)

    def pg8000_default() -> None:
        ctx = ssl.create_default_context(cafile=ca)
        conn = pg8000.native.Connection(
            provision.APP, host="localhost", port=b.db.port, database=b.db.name, password=password, ssl_context=ctx
        )
        conn.run("SELECT 1")
        conn.close()

    def layer() -> None:
        d = Database(settings, credentials=lambda *_a, **_k: creds)
        d.value("SELECT 1")
        d.close()

    candidates = {"layer": layer, "pg8000_default": pg8000_default}
    try:
        import psycopg

        def psycopg_connect() -> None:
            with psycopg.connect(
                host="localhost",
                port=b.db.port,
                dbname=b.db.name,
                user=provision.APP,
                password=password,
                sslmode="verify-full",
                sslrootcert=ca,
            ) as conn:
                conn.execute("SELECT 1")

        candidates["psycopg"] = psycopg_connect
    except ImportError:  # psycopg is a benchmark-only dependency
        pass

    samples: dict[str, list[float]] = {k: [] for k in candidates}
    for fn in candidates.values():
        fn()
    for _ in range(n):
        for name, fn in candidates.items():
            t = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t) * 1000)
    out: dict[str, Any] = {name: summarize(v) for name, v in samples.items()}
    out["ratio_vs_pg8000_default"] = round(out["layer"]["median"] / out["pg8000_default"]["median"], 3)
    if "psycopg" in out:
        out["ratio_vs_psycopg"] = round(out["layer"]["median"] / out["psycopg"]["median"], 3)
    return out
