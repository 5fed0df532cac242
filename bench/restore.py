"""SnapStart restore, simulated by fork, against the plain cold start in the same run.

Per sample and function, interleaved: a cold container (bench/coldstart_child.py: spawn,
import, first request) and a restored one (bench/restore_child.py: spawn, import, prime,
fork; the child runs the after-restore hooks, then the first request and warm ones).
Ratios, medians over samples:
  first request after restore / warm request            (goal <= 2)
  (restore + first request) / (cold import + first request)  (goal <= 0.2)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import coldstart
from bench.app_env import ROOT
from bench.stats_util import summarize

CHILD = ROOT / "bench" / "restore_child.py"


def restore_sample(module: str, event: dict[str, Any], env: dict[str, str], tmp: Path) -> dict[str, float]:
    event_file, result = tmp / "event.json", tmp / "restore.json"
    event_file.write_text(json.dumps(event))
    result.unlink(missing_ok=True)
    argv = [sys.executable, str(CHILD), module, str(event_file), str(result)]
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, timeout=60)
    r = json.loads(result.read_text())
    if set(r["status"]) != {200}:
        raise AssertionError(f"{module}: statuses {r['status']}")
    return {k: float(r[k]) for k in ("restore_ms", "first_ms", "restore_and_first_ms", "warm_ms", "prime_ms")}


def measure(candidates: dict[str, tuple[str, dict[str, Any]]], env: dict[str, str], n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="restore-") as d:
        tmp = Path(d)
        cold: dict[str, list[dict[str, float]]] = {k: [] for k in candidates}
        restored: dict[str, list[dict[str, float]]] = {k: [] for k in candidates}
        for module, event in candidates.values():  # warm the page cache, as coldstart does
            coldstart.sample(module, event, env, tmp)
            restore_sample(module, event, env, tmp)
        for r in range(n):
            for name, (module, event) in candidates.items():
                order = ("cold", "restored") if r % 2 == 0 else ("restored", "cold")
                for kind in order:  # interleaved, alternating which goes first
                    if kind == "cold":
                        cold[name].append(coldstart.sample(module, event, env, tmp))
                    else:
                        restored[name].append(restore_sample(module, event, env, tmp))
        for name in candidates:
            rows, cold_ms = restored[name], summarize([c["cold_ms"] for c in cold[name]])
            samples = {k: summarize([row[k] for row in rows]) for k in rows[0]}
            out[name] = {
                "restored": samples,
                "cold_ms": cold_ms,
                "first_over_warm": round(summarize([row["first_ms"] / row["warm_ms"] for row in rows])["median"], 2),
                "restore_and_first_over_cold": round(samples["restore_and_first_ms"]["median"] / cold_ms["median"], 3),
            }
    out["loadavg"] = [round(x, 2) for x in __import__("os").getloadavg()]
    out["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return out
