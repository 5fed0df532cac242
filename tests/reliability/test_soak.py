"""Load held: a soak of many simulated containers with a mixed read/write workload.

`make test` runs it bounded (SOAK_SECONDS, default 20; SOAK_CONTAINERS, default
6); `make soak` runs 5 minutes with 32 containers. Containers are worker
processes (faults_support.Container), a third of them for each API function's
share of the traffic. While it runs, the database's sessions and every
container's resident memory are sampled. It asserts:

* no 5xx at all (nothing is injected here: every failure would be ours);
* memory held per container: after the warm-up, resident memory does not grow
  beyond a small allowance (6 MB: in the 5-minute run a leak of 2 KB per request would exceed it);
* at most one database session per container, ever;
* the audit: every acknowledged write present exactly once, nothing else
  written, counters equal to their rows.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import defaultdict

import pytest

from tests.reliability.conftest import TALLY
from tests.reliability.faults_support import (
    COMMENTS,
    POSTS,
    USERS,
    Ledger,
    audit,
    clean,
    fleet,
    fleet_sessions,
    make_world,
    run_load,
)

SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
CONTAINERS = int(os.environ.get("SOAK_CONTAINERS", "6"))
# Resident memory may move by allocator noise; growth beyond this after the warm-up is a leak.
GROWTH_ALLOWANCE_KB = 6 * 1024


def mix(n: int) -> list[str]:
    """Half posts (the hottest function), a third comments, the rest users."""
    posts = max(1, n // 2)
    comments = max(1, n // 3)
    return [POSTS] * posts + [COMMENTS] * comments + [USERS] * max(1, n - posts - comments)


@pytest.fixture()
def admin_conn(pg_server):
    from shared.migrations import connect_url

    conn = connect_url(pg_server.admin_url)
    yield conn
    conn.close()


def test_soak_mixed_load_holds_memory_connections_and_every_write(db, aws, owner_conn, admin_conn):
    world = make_world(owner_conn, users=60, posts=40)
    ledger = Ledger()
    functions = mix(CONTAINERS)
    rss: dict[int, list[tuple[float, int]]] = defaultdict(list)
    sessions_max = 0
    samples = 0
    # A long soak logs at INFO: DEBUG lines of many minutes would only fill the test's memory.
    overrides = {"POWERTOOLS_LOG_LEVEL": "INFO"} if SECONDS > 60 else {}
    with fleet(db, aws, functions, overrides=overrides) as f:
        started = time.monotonic()

        def sample(stop: threading.Event) -> None:
            nonlocal sessions_max, samples
            while not stop.wait(1.0):
                now = time.monotonic() - started
                for i, c in enumerate(f.containers):
                    rss[i].append((now, c.rss_kb()))
                sessions_max = max(sessions_max, len(fleet_sessions(admin_conn, db.name, f.tag)))
                samples += 1

        run_load(f.containers, world, ledger, SECONDS, during=sample, label="soak")
        elapsed = time.monotonic() - started
        alive = all(c.alive for c in f.containers)
        invocations = [c.invocations for c in f.containers]

    # Memory: the median of the samples in the second fifth of the run (warm) against the last fifth
    growth = {}
    for i, points in rss.items():
        warm = [kb for t, kb in points if SECONDS * 0.2 <= t < SECONDS * 0.4] or [points[0][1]]
        late = [kb for t, kb in points if t >= SECONDS * 0.8] or [points[-1][1]]
        growth[i] = statistics.median(late) - statistics.median(warm)
    findings = audit(owner_conn, world, ledger, "soak")
    rps = ledger.requests / elapsed
    TALLY["soak: containers"] += len(functions)
    TALLY["soak: requests"] += ledger.requests
    TALLY["soak: requests per second"] += int(rps)
    TALLY["soak: 5xx"] += ledger.count(lambda s: s >= 500)
    TALLY["soak: acknowledged writes"] += len(ledger.posts) + len(ledger.comments) + len(ledger.likes)
    TALLY["soak: max database sessions"] += sessions_max
    TALLY["soak: max memory growth per container (KB)"] += int(max(growth.values()))
    TALLY["soak: peak RSS per container (MB)"] += max(kb for p in rss.values() for _, kb in p) // 1024
    print(
        f"\nsoak: {len(functions)} containers, {elapsed:.0f} s, {ledger.requests} requests ({rps:.0f}/s),"
        f" statuses {dict(ledger.statuses)}, retries {ledger.retries}, sessions max {sessions_max},"
        f" memory growth KB {sorted(int(g) for g in growth.values())},"
        f" RSS MB {sorted(p[-1][1] // 1024 for p in rss.values())}, invocations {invocations}"
    )

    assert alive, "a container died"
    assert min(invocations) > 10, invocations  # every container really served
    assert ledger.count(lambda s: s >= 500) == 0, (ledger.statuses, ledger.failures[:5])
    assert set(ledger.statuses) <= {200, 201}, ledger.statuses
    assert samples >= 3 and 0 < sessions_max <= len(functions)
    assert max(growth.values()) <= GROWTH_ALLOWANCE_KB, growth
    assert clean(findings), findings
    assert ledger.posts and ledger.comments and ledger.likes
