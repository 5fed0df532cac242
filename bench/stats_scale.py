"""Statistics run at scale: 1M users, 5M posts, 10M comments (sizes by flag).

Measures the StatsFunction's collection (the same code, `stats_queries.collect`)
on the read-only role: wall time, database time per statement, peak memory of
the process, and the plan of the slowest statement with EXPLAIN (ANALYZE,
BUFFERS). `python -m bench.stats_scale [--users N --posts N --comments N]`
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.datagen import Size, generate
from bench.env import ROOT, bench_database
from devstack import provision
from shared.db import Database
from shared.secrets import Credentials
from shared.settings import load_settings

sys.path.insert(0, str(ROOT / "functions" / "stats"))
import stats_queries

RESULTS = Path(__file__).with_name("results")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--posts", type=int, default=5_000_000)
    parser.add_argument("--comments", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = Size(users=args.users, posts=args.posts, comments=args.comments)
    with bench_database("stats_scale") as b:
        owner = b.db.connect(provision.OWNER)
        print(f"generating {size}", flush=True)
        load = generate(owner, size, log=lambda m: print(m, flush=True))
        owner.run("VACUUM ANALYZE")
        # The scale run measures; it does not enforce the function's 15 s client timeout.
        settings = load_settings({**b.layer_env(provision.READONLY), "DB_QUERY_TIMEOUT": "600"}).db
        creds = Credentials(provision.READONLY, b.db.passwords[provision.READONLY])
        database = Database(settings, credentials=lambda *_a, **_k: creds)
        runs = []
        for _ in range(args.runs):
            t = time.perf_counter()
            values, _details = stats_queries.collect(database)
            runs.append(round(time.perf_counter() - t, 3))
        conn = database.connection()
        plan_rows = conn.run("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + stats_queries.SQL.collect)
        plan = "\n".join(r[0] for r in plan_rows)
        slow_rows = conn.run("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + stats_queries.SQL.slow_statements)
        database.close()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {
            "measure": "stats_scale",
            "when": datetime.now(UTC).isoformat(),
            "size": size.__dict__,
            "load_seconds": load,
            "collect_seconds": runs,
            "collect_median_seconds": sorted(runs)[len(runs) // 2],
            "goal_seconds": 10,
            "peak_rss_mb": round(peak_mb, 1),
            "values": values,
            "plan_collect": plan,
            "plan_slow_statements_ms": [r[0] for r in slow_rows if "Execution Time" in r[0]],
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "stats_scale.json").write_text(json.dumps(result, indent=2, default=str))
        print(json.dumps({k: v for k, v in result.items() if k not in ("plan_collect", "values")}, indent=2))
        print(plan)


if __name__ == "__main__":
    main()
