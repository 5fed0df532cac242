"""Performance guards that run with every `make test` (bench/ measures the rest).

* Round trips: each simple read is one round trip to the database, counted on
  the wire by the relay of testing/relay.py (DESIGN.md: 1 per simple read).
* Cold import: importing a function's module in a fresh interpreter stays
  within a generous multiple of a bare interpreter's start, and never pulls in
  boto3 (~250 ms of cold start). The machine is shared and noisy, so each side
  takes the best of a few runs and the budget is wide: it catches a heavy new
  import, not a few milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from testing.events import claims, load_event, prepare
from testing.functions import FUNCTIONS, ROOT, function_env
from testing.relay import Relay
from tests.support.api import call
from tests.support.factories import make_post, make_user

ROUND_TRIPS_PER_SIMPLE_READ = 1
# The goal for import + first request is 25x a bare interpreter (DESIGN.md); the
# import alone must stay well inside it. 40x leaves room for a loaded machine.
IMPORT_BUDGET_X = 40
API_FUNCTIONS = ("UsersFunction", "PostsFunction", "CommentsFunction")


@pytest.fixture()
def relayed(db, monkeypatch):
    """The layer's connection goes through a counting relay."""
    from shared.db import reset_databases
    from shared.settings import get_settings

    relay = Relay(db.host, db.port, delay=0)
    monkeypatch.setenv("DB_PORT", str(relay.port))
    get_settings.cache_clear()
    reset_databases()
    yield relay
    reset_databases()
    get_settings.cache_clear()
    relay.close()


def test_each_simple_read_is_one_round_trip(relayed, owner_conn):
    import comments_app
    import posts_app
    import users_app

    # Given a user with a profile and a published post
    author = make_user(owner_conn)
    owner_conn.run("INSERT INTO user_profiles (user_id, bio) VALUES (CAST(:u AS uuid), 'hi')", u=str(author["user_id"]))
    post = make_post(owner_conn, str(author["user_id"]))
    uid, pid = str(author["user_id"]), str(post["post_id"])
    me = claims(uid)
    reads = {
        "GET /posts/{post_id}": (
            posts_app,
            prepare(load_event("posts/get.json"), path_params={"post_id": pid}, claims=me),
        ),
        "GET /posts/by-slug/{slug}": (
            posts_app,
            prepare(load_event("posts/get_by_slug.json"), path_params={"slug": post["slug"]}),
        ),
        "GET /posts": (posts_app, prepare(load_event("posts/list.json"), query={"limit": "20"})),
        "GET /users/{user_id}": (
            users_app,
            prepare(load_event("users/get.json"), path_params={"user_id": uid}, claims=me),
        ),
        "GET /users/{user_id}/profile": (
            users_app,
            prepare(load_event("users/get_profile.json"), path_params={"user_id": uid}),
        ),
        "GET /posts/{post_id}/comments": (
            comments_app,
            prepare(load_event("comments/list.json"), path_params={"post_id": pid}),
        ),
    }
    counted = {}
    for route, (module, event) in reads.items():
        assert call(module.handler, event).status == 200, route  # connects first
        before = relayed.turns
        # When the read is served twice on the warm connection
        for _ in range(2):
            assert call(module.handler, event).status == 200, route
        counted[route] = (relayed.turns - before) / 2
    # Then each request was exactly one round trip
    assert counted == dict.fromkeys(reads, ROUND_TRIPS_PER_SIMPLE_READ)


def test_peer_runs_the_same_sql():
    from bench.peer.peer_sql import same_sql

    assert all(same_sql().values()), same_sql()


def _best_of(argv: list[str], env: dict[str, str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=60)
        best = min(best, time.perf_counter() - started)
        assert proc.returncode != 3, f"{argv[-1]}: boto3 imported at cold start"
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return best


def _import_ratio(name: str) -> float:
    """Best import time over a bare interpreter's best, the two interleaved (load hits both alike)."""
    codeuri, module = FUNCTIONS[name]
    env = function_env(codeuri)
    probe = f"import sys, {module}; sys.exit(3 if 'boto3' in sys.modules else 0)"
    bare = imported = float("inf")
    for _ in range(3):
        bare = min(bare, _best_of([sys.executable, "-c", "pass"], env, 1))
        imported = min(imported, _best_of([sys.executable, "-c", probe], env, 1))
    return round(imported / bare, 1)


def test_cold_import_stays_within_budget():
    ratios = {}
    for name in API_FUNCTIONS:
        # A heavy new import stays over budget however often it is measured; a burst of load
        # from elsewhere on this shared machine does not: measure again before failing.
        for _ in range(3):
            ratios[name] = _import_ratio(name)
            if ratios[name] <= IMPORT_BUDGET_X:
                break
    assert all(r <= IMPORT_BUDGET_X for r in ratios.values()), ratios
