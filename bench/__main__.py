"""The benchmark run: `python -m bench [--quick] [--posts N]` (make bench, make bench-quick).

One throwaway TLS cluster, the data generated in SQL, then the measures of
DESIGN.md's goals, each compared side by side in this one run. Results go to
bench/results/<run>.json after every measure (a failure keeps what was
measured), then BENCHMARKS.md and its plots are generated from them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import coldstart, imports, measures, report, restore
from bench import tls as tls_measure
from bench.app_env import configure, function_env
from bench.datagen import Size, generate
from bench.env import MIGRATIONS, bench_database
from devstack import provision

RESULTS = report.RESULTS


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="10k posts, fewer samples (< 2 minutes)")
    parser.add_argument("--posts", type=int, help="posts in the main data set (default 1,000,000; quick 10,000)")
    parser.add_argument("--only", help="comma-separated measures to run (default: all)")
    args = parser.parse_args()
    quick = args.quick
    posts = args.posts or (10_000 if quick else 1_000_000)
    run = "quick" if quick else "full"
    plan = {
        "rounds": 40 if quick else 200,
        "page_rounds": 12 if quick else 40,
        "cold_n": 8 if quick else 20,
        "tls_n": 10 if quick else 40,
        "throughput_s": 1.5 if quick else 6.0,
        "sizes": [1_000, 3_000] if quick else [10_000, 100_000],
        # Page 1000 is the goal's depth; the OFFSET contrast much deeper outlives the app
        # role's statement_timeout on a loaded machine.
        "depths": [1, 10, 100, 1000],
    }
    only = set(args.only.split(",")) if args.only else None
    command = "make bench-quick" if quick and not args.posts else "make bench" if not args.posts else None
    result: dict[str, Any] = {
        "run": run,
        "command": command or "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "posts": posts,
        "plan": plan,
        "measures": {},
        "errors": {},
    }
    out_file = RESULTS / f"{run}.json"
    if only is not None and out_file.exists():
        # A partial rerun replaces only its measures in the run's record and says so.
        previous = json.loads(out_file.read_text())
        if previous.get("posts") == posts:
            previous.setdefault("reruns", []).append(
                {k: result[k] for k in ("command", "started")}
                | {"measures": sorted(only), "machine": result["machine"]}
            )
            previous["measures"] = {k: v for k, v in previous["measures"].items() if k not in only}
            previous["errors"] = {k: v for k, v in previous.get("errors", {}).items() if k not in only}
            result = previous
    machine_record = result["reruns"][-1]["machine"] if only is not None and result.get("reruns") else result["machine"]
    t_run = time.perf_counter()

    def save() -> None:
        RESULTS.mkdir(exist_ok=True)
        if machine_record is result["machine"]:
            result["seconds"] = round(time.perf_counter() - t_run, 1)
        else:
            result["reruns"][-1]["seconds"] = round(time.perf_counter() - t_run, 1)
        out_file.write_text(json.dumps(result, indent=2, default=str) + "\n")

    def step(name: str, fn: Callable[[], Any]) -> None:
        if only is not None and name not in only:
            return
        t = time.perf_counter()
        print(f"[{time.perf_counter() - t_run:6.1f}s] {name} ...", flush=True)
        try:
            result["measures"][name] = fn()
        except Exception:  # noqa: BLE001 - one failed measure must not lose the others
            result["errors"][name] = traceback.format_exc()
            print(result["errors"][name], file=sys.stderr, flush=True)
        result.setdefault("step_seconds", {})[name] = round(time.perf_counter() - t, 1)
        save()

    from bench.peer.peer_sql import same_sql

    with bench_database("bench") as b:
        owner = b.db.connect(provision.OWNER)
        size = Size.for_posts(posts)
        print(f"generating {size}", flush=True)
        result["load_seconds"] = generate(owner, size, log=lambda m: print(m, flush=True))
        owner.run("VACUUM ANALYZE")
        result["popular_refresh_ms"] = measures.refresh_ranking(owner)
        env = function_env(b.layer_env(provision.APP, tls=True), provision.APP, b.db.passwords[provision.APP])
        configure(env)
        result["peer_sql_equal"] = same_sql()
        data = measures.Data(owner, posts)
        r = plan["rounds"]

        step("warm_latency", lambda: measures.warm_latency(data, r))
        step("warm_profile", lambda: measures.warm_profile(data, r))
        step("warm_latency_rtt", lambda: measures.warm_latency_with_rtt(b, env, data, r // 2, 0.001))
        step("round_trips", lambda: measures.round_trips(b, env, data))
        step(
            "pagination",
            lambda: measures.pagination(owner, data, plan["depths"], plan["page_rounds"]),
        )
        step("has_more", lambda: measures.has_more(data, r))
        step("conditional", lambda: measures.conditional(data, r))
        step("plans", lambda: measures.plans(owner, data, max(d for d in plan["depths"] if d <= data.published // 20)))
        step("cold_start", lambda: cold_start(env, data, plan["cold_n"]))
        step("snapstart_restore", lambda: snapstart_restore(env, data, plan["cold_n"]))
        step("tls_connect", lambda: tls_measure.measure(b, plan["tls_n"]))
        step("throughput", lambda: measures.throughput(owner, data, b.db.name, [1, 8, 32], plan["throughput_s"]))
        step("imports", imports.measure)
        step("data_size", lambda: data_size(b, env, owner, data, posts, plan))
        owner.close()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    machine_record["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    save()
    report.write()
    print(f"done in {result['seconds']} s: {out_file.relative_to(report.ROOT)}, BENCHMARKS.md", flush=True)
    if result["errors"]:
        sys.exit(1)


def cold_start(env: dict[str, str], data: measures.Data, n: int) -> dict[str, Any]:
    ev = measures.events_for(data)
    comments = ev["reads"]["GET /posts/{post_id}/comments"][1]
    candidates: dict[str, tuple[str | None, dict[str, Any] | None]] = {
        "bare interpreter": (None, None),
        "UsersFunction GET /users/{user_id}": ("users_app", ev["user_get"](0)),
        "PostsFunction GET /posts/{post_id}": ("posts_app", ev["post_get"](0)),
        "CommentsFunction GET /posts/{post_id}/comments": ("comments_app", comments),
        "peer GET /users/{user_id}": ("bench.peer.peer_app", ev["user_get"](0)),
        "peer GET /posts/{post_id}": ("bench.peer.peer_app", ev["post_get"](0)),
    }
    out = coldstart.measure(candidates, env, n)
    bare = out["bare interpreter"]["cold_ms"]["median"]
    ratios: dict[str, Any] = {}
    for name, s in out.items():
        if name == "bare interpreter":
            continue
        ratios[name] = {"vs_bare": round(s["cold_ms"]["median"] / bare, 2)}
        ratios[name]["first_over_second"] = s["first_over_second"]["median"]
        ratios[name]["first_without_connect_over_second"] = s["first_without_connect_over_second"]["median"]
    for fn, peer in (
        ("UsersFunction GET /users/{user_id}", "peer GET /users/{user_id}"),
        ("PostsFunction GET /posts/{post_id}", "peer GET /posts/{post_id}"),
    ):
        ratios[fn]["vs_peer"] = round(out[fn]["cold_ms"]["median"] / out[peer]["cold_ms"]["median"], 3)
    return {"samples": out, "ratios": ratios}


def snapstart_restore(env: dict[str, str], data: measures.Data, n: int) -> dict[str, Any]:
    ev = measures.events_for(data)
    candidates = {
        "UsersFunction GET /users/{user_id}": ("users_app", ev["user_get"](0)),
        "PostsFunction GET /posts/{post_id}": ("posts_app", ev["post_get"](0)),
    }
    return restore.measure(candidates, env, n)


def data_size(b: Any, env: dict[str, str], owner: Any, main: measures.Data, posts: int, plan: dict) -> dict[str, Any]:
    """The same reads on data sets of growing size (one database each, same cluster)."""
    depth = 40
    rounds = plan["page_rounds"] * 2
    out: dict[str, Any] = {"depth": depth, "sizes": {}}
    for n in plan["sizes"]:
        name = f"bench_{n}"
        db = provision.create(b.cluster.superuser_url, name, b.db.passwords, MIGRATIONS)
        conn = db.connect(provision.OWNER)
        try:
            generate(conn, Size.for_posts(n), log=lambda _m: None)
            conn.run("VACUUM ANALYZE")
            out.setdefault("popular_refresh_ms", {})[str(n)] = measures.refresh_ranking(conn)
            configure({**env, "DB_NAME": name})
            out["sizes"][str(n)] = measures.at_size(conn, measures.Data(conn, n), rounds, depth)
        finally:
            conn.close()
            configure(env)
    out["sizes"][str(posts)] = measures.at_size(owner, main, rounds, depth)
    return out


if __name__ == "__main__":
    main()
