"""The in-process measures: warm latency, round trips, pagination, has-more,
throughput and latency against data size.

Every comparison is interleaved (A, B, A, B, with the order rotated each
round) in one run, and reported as a ratio of medians: absolute times drift on
a shared 2-core machine, ratios measured side by side much less.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.app_env import LambdaContext, configure, per_thread_connections, quiet_stdout
from bench.stats_util import percentile, summarize
from testing.relay import Relay

Fn = Callable[[], Any]


def interleave(
    candidates: dict[str, Fn], rounds: int, warmup: int = 3, on_round: Callable[[int], None] | None = None
) -> dict[str, list[float]]:
    """Run each candidate once per round, rotating the order; samples in ms.
    `on_round(r)` runs before each round (e.g. to pick the row the round reads)."""
    names = list(candidates)
    samples: dict[str, list[float]] = {n: [] for n in names}
    with quiet_stdout():
        for _ in range(warmup):
            for fn in candidates.values():
                fn()
        for r in range(rounds):
            if on_round is not None:
                on_round(r)
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                fn = candidates[name]
                t = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - t) * 1000)
    return samples


def ratio(a: dict[str, float], b: dict[str, float]) -> float:
    return round(a["median"] / b["median"], 3)


def call(handler: Callable[..., Any], event: dict[str, Any], expect: int = 200) -> Any:
    result = handler(event, LambdaContext())
    if result["statusCode"] != expect:
        raise AssertionError(f"{event['routeKey']}: {result['statusCode']} {str(result.get('body'))[:300]}")
    return result


class Data:
    """Ids of the generated rows that the measures read."""

    def __init__(self, owner: Any, posts: int):
        n = max(posts, 1)
        rows = owner.run(
            "SELECT p.post_id::text, p.slug, p.user_id::text FROM posts p JOIN users u ON u.user_id = p.user_id "
            "WHERE p.post_id = ANY(ARRAY(SELECT md5('p' || (1 + (i::bigint * 7919) % :n))::uuid "
            "FROM generate_series(1, 600) i)) AND p.status = 'published' AND u.is_active AND p.comment_count > 0 "
            "AND EXISTS (SELECT 1 FROM user_profiles pr WHERE pr.user_id = u.user_id)",
            n=n,
        )
        rng = random.Random(42)
        rng.shuffle(rows)
        self.posts = [r[0] for r in rows[:100]]
        self.slugs = [r[1] for r in rows[:100]]
        self.authors = [r[2] for r in rows[:100]]
        self.caller = owner.run("SELECT user_id::text FROM users WHERE is_active ORDER BY created_at LIMIT 1")[0][0]
        self.admin = self.caller
        self.published = owner.run("SELECT count(*) FROM posts WHERE status = 'published'")[0][0]
        self.email = owner.run("SELECT email FROM users WHERE user_id = CAST(:u AS uuid)", u=self.authors[0])[0][0]


# -- events -------------------------------------------------------------------------
def events_for(data: Data) -> dict[str, Any]:
    from testing.events import claims, load_event, prepare

    me = claims(data.caller)
    admin = claims(data.admin, groups=["admin"])

    def post_get(i: int) -> dict[str, Any]:
        return prepare(load_event("posts/get.json"), path_params={"post_id": data.posts[i]}, claims=me)

    def user_get(i: int) -> dict[str, Any]:
        return prepare(load_event("users/get.json"), path_params={"user_id": data.authors[i]}, claims=me)

    def post_list(limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        return prepare(load_event("posts/list.json"), query=query)

    pid, uid = data.posts[0], data.authors[0]
    reads = {
        "GET /posts/{post_id}": ("posts", post_get(0)),
        "GET /posts": ("posts", post_list(20)),
        "GET /posts/popular": ("posts", load_event("posts/popular.json")),
        "GET /posts/by-slug/{slug}": (
            "posts",
            prepare(load_event("posts/get_by_slug.json"), path_params={"slug": data.slugs[0]}),
        ),
        "GET /users": ("users", prepare(load_event("users/list.json"), claims=me)),
        "GET /admin/users/statistics": ("users", prepare(load_event("users/statistics.json"), claims=admin)),
        "GET /admin/users/by-email": (
            "users",
            prepare(load_event("users/by_email.json"), query={"email": data.email}, claims=admin),
        ),
        "GET /users/{user_id}": ("users", user_get(0)),
        "GET /users/{user_id}/profile": (
            "users",
            prepare(load_event("users/get_profile.json"), path_params={"user_id": uid}),
        ),
        "GET /users/{user_id}/posts": (
            "users",
            prepare(load_event("users/posts.json"), path_params={"user_id": uid}),
        ),
        "GET /posts/{post_id}/comments": (
            "comments",
            prepare(load_event("comments/list.json"), path_params={"post_id": pid}),
        ),
        "GET /admin/posts/{post_id}/comments": (
            "comments",
            prepare(load_event("comments/list_moderation.json"), path_params={"post_id": pid}, claims=admin),
        ),
    }
    return {"post_get": post_get, "user_get": user_get, "post_list": post_list, "reads": reads}


# -- conditional reads: a revalidation (304) against a full read (200) ---------------------
CONDITIONAL_ROUTES = ("GET /posts/{post_id}", "GET /posts", "GET /users/{user_id}", "GET /posts/{post_id}/comments")


def _wire_bytes(result: dict[str, Any]) -> int:
    """Bytes of the status line, headers and body as HTTP/1.1 would send them (before compression)."""
    head = f"HTTP/1.1 {result['statusCode']} X\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in (result.get("headers") or {}).items()
    )
    return len(head.encode()) + 2 + len((result.get("body") or "").encode())


def conditional(data: Data, rounds: int) -> dict[str, Any]:
    """Per public read: median handler time and response bytes of a full read (200) and of a
    revalidation with If-None-Match that answers 304. Same data, interleaved, one run.

    The handler still runs its query for a 304 (the ETag is computed from the answer), so the
    saving is in bytes on the wire and in the client's parsing; CloudFront answers a fresh entry
    without calling the API at all."""
    import copy

    h = handlers()
    reads = events_for(data)["reads"]
    out: dict[str, Any] = {}
    for route in CONDITIONAL_ROUTES:
        fn_name, event = reads[route]
        handler = h[fn_name]
        full = call(handler, copy.deepcopy(event))
        revalidate = copy.deepcopy(event)
        revalidate.setdefault("headers", {})["if-none-match"] = full["headers"]["ETag"]
        not_modified = call(handler, copy.deepcopy(revalidate), expect=304)
        samples = interleave(
            {
                "200": lambda ev=event, hd=handler: call(hd, copy.deepcopy(ev)),
                "304": lambda ev=revalidate, hd=handler: call(hd, copy.deepcopy(ev), expect=304),
            },
            rounds,
        )
        t200, t304 = summarize(samples["200"]), summarize(samples["304"])
        b200, b304 = _wire_bytes(full), _wire_bytes(not_modified)
        out[route] = {
            "200": {"ms": t200, "bytes": b200},
            "304": {"ms": t304, "bytes": b304},
            "time_ratio_304_to_200": ratio(t304, t200),
            "bytes_ratio_304_to_200": round(b304 / b200, 3),
        }
    return out


def handlers() -> dict[str, Callable[..., Any]]:
    import comments_app
    import posts_app
    import users_app
    from bench.peer import naive, peer_app

    return {
        "posts": posts_app.handler,
        "users": users_app.handler,
        "comments": comments_app.handler,
        "peer": peer_app.handler,
        "naive": naive.handler,
    }


# -- 1. warm latency vs the raw driver ---------------------------------------------------
def warm_latency(data: Data, rounds: int) -> dict[str, Any]:
    import posts_queries
    import users_queries

    from shared.db import get_database

    h = handlers()
    ev = events_for(data)
    conn = get_database().connection()
    list_sql = posts_queries.list_sql("published_at", posts_queries.DEFAULT_LIST_FIELDS, False)
    nulls = {"author": None, "tag": None, "q": None, "like": None, "ilike": None, "after": None, "before": None}
    k = len(data.posts)
    post_events = [ev["post_get"](i) for i in range(k)]
    user_events = [ev["user_get"](i) for i in range(k)]
    list_event = ev["post_list"](50)
    state = {"i": 0}

    def nxt() -> int:
        return state["i"] % k

    routes: dict[str, dict[str, Fn]] = {
        "GET /posts/{post_id}": {
            "handler": lambda: call(h["posts"], post_events[nxt()]),
            "peer": lambda: call(h["peer"], post_events[nxt()]),
            "raw": lambda: conn.run(
                posts_queries.SQL.get_post, post_id=data.posts[nxt()], caller=data.caller, is_admin=False
            ),
        },
        "GET /posts?limit=50": {
            "handler": lambda: call(h["posts"], list_event),
            "peer": lambda: call(h["peer"], list_event),
            "raw": lambda: conn.run(list_sql, limit=50, **nulls),
        },
        "GET /users/{user_id}": {
            "handler": lambda: call(h["users"], user_events[nxt()]),
            "peer": lambda: call(h["peer"], user_events[nxt()]),
            "raw": lambda: conn.run(users_queries.SQL.get_user_public, user_id=data.authors[nxt()]),
        },
    }
    out: dict[str, Any] = {}
    for route, cands in routes.items():
        # One id per round: the candidates of a round read the same row.
        samples = interleave(cands, rounds, on_round=lambda r: state.__setitem__("i", r))
        s = {n: summarize(v) for n, v in samples.items()}
        out[route] = {
            **s,
            "ratio_vs_raw": ratio(s["handler"], s["raw"]),
            "peer_ratio_vs_raw": ratio(s["peer"], s["raw"]),
            "overhead_ms": round(s["handler"]["median"] - s["raw"]["median"], 3),
            "peer_overhead_ms": round(s["peer"]["median"] - s["raw"]["median"], 3),
        }
    return out


def warm_latency_with_rtt(b: Any, env: dict[str, str], data: Data, rounds: int, delay: float) -> dict[str, Any]:
    """Measure 1 again with `delay` added to every round trip (a relay): the
    Lambda -> RDS Proxy -> database hop that loopback does not have."""
    relay = Relay("127.0.0.1", b.db.port, delay=delay)
    try:
        configure({**env, "DB_PORT": str(relay.port)})
        out = warm_latency(data, rounds)
        out["added_delay_ms"] = delay * 1000
        return out
    finally:
        configure(env)
        relay.close()


# -- 3. round trips per request ---------------------------------------------------------
def round_trips(b: Any, env: dict[str, str], data: Data, delay: float = 0.005, reps: int = 7) -> dict[str, Any]:
    """Round trips per request: counted by a relay, and derived from the latency
    a relay adds with `delay` per client write, the two paths interleaved."""
    import os

    import shared.db
    from bench.peer import naive
    from shared.db import Database
    from shared.settings import load_settings

    h = handlers()
    ev = events_for(data)
    cases = [(route, h[fn], e) for route, (fn, e) in ev["reads"].items()]
    cases += [
        ("naive GET /posts/{post_id}", h["naive"], ev["post_get"](0)),
        ("naive GET /posts (OFFSET + COUNT)", h["naive"], ev["post_list"](20)),
    ]
    relays = {"count": Relay("127.0.0.1", b.db.port, delay=0), "delay": Relay("127.0.0.1", b.db.port, delay=delay)}
    targets: dict[str, tuple[Any, Any]] = {}
    saved_port = os.environ["DB_PORT"]
    try:
        for name, relay in relays.items():
            os.environ["DB_PORT"] = str(relay.port)
            targets[name] = (Database(load_settings({**env, "DB_PORT": str(relay.port)}).db), naive.DatabaseManager())
        os.environ["DB_PORT"] = saved_port

        def use(name: str) -> None:
            shared.db._databases["primary"], naive._db = targets[name]

        out: dict[str, Any] = {}
        with quiet_stdout():
            for route, handler, event in cases:
                times: dict[str, list[float]] = {"count": [], "delay": []}
                turns = 0
                for name in relays:
                    use(name)
                    call(handler, event)  # connected and warm: connecting is not a request
                for _ in range(reps):
                    for name, relay in relays.items():
                        use(name)
                        before = relay.turns
                        t = time.perf_counter()
                        call(handler, event)
                        times[name].append((time.perf_counter() - t) * 1000)
                        if name == "count":
                            turns += relay.turns - before
                direct, slowed = summarize(times["count"]), summarize(times["delay"])
                out[route] = {
                    "round_trips": round(turns / reps, 2),
                    "ms_without_delay": direct["median"],
                    "ms_with_delay": slowed["median"],
                    "round_trips_from_latency": round((slowed["median"] - direct["median"]) / (delay * 1000), 2),
                }
    finally:
        os.environ["DB_PORT"] = saved_port
        for database, manager in targets.values():
            database.close()
            manager.pool.closeall()
        naive._db = None
        configure(env)
        for relay in relays.values():
            relay.close()
    for route, entry in out.items():
        entry["goal"] = None if route.startswith("naive") else 1
        entry["pass"] = None if route.startswith("naive") else entry["round_trips"] <= 1
    return {"delay_ms": delay * 1000, "reps": reps, "routes": out}


# -- 4. keyset vs OFFSET, has-more ------------------------------------------------------
FEED_AT = (
    "SELECT published_at, post_id FROM posts WHERE status = 'published' "
    "ORDER BY published_at DESC, post_id DESC OFFSET CAST(:o AS int) LIMIT 1"
)
OFFSET_PAGE = (
    "SELECT p.post_id, p.user_id, p.title, p.slug, p.excerpt, p.featured_image_url, p.tags, "
    "p.view_count, p.like_count, p.comment_count, p.published_at, "
    "u.username, u.first_name, u.last_name, u.profile_image_url "
    "FROM posts p LEFT JOIN users u ON u.user_id = p.user_id "
    "WHERE p.status = 'published' ORDER BY p.published_at DESC, p.post_id DESC "
    "LIMIT CAST(:limit AS int) OFFSET CAST(:offset AS int)"
)
EXACT_COUNT = "SELECT count(*) FROM posts WHERE status = 'published'"


def feed_kind() -> Any:
    """The kind of the cursors of the unfiltered feed (GET /posts, newest first)."""
    import posts_queries

    return posts_queries.list_kind("published_at", author=None, tag=None, search=None, after=None, before=None)


def cursor_for_page(owner: Any, page_no: int, limit: int) -> str | None:
    from shared.pagination import encode_cursor

    if page_no <= 1:
        return None
    row = owner.run(FEED_AT, o=(page_no - 1) * limit - 1)
    return encode_cursor(feed_kind(), [row[0][0], str(row[0][1])])


def pages_available(data: Data, limit: int) -> int:
    return max(1, data.published // limit)


def pagination(owner: Any, data: Data, depths: list[int], rounds: int, limit: int = 20) -> dict[str, Any]:
    from shared.db import get_database

    h = handlers()
    ev = events_for(data)
    conn = get_database().connection()
    depths = [d for d in depths if d <= pages_available(data, limit)]
    keyset: dict[str, Fn] = {}
    contrast: dict[str, Fn] = {}
    for d in depths:
        cursor = cursor_for_page(owner, d, limit)
        keyset_event = ev["post_list"](limit, cursor)
        naive_event = ev["post_list"](limit)
        naive_event["queryStringParameters"]["offset"] = str((d - 1) * limit)
        keyset[f"keyset handler p{d}"] = lambda e=keyset_event: call(h["posts"], e)
        contrast[f"OFFSET query p{d}"] = lambda o=(d - 1) * limit: conn.run(OFFSET_PAGE, limit=limit, offset=o)
        contrast[f"naive handler p{d}"] = lambda e=naive_event: call(h["naive"], e)
    # The keyset pages the goal compares are interleaved among themselves: a deep
    # OFFSET query between two samples would disturb whichever light request follows it.
    samples = interleave(keyset, rounds * 4) | interleave(contrast, rounds)
    from bench.peer import naive

    naive.close()
    s = {n: summarize(v) for n, v in samples.items()}
    out: dict[str, Any] = {"limit": limit, "depths": depths, "published_posts": data.published, "samples": s}
    # The goal is page 1000 / page 1 (DESIGN.md); a small data set has fewer pages.
    first, goal_page, last = depths[0], (1000 if 1000 in depths else depths[-1]), depths[-1]
    for kind in ("keyset handler", "OFFSET query", "naive handler"):
        out[f"ratio {kind}"] = ratio(s[f"{kind} p{goal_page}"], s[f"{kind} p{first}"])
        out[f"ratio {kind} deepest"] = ratio(s[f"{kind} p{last}"], s[f"{kind} p{first}"])
    out["goal_page"] = goal_page
    out["deepest_page"] = last
    return out


def has_more(data: Data, rounds: int, limit: int = 50) -> dict[str, Any]:
    import posts_queries

    from shared.db import get_database

    conn = get_database().connection()
    sql = posts_queries.list_sql("published_at", posts_queries.DEFAULT_LIST_FIELDS, False)
    nulls = {"author": None, "tag": None, "q": None, "like": None, "ilike": None, "after": None, "before": None}

    def exact() -> None:
        conn.run(sql, limit=limit - 1, **nulls)
        conn.run(EXACT_COUNT)

    def without() -> None:
        conn.run(sql, limit=limit - 1, **nulls)

    # The pair the goal compares runs on its own: a parallel COUNT(*) between
    # two samples would disturb whichever light statement follows it.
    pair = interleave(
        {"without (LIMIT n)": without, "with has-more (LIMIT n+1)": lambda: conn.run(sql, limit=limit, **nulls)}, rounds
    )
    contrast = interleave({"without, beside COUNT(*)": without, "with exact COUNT(*)": exact}, max(rounds // 4, 10))
    s = {n: summarize(v) for n, v in (pair | contrast).items()}
    return {
        "limit": limit,
        **s,
        "ratio": ratio(s["with has-more (LIMIT n+1)"], s["without (LIMIT n)"]),
        "ratio_exact_count": ratio(s["with exact COUNT(*)"], s["without, beside COUNT(*)"]),
    }


# -- 6. throughput ----------------------------------------------------------------------
def throughput(owner: Any, data: Data, db_name: str, ns: list[int], seconds: float) -> dict[str, Any]:
    from bench.peer import naive
    from shared.db import reset_databases

    h = handlers()
    ev = events_for(data)
    events = [ev["post_get"](i) for i in range(len(data.posts))]
    out: dict[str, Any] = {}
    # Only the simulated containers hold connections while this runs.
    reset_databases()
    naive.close()
    for n in ns:
        latencies: list[list[float]] = [[] for _ in range(n)]
        errors: list[str] = []
        ready = threading.Barrier(n + 1)
        go = threading.Event()
        stop = threading.Event()

        def worker(
            i: int,
            lat: list[float],
            ready: threading.Barrier = ready,
            go: threading.Event = go,
            stop: threading.Event = stop,
            errors: list[str] = errors,
        ) -> None:
            rng = random.Random(i)
            try:
                call(h["posts"], events[0])  # the container's connection
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
            ready.wait()
            go.wait()
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    call(h["posts"], rng.choice(events))
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
                    return
                lat.append((time.perf_counter() - t) * 1000)

        with quiet_stdout(), per_thread_connections():
            threads = [threading.Thread(target=worker, args=(i, latencies[i])) for i in range(n)]
            for t in threads:
                t.start()
            ready.wait()
            started = time.perf_counter()
            go.set()
            time.sleep(seconds / 2)
            connections = owner.run(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND usename = 'blog_app'", d=db_name
            )[0][0]
            time.sleep(seconds / 2)
            stop.set()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
        flat = [x for lat in latencies for x in lat]
        out[str(n)] = {
            "requests": len(flat),
            "rps": round(len(flat) / elapsed, 1),
            "p50_ms": round(percentile(flat, 0.5), 3),
            "p99_ms": round(percentile(flat, 0.99), 3),
            "max_ms": round(max(flat), 3) if flat else None,
            "db_connections": connections,
            "connections_equal_n": connections == n,
            "errors": errors[:3],
        }
    return {"route": "GET /posts/{post_id}", "seconds": seconds, "by_n": out}


# -- latency against data size ------------------------------------------------------------
# GET /posts/popular as it was before the precomputed ranking (sql/migrations/0012): the whole
# window read and sorted by score. Kept as the contrast in the data-size series.
POPULAR_FULL_WINDOW = """
SELECT p.post_id, (p.view_count * 0.1 + p.like_count * 2 + p.comment_count * 3) AS score
FROM posts p
WHERE p.status = 'published' AND p.published_at >= now() - make_interval(days => CAST(:days AS int))
ORDER BY score DESC, p.post_id DESC
LIMIT CAST(:limit AS int)
"""


def refresh_ranking(owner: Any) -> float:
    """Run the statistics schedule's ranking refresh, as a deployed stack would have; its ms."""
    started = time.perf_counter()
    owner.run("SELECT refresh_popular_post_days()")
    spent = (time.perf_counter() - started) * 1000
    owner.run("ANALYZE popular_post_days")
    return round(spent, 1)


