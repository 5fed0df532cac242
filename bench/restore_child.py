"""One simulated SnapStart restore: init and prime a function, fork, serve from the copy.

`python bench/restore_child.py MODULE EVENT_FILE RESULT_FILE`.

The process plays the snapshot: it imports the handler module (init) and runs the
registered before-snapshot hooks (shared.snapstart.prime) as Lambda does before it
takes the snapshot. A forked child then plays the restored environment: it runs the
after-restore hooks (shared.snapstart.restore: drop the inherited connection state,
open its own connection), serves the first request, then warm ones. Fork copies the
process image in well under a millisecond; Lambda's own restore of the microVM
(CloudWatch's "Restore Duration") is not part of this figure: it is what our code
controls, measured. Times are wall clock (time.time()) so the parent and the child agree.
"""

from __future__ import annotations

import os
import sys
import time

WARM = 5


def main() -> None:
    module, event_file, result_file = sys.argv[1:4]
    import importlib
    import json

    from bench.app_env import LambdaContext, install_secret

    install_secret()
    mod = importlib.import_module(module)
    from shared import snapstart

    started = time.perf_counter()
    snapstart.run_before_snapshot_hooks()
    prime_ms = (time.perf_counter() - started) * 1000
    with open(event_file) as f:
        event = json.load(f)
    read_end, write_end = os.pipe()
    forked = time.time()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        snapstart.run_after_restore_hooks()
        restored = time.time()
        t = time.perf_counter()
        first = mod.handler(event, LambdaContext())
        first_ms = (time.perf_counter() - t) * 1000
        first_done = time.time()
        warm, statuses = [], [first.get("statusCode")]
        for _ in range(WARM):
            t = time.perf_counter()
            statuses.append(mod.handler(event, LambdaContext()).get("statusCode"))
            warm.append((time.perf_counter() - t) * 1000)
        with os.fdopen(write_end, "w") as out:
            json.dump(
                {
                    "restore_ms": (restored - forked) * 1000,
                    "first_ms": first_ms,
                    "restore_and_first_ms": (first_done - forked) * 1000,
                    "warm_ms": sorted(warm)[len(warm) // 2],
                    "status": statuses,
                },
                out,
            )
        sys.stdout.flush()
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as inp:
        child = json.loads(inp.read())
    os.waitpid(pid, 0)
    child["prime_ms"] = prime_ms
    with open(result_file, "w") as f:
        json.dump(child, f)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
