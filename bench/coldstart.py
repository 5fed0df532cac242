"""Cold start: a fresh interpreter per sample, as a new Lambda container.

Each sample spawns `python bench/coldstart_child.py MODULE EVENT RESULT`: the
interpreter starts, imports the handler module (init), runs the first request
(connect with TLS + SCRAM, then the statement) and a second one. Cold start is
the wall time from spawn to the end of the first request. The bare reference
is an interpreter that only writes its clock. Candidates are interleaved.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.app_env import ROOT
from bench.stats_util import summarize

CHILD = ROOT / "bench" / "coldstart_child.py"
BARE = "import sys, time; open(sys.argv[1], 'w').write(repr(time.time()))"


def _spawn(argv: list[str], env: dict[str, str], result: Path) -> float:
    result.unlink(missing_ok=True)
    started = time.time()
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, timeout=60)
    return started


def sample(module: str | None, event: dict[str, Any] | None, env: dict[str, str], tmp: Path) -> dict[str, float]:
    result = tmp / "result.json"
    if module is None:
        started = _spawn([sys.executable, "-c", BARE, str(result)], env, result)
        return {"cold_ms": (float(result.read_text()) - started) * 1000}
    event_file = tmp / "event.json"
    event_file.write_text(json.dumps(event))
    started = _spawn([sys.executable, str(CHILD), module, str(event_file), str(result)], env, result)
    r = json.loads(result.read_text())
    if r["status"] != [200, 200]:
        raise AssertionError(f"{module}: statuses {r['status']}")
    return {
        "cold_ms": (r["first_done"] - started) * 1000,
        "init_ms": (r["imported"] - started) * 1000,
        "first_ms": r["first_ms"],
        "second_ms": r["second_ms"],
        "connect_ms": r["connect_ms"],
        "rss_mb": r["rss_mb"],
        "modules": r["modules"],
    }


def measure(candidates: dict[str, tuple[str | None, dict[str, Any] | None]], env: dict[str, str], n: int) -> dict:
    """candidates: name -> (handler module or None for the bare interpreter, event)."""
    names = list(candidates)
    raw: dict[str, list[dict[str, float]]] = {k: [] for k in names}
    with tempfile.TemporaryDirectory(prefix="coldstart-") as d:
        tmp = Path(d)
        for name in names:  # warm the OS page cache once: Lambda's images are cached too
            sample(*candidates[name], env, tmp)
        for r in range(n):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                raw[name].append(sample(*candidates[name], env, tmp))
    out: dict[str, Any] = {}
    for name, rows in raw.items():
        out[name] = {key: summarize([row[key] for row in rows]) for key in rows[0]}
        if "second_ms" in rows[0]:
            # first/second per container, then the median over containers
            out[name]["first_over_second"] = summarize([row["first_ms"] / row["second_ms"] for row in rows])
            # The same without the connect (TLS + authentication + backend start), which only a
            # new connection pays: what is left is the code's own first-call work.
            out[name]["first_without_connect_over_second"] = summarize(
                [(row["first_ms"] - row["connect_ms"]) / row["second_ms"] for row in rows]
            )
    return out