def at_size(owner: Any, data: Data, rounds: int, depth: int, limit: int = 20) -> dict[str, Any]:
    import posts_queries

    from shared.db import get_database

    h = handlers()
    ev = events_for(data)
    conn = get_database().connection()
    cursor = cursor_for_page(owner, depth, limit)
    post_events = [ev["post_get"](i) for i in range(len(data.posts))]
    from testing.events import load_event, prepare

    popular_list = prepare(load_event("posts/list.json"), query={"limit": str(limit), "sort": "popular"})
    state = {"i": 0}

    def by_id() -> None:
        state["i"] += 1
        call(h["posts"], post_events[state["i"] % len(post_events)])

    cands: dict[str, Fn] = {
        "GET /posts/{post_id}": by_id,
        "GET /posts page 1": lambda: call(h["posts"], ev["post_list"](limit)),
        f"GET /posts page {depth} (keyset)": lambda: call(h["posts"], ev["post_list"](limit, cursor)),
        f"OFFSET query page {depth}": lambda: conn.run(OFFSET_PAGE, limit=limit, offset=(depth - 1) * limit),
        "GET /posts/popular": lambda: call(h["posts"], ev["reads"]["GET /posts/popular"][1]),
        "popular statement (0012)": lambda: conn.run(posts_queries.SQL.popular_posts, days=30, limit=10),
        "popular statement, full-window sort (before 0012)": lambda: conn.run(POPULAR_FULL_WINDOW, days=30, limit=10),
        "GET /admin/users/statistics": lambda: call(h["users"], ev["reads"]["GET /admin/users/statistics"][1]),
    }
    if data.published <= 200_000:  # linear in the posts that match (see BENCHMARKS notes): seconds at 1M
        cands["GET /posts?sort=popular"] = lambda: call(h["posts"], popular_list)
    return {n: summarize(v) for n, v in interleave(cands, rounds).items()}


