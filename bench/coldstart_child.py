"""One cold container: import a handler module, run its first and second request.

`python -m bench.coldstart_child MODULE EVENT_FILE RESULT_FILE` (or `bare`).
Writes wall-clock timestamps (time.time(), comparable with the parent's spawn
time) and the two request durations as JSON. Logs and metrics go to stdout,
which the parent discards.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    module, event_file, result_file = sys.argv[1:4]
    import importlib
    import json

    from bench.app_env import LambdaContext, install_secret

    install_secret()
    connect_ms = _time_connects()
    mod = importlib.import_module(module)
    imported = time.time()
    with open(event_file) as f:
        event = json.load(f)
    started = time.perf_counter()
    first = mod.handler(event, LambdaContext())
    first_ms = (time.perf_counter() - started) * 1000
    first_done = time.time()
    started = time.perf_counter()
    second = mod.handler(event, LambdaContext())
    second_ms = (time.perf_counter() - started) * 1000
    result = {
        "imported": imported,
        "first_done": first_done,
        "first_ms": first_ms,
        "second_ms": second_ms,
        "connect_ms": sum(connect_ms),
        "status": [first.get("statusCode"), second.get("statusCode")],
        "modules": len(sys.modules),
        "rss_mb": _peak_rss_mb(),
    }
    with open(result_file, "w") as f:
        json.dump(result, f)


def _peak_rss_mb() -> float:
    """This process image's peak RSS (VmHWM). getrusage's ru_maxrss would include the
    parent's peak, which a child keeps across fork and exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _time_connects() -> list[float]:
    """Time spent opening database connections (TLS + authentication), in ms."""
    from shared.db import Database

    spent: list[float] = []
    connect = Database._connect

    def timed(self: Database) -> object:
        started = time.perf_counter()
        try:
            return connect(self)
        finally:
            spent.append((time.perf_counter() - started) * 1000)

    Database._connect = timed  # type: ignore[method-assign]
    return spent


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    import os

    os._exit(0)
