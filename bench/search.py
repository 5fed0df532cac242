"""Search benchmark: `python -m bench.search [--posts N | --dsn URL]`.

Measures the statements GET /posts?q= really sends (posts_queries.search_sql with
the parameters search_terms gives) on posts of Japanese, English and mixed text
(bench/search_data.py): p50/p95 per kind of query with how many posts match,
page 20 / page 1 of a ranked search, the plans (EXPLAIN (ANALYZE, BUFFERS)), the
sizes of the n-gram indexes against the table, and the latency of the create and
update statements with the n-gram indexes against without them (the last
measure: it drops them). Results: bench/results/search.json; the markdown rows
for BENCHMARKS.md are printed.

With --posts it builds a throwaway cluster (bench/env.py) and generates the data;
with --dsn it uses a database that already holds such data (owner rights).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import posts_queries
from posts_models import search_terms

from bench.search_data import EN_WORDS, JA_WORDS, generate_posts
from bench.stats_util import summarize

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "bench" / "results" / "search.json"

# (label, q): one per kind of query the goals name, plus the extremes.
QUERIES = [
    ("common word (ja)", "データベース"),
    ("common word (en)", "database"),
    ("two CJK characters", "設計"),
    ("two CJK characters, rarer", "暗号"),
    ("one CJK character", "管"),
    ("rare word (ja)", "ロールバック"),
    ("two words, mixed scripts", "rds 接続"),
    ("no match", "存在しない言葉"),
]
GRAM_INDEXES = ("idx_posts_title_grams", "idx_posts_document_grams")
INDEX_DEFS = {
    "idx_posts_title_grams": "CREATE INDEX idx_posts_title_grams ON posts USING gin "
    "(search_grams(coalesce(search_title, title))) "
    "WHERE status = 'published'",
    "idx_posts_document_grams": "CREATE INDEX idx_posts_document_grams ON posts USING gin "
    "(search_grams(coalesce(search_document, title || E'\\n' || coalesce(excerpt, '') || E'\\n' || content))) "
    "WHERE status = 'published'",
}


def _params(q: str, limit: int = 20, cursor: tuple[Any, ...] | None = None) -> dict[str, Any]:
    t = search_terms(q)
    c_tier, c_ts, c_id = cursor or (None, None, None)
    return {
        "author": None,
        "tag": None,
        "after": None,
        "before": None,
        "q": t.q,
        "like": t.like,
        "ilike": t.ilike,
        "limit": limit,
        "c_tier": c_tier,
        "c_ts": c_ts,
        "c_id": c_id,
    }


SQL = posts_queries.search_sql("relevance", posts_queries.DEFAULT_LIST_FIELDS)


def timed(conn: Any, sql: str, params: dict[str, Any]) -> tuple[float, list[Any]]:
    t = time.perf_counter()
    rows = conn.run(sql, **params)
    return (time.perf_counter() - t) * 1000, rows


def latency(conn: Any, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, q in QUERIES:
        timed(conn, SQL, _params(q))  # warm the cache for this query
    samples: dict[str, list[float]] = {label: [] for label, _ in QUERIES}
    for _ in range(rounds):  # interleaved: a burst of load hits every query alike
        for label, q in QUERIES:
            samples[label].append(timed(conn, SQL, _params(q))[0])
    for label, q in QUERIES:
        t = search_terms(q)
        matches = conn.run(
            "SELECT count(*) FROM posts p WHERE p.status = 'published' AND "
            + posts_queries._match(posts_queries.DOCUMENT_TEXT),
            q=t.q,
            like=t.like,
            ilike=t.ilike,
        )[0][0]
        out[label] = {"q": q, "matches": matches, **summarize(samples[label])}
    return out


def _cursor_after(rows: list[Any]) -> tuple[Any, ...]:
    last = rows[19]
    return (last[1], last[2], str(last[3]))


def pages(conn: Any, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, q in QUERIES[:3]:
        cursor = None
        for _ in range(19):
            _, rows = timed(conn, SQL, _params(q, cursor=cursor))
            if len(rows) <= 20:
                break
            cursor = _cursor_after(rows)
        else:
            first, twentieth = [], []
            for _ in range(rounds):
                first.append(timed(conn, SQL, _params(q))[0])
                twentieth.append(timed(conn, SQL, _params(q, cursor=cursor))[0])
            s1, s20 = summarize(first), summarize(twentieth)
            out[label] = {"page_1": s1, "page_20": s20, "ratio_p50": round(s20["median"] / s1["median"], 2)}
    return out


def plans(conn: Any) -> dict[str, str]:
    out = {}
    for label, q in (QUERIES[0], QUERIES[2], QUERIES[5], QUERIES[6]):
        rows = conn.run("EXPLAIN (ANALYZE, BUFFERS) " + SQL, **_params(q))
        out[label] = "\n".join(r[0] for r in rows)
    return out


def sizes(conn: Any) -> dict[str, int]:
    rows = conn.run(
        "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
        "WHERE c.relname = ANY (CAST(:names AS text[])) ORDER BY 1",
        names=[*GRAM_INDEXES, "idx_users_name_grams", "idx_users_username_prefix", "idx_posts_published_feed"],
    )
    out = {name: size for name, size in rows}
    out["posts (heap)"] = conn.run("SELECT pg_relation_size('posts')")[0][0]
    out["posts (heap + TOAST)"] = conn.run("SELECT pg_table_size('posts')")[0][0]
    return out


def _text(rng: random.Random, words: int) -> str:
    ja = [rng.choice(JA_WORDS[: int(len(JA_WORDS) ** rng.random())] or JA_WORDS) for _ in range(words)]
    return "".join(w + rng.choice("はのをにがでと") for w in ja) + " " + " ".join(rng.sample(EN_WORDS, 10))


def writes(conn: Any, rounds: int) -> dict[str, Any]:
    """CREATE_POST and UPDATE_POST (the API's statements), with the n-gram indexes
    and then without them (dropped here: run this last)."""
    rng = random.Random(7)
    author = str(conn.run("SELECT user_id FROM users WHERE is_active ORDER BY user_id LIMIT 1")[0][0])

    def one_round() -> tuple[list[float], list[float]]:
        create, update = [], []
        for _ in range(rounds):
            post_id = str(uuid.uuid4())
            params = {
                "user_id": author,
                "post_id": post_id,
                "title": "書き込みの計測 " + _text(rng, 3)[:40],
                "content": _text(rng, 300),
                "excerpt": None,
                "slug": "write-" + post_id,
                "alt_slug": None,
                "status": "published",
                "tags": ["bench"],
                "metadata": "{}",
                "featured_image_url": None,
                "fingerprint": None,
            }
            create.append(timed(conn, posts_queries.SQL.create_post, params)[0])
            patch = json.dumps({"content": _text(rng, 300)}, ensure_ascii=False)
            update.append(
                timed(
                    conn,
                    posts_queries.SQL.update_post,
                    {"patch": patch, "post_id": post_id, "caller": author, "is_admin": False, "expected": None},
                )[0]
            )
        return create, update

    one_round()  # warm-up
    with_c, with_u = one_round()
    for name in GRAM_INDEXES:
        conn.run("DROP INDEX " + name)  # fixed names
    one_round()
    without_c, without_u = one_round()
    result = {
        "content_chars": len(_text(random.Random(1), 300)),
        "create_with": summarize(with_c),
        "create_without": summarize(without_c),
        "update_with": summarize(with_u),
        "update_without": summarize(without_u),
    }
    result["create_ratio_p50"] = round(result["create_with"]["median"] / result["create_without"]["median"], 2)
    result["update_ratio_p50"] = round(result["update_with"]["median"] / result["update_without"]["median"], 2)
    return result


def build(conn: Any, posts: int) -> dict[str, float]:
    from bench.datagen import USERS

    users = max(posts // 10, 100)
    conn.run("SELECT setseed(0.4)")
    conn.run(USERS, n=users)
    for name in GRAM_INDEXES:
        conn.run("DROP INDEX IF EXISTS " + name)
    timings = {"posts_s": round(generate_posts(conn, posts, users), 1)}
    for name in GRAM_INDEXES:
        t = time.perf_counter()
        conn.run(INDEX_DEFS[name])
        timings[name + "_build_s"] = round(time.perf_counter() - t, 1)
    conn.run("VACUUM ANALYZE posts")
    conn.run("ANALYZE users")
    return timings


def measure(conn: Any, rounds: int, drop_for_writes: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"posts": conn.run("SELECT count(*) FROM posts")[0][0]}
    result["relevance_tiers"] = len(posts_queries.SEARCH_SORTS["relevance"].tiers)
    result["published"] = conn.run("SELECT count(*) FROM posts WHERE status = 'published'")[0][0]
    result["sizes"] = sizes(conn)
    result["latency"] = latency(conn, rounds)
    result["pages"] = pages(conn, max(rounds // 2, 5))
    result["plans"] = plans(conn)
    if drop_for_writes:
        result["writes"] = writes(conn, max(rounds, 20))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search")
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--dsn", help="an existing, migrated database (owner rights): no cluster is started")
    parser.add_argument("--generate", action="store_true", help="with --dsn: generate --posts posts into it first")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    # recorded in the results: a password in --dsn is replaced by ***
    command = re.sub(r"(://[^:/@\s]+):[^@\s]+@", r"\1:***@", "python -m bench.search " + " ".join(sys.argv[1:]))
    if args.dsn:
        from urllib.parse import urlsplit

        from shared.wire import PipelinedConnection

        u = urlsplit(args.dsn)
        # The layer's connection (one round trip per statement, Nagle off): a plain pg8000 one
        # sends a statement longer than its 8 KB write buffer in two writes, and Nagle holds the
        # second for the server's delayed ACK (40 ms on Linux; measured on the 14.6 KB search).
        conn = PipelinedConnection(
            u.username or "postgres",
            password=u.password,
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
            database=u.path.lstrip("/"),
        )
        timings = build(conn, args.posts) if args.generate else {}
        result = {"command": command, "build": timings, **measure(conn, args.rounds)}
    else:
        from bench.env import bench_database
        from devstack import provision

        with bench_database("search") as b:
            conn = b.db.connect(provision.OWNER)
            timings = build(conn, args.posts)
            result = {"command": command, "build": timings, **measure(conn, args.rounds)}
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    from bench import report

    report.write()  # BENCHMARKS.md, "Search": from bench/results/search.json
    print(report.sec_search())


if __name__ == "__main__":
    main()