# -- plans ---------------------------------------------------------------------------------
def plans(owner: Any, data: Data, depth: int, limit: int = 20) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the hot statements with the parameters the API sends."""
    import posts_queries
    import users_queries

    from shared.db import get_database
    from shared.pagination import decode_cursor

    conn = get_database().connection()
    nulls = {"author": None, "tag": None, "q": None, "like": None, "ilike": None, "after": None, "before": None}
    cursor = cursor_for_page(owner, depth, limit)
    c_1, c_2 = decode_cursor(feed_kind(), cursor, 2) if cursor else (None, None)
    first = posts_queries.list_sql("published_at", posts_queries.DEFAULT_LIST_FIELDS, False)
    deep = posts_queries.list_sql("published_at", posts_queries.DEFAULT_LIST_FIELDS, True)
    statements: dict[str, tuple[str, dict[str, Any]]] = {
        "GET /posts/{post_id}": (
            posts_queries.SQL.get_post,
            {"post_id": data.posts[0], "caller": data.caller, "is_admin": False},
        ),
        "GET /posts page 1": (first, {**nulls, "limit": limit}),
        f"GET /posts page {depth} (keyset)": (deep, {**nulls, "limit": limit, "c_1": c_1, "c_2": c_2}),
        f"OFFSET page {depth} (seed 000 style)": (OFFSET_PAGE, {"limit": limit, "offset": (depth - 1) * limit}),
        "exact COUNT(*) of published posts": (EXACT_COUNT, {}),
        "GET /posts/popular": (posts_queries.SQL.popular_posts, {"days": 30, "limit": 10}),
        "GET /users/{user_id}": (users_queries.SQL.get_user_public, {"user_id": data.authors[0]}),
    }
    out: dict[str, Any] = {}
    for name, (sql, params) in statements.items():
        conn.run(sql, **params)  # warm the cache as the measures do
        rows = conn.run("EXPLAIN (ANALYZE, BUFFERS) " + sql, **params)
        text = "\n".join(r[0] for r in rows)
        total = next((r[0] for r in rows if r[0].startswith("Execution Time")), "")
        out[name] = {"execution": total.split(":", 1)[-1].strip(), "plan": text}
    return out


# -- where a warm request's time goes ------------------------------------------------------
PROFILE_GROUPS = (
    # (group, substrings of a function's file name), first match wins
    ("driver and socket wait", ("pg8000", "shared/wire.py", "shared/db.py", "socket", "select", "_ssl", "ssl.py")),
    ("validation", ("event_handler/middlewares", "event_handler/openapi", "pydantic")),
    ("logger", ("aws_lambda_powertools/logging", "jmespath", "logging/__init__.py")),
    ("metrics", ("aws_lambda_powertools/metrics", "warnings.py")),
    ("resolver", ("event_handler/api_gateway.py", "event_handler/util", "utilities/data_classes", "shared/http.py")),
    ("route and query code", ("functions/", "posts_app", "posts_queries", "shared/errors.py")),
)


def warm_profile(data: Data, rounds: int) -> dict[str, Any]:
    """GET /posts/{post_id}, warm, taken apart two ways.

    Stages (interleaved, medians): the raw driver statement; the layer's query function
    (Database.one + Session); the resolver (`app.resolve`: routing, request validation, the
    route, the response); the handler (adds the logger's context, the EMF flush, the guards).
    The differences between stages are the cost of each layer. Then a cProfile of the handler
    attributes self time per group of modules (profiling inflates every call; the shares hold).
    """
    import cProfile
    import pstats

    import posts_queries

    import posts_app
    from shared.db import get_database
    from shared.identity import Identity

    ev = events_for(data)
    conn = get_database().connection()
    k = len(data.posts)
    events = [ev["post_get"](i) for i in range(k)]
    who = Identity(sub=data.caller, email=None, groups=frozenset())
    state = {"i": 0}

    def nxt() -> int:
        return state["i"] % k

    stages: dict[str, Fn] = {
        "raw driver": lambda: conn.run(
            posts_queries.SQL.get_post, post_id=data.posts[nxt()], caller=data.caller, is_admin=False
        ),
        "query function": lambda: posts_queries.get_post(data.posts[nxt()], who),
        "resolver": lambda: posts_app.app.resolve(events[nxt()], LambdaContext()),
        "handler": lambda: call(posts_app.handler, events[nxt()]),
    }
    samples = interleave(stages, rounds, on_round=lambda r: state.__setitem__("i", r))
    med = {n: summarize(v)["median"] for n, v in samples.items()}
    names = list(stages)
    layers = {f"{b} - {a}": round((med[b] - med[a]) * 1000, 1) for a, b in itertools.pairwise(names)}

    profiler = cProfile.Profile()
    n = max(rounds, 200)
    with quiet_stdout():
        profiler.enable()
        for i in range(n):
            posts_app.handler(events[i % k], LambdaContext())
        profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {g: 0.0 for g, _ in PROFILE_GROUPS}
    groups["other (stdlib: json, re, uuid, ...)"] = 0.0
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        total += tottime
        where = f"{filename}:{func}"
        group = next((g for g, keys in PROFILE_GROUPS if any(key in where for key in keys)), None)
        groups[group or "other (stdlib: json, re, uuid, ...)"] += tottime
    shares = {g: round(t / total, 3) for g, t in groups.items()}
    handler_us = med["handler"] * 1000
    return {
        "median_us": {n: round(v * 1000, 1) for n, v in med.items()},
        "layer_us": layers,
        "profile_share": shares,
        "profile_us_at_median": {g: round(s * handler_us, 1) for g, s in shares.items()},
    }
