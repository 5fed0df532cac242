"""StatsFunction against real PostgreSQL with known data: every published
number equals the truth computed here independently, and the EMF output
follows the CloudWatch embedded metric format specification."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stats_queries

import stats_app
from shared.errors import AppError, ServiceUnavailable
from testing.events import claims, load_event, prepare
from tests.conftest import APP_SECRET, READONLY_SECRET, LambdaContext
from tests.support.api import call
from tests.support.factories import make_post, make_user

VALID_UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}
ADMIN = claims("00000000-0000-4000-8000-0000000000aa", groups=["admin"])


@pytest.fixture()
def stats_env(db, monkeypatch):
    """The StatsFunction's environment: read-only role, snapshot written as the app role."""
    from shared.db import reset_databases
    from shared.settings import get_settings

    monkeypatch.setenv("DB_SECRET_ID", READONLY_SECRET)
    monkeypatch.setenv("WRITER_DB_SECRET_ID", APP_SECRET)
    get_settings.cache_clear()
    reset_databases()
    yield db
    reset_databases()
    get_settings.cache_clear()


@pytest.fixture()
def known_data(owner_conn):
    """A small, fully known data set; returns the truth computed in Python."""
    rnd = random.Random(7)
    now = datetime.now(UTC)
    users = []
    for i in range(12):
        users.append(
            make_user(
                owner_conn,
                is_verified=i % 3 == 0,
                is_active=i != 11,
                created_at=now - timedelta(days=2 if i < 5 else 40),
                last_login_at=(now - timedelta(days=1)) if i % 2 == 0 else None,
            )
        )
    posts = []
    for i in range(20):
        status = ("published", "draft", "archived")[i % 3]
        published_at = now - timedelta(hours=3 if i < 6 else 72) if status != "draft" else None
        posts.append(
            make_post(
                owner_conn,
                users[i % 10]["user_id"],
                status=status,
                published_at=published_at,
                view_count=rnd.randint(0, 500),
                like_count=rnd.randint(0, 40),
            )
        )
    comment_statuses = []
    for i in range(30):
        status = ("active", "active", "hidden", "deleted")[i % 4]
        owner_conn.run(
            "INSERT INTO comments (post_id, user_id, content, status) VALUES (:p, :u, 'c', :s)",
            p=posts[i % 20]["post_id"],
            u=users[i % 10]["user_id"],
            s=status,
        )
        comment_statuses.append(status)
    active = [u for u in users if u["is_active"]]
    truth = {
        "users_total": len(active),
        "users_verified": sum(u["is_verified"] for u in active),
        "users_active_30d": sum(u["last_login_at"] is not None for u in active),
        "users_new_7d": sum(u["created_at"] > now - timedelta(days=7) for u in active),
        "posts_published": sum(p["status"] == "published" for p in posts),
        "posts_draft": sum(p["status"] == "draft" for p in posts),
        "posts_archived": sum(p["status"] == "archived" for p in posts),
        "posts_published_24h": sum(
            p["status"] == "published" and p["published_at"] > now - timedelta(hours=24) for p in posts
        ),
        "post_views_total": sum(p["view_count"] for p in posts),
        "post_likes_total": sum(p["like_count"] for p in posts),
        "comments_active": comment_statuses.count("active"),
        "comments_hidden": comment_statuses.count("hidden"),
        "comments_deleted": comment_statuses.count("deleted"),
    }
    by_author: dict[str, int] = {}
    for p in posts:
        by_author[p["user_id"]] = by_author.get(p["user_id"], 0) + p["view_count"]
    truth["top_author"] = str(max(by_author.items(), key=lambda kv: (kv[1], str(kv[0])))[0])
    return truth


def emf_blobs(output: str, *, cold_start: bool = False) -> list[dict]:
    """EMF documents on stdout. Powertools' own ColdStart document (dimensions
    function_name and service) is left out unless asked for."""
    blobs = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            if cold_start or "ColdStart" not in blob:
                blobs.append(blob)
    return blobs


def assert_valid_emf(blob: dict) -> None:
    aws = blob["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 1_600_000_000_000
    directives = aws["CloudWatchMetrics"]
    assert len(directives) == 1
    for d in directives:
        assert isinstance(d["Namespace"], str) and 1 <= len(d["Namespace"]) <= 255
        assert len(d["Metrics"]) <= 100
        for dims in d["Dimensions"]:
            assert 1 <= len(dims) <= 30
            for key in dims:
                assert isinstance(blob[key], str)  # each dimension has a string value in the root
        for m in d["Metrics"]:
            assert m["Unit"] in VALID_UNITS, m
            value = blob[m["Name"]]
            values = value if isinstance(value, list) else [value]
            assert all(isinstance(v, (int, float)) for v in values), m


def published_metrics(blobs: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for blob in blobs:
        for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            v = blob[m["Name"]]
            out[m["Name"]] = v[0] if isinstance(v, list) else v
    return out


def run_schedule(capsys, when: str = "2026-11-23T12:00:00Z") -> tuple[dict, dict[str, float], list[dict]]:
    event = load_event("stats/schedule.json")
    event["time"] = when
    capsys.readouterr()
    result = stats_app.handler(event, LambdaContext())
    blobs = emf_blobs(capsys.readouterr().out)
    return result, published_metrics(blobs), blobs


def test_every_published_number_is_the_truth(stats_env, known_data, capsys, owner_conn):
    result, published, blobs = run_schedule(capsys)
    assert result["status"] == "published" and result["source"] == "primary"
    for blob in blobs:
        assert_valid_emf(blob)
        assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "BlogTest"
        assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stage"]]
        assert blob["Stage"] == "test"
    names = {
        "users_total": "UsersTotal",
        "users_verified": "UsersVerified",
        "users_active_30d": "UsersActive30d",
        "users_new_7d": "UsersNew7d",
        "posts_published": "PostsPublished",
        "posts_draft": "PostsDraft",
        "posts_archived": "PostsArchived",
        "posts_published_24h": "PostsPublished24h",
        "post_views_total": "PostViewsTotal",
        "post_likes_total": "PostLikesTotal",
        "comments_active": "CommentsActive",
        "comments_hidden": "CommentsHidden",
        "comments_deleted": "CommentsDeleted",
    }
    for key, metric in names.items():
        assert published[metric] == known_data[key], metric
    # database health, cross-checked against the catalog independently
    size = owner_conn.run("SELECT pg_database_size(current_database())")[0][0]
    assert abs(published["DatabaseSize"] - size) / size < 0.05
    assert 0 <= published["CacheHitRatio"] <= 100
    assert published["ConnectionsTotal"] >= 1 and published["LongestQueryAge"] >= 0
    assert "ReplicaLag" not in published  # not on a replica
    assert "TransactionsCommitted" not in published  # no previous snapshot yet: no delta
    assert published["StatsRunSucceeded"] == 1
    # the snapshot row, and the top author in its details
    row = owner_conn.run("SELECT source, metrics, details FROM stats_snapshots")
    assert len(row) == 1 and row[0][0] == "primary"
    assert row[0][2]["top_authors"][0]["user_id"] == known_data["top_author"]


def test_metrics_fit_in_as_few_blobs_as_the_limit_allows(stats_env, known_data, capsys):
    _, published, blobs = run_schedule(capsys)
    assert len(blobs) == -(-len(published) // 100)  # ceil(n / 100) blobs, each <= 100 metrics


def test_second_run_publishes_counter_deltas(stats_env, known_data, capsys, owner_conn):
    run_schedule(capsys, "2026-11-23T12:00:00Z")
    owner_conn.run("SELECT 1")  # some traffic between runs
    _, published, _ = run_schedule(capsys, "2026-11-23T12:05:00Z")
    assert published["TransactionsCommitted"] >= 1
    assert published["Deadlocks"] == 0
    assert owner_conn.run("SELECT count(*) FROM stats_snapshots") == [[2]]


def test_overlapping_run_for_the_same_slot_writes_and_publishes_once(stats_env, known_data, capsys, owner_conn):
    first, _, _ = run_schedule(capsys)
    again, published, _ = run_schedule(capsys)
    assert first["status"] == "published" and again["status"] == "duplicate"
    assert "UsersTotal" not in published
    assert owner_conn.run("SELECT count(*) FROM stats_snapshots") == [[1]]


def test_database_down_fails_loudly_without_zeros(stats_env, capsys, monkeypatch, free_tcp_port):
    from shared.db import reset_databases
    from shared.settings import get_settings

    monkeypatch.setenv("DB_PORT", str(free_tcp_port))
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    get_settings.cache_clear()
    reset_databases()
    event = load_event("stats/schedule.json")
    capsys.readouterr()
    with pytest.raises(ServiceUnavailable):
        stats_app.handler(event, LambdaContext())
    out = capsys.readouterr().out
    for blob in emf_blobs(out, cold_start=True):
        assert_valid_emf(blob)
    published = published_metrics(emf_blobs(out))
    assert published == {"StatsRunFailed": 1}


def statements_preloaded(conn) -> bool:
    """pg_stat_statements can be read only when the server preloads it (the throwaway cluster does)."""
    rows = conn.run("SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'")
    return bool(rows) and "pg_stat_statements" in rows[0][0].replace(" ", "").split(",")


def test_slow_statements_never_become_metric_dimensions(stats_env, known_data, capsys, owner_conn):
    _, _, blobs = run_schedule(capsys)
    for blob in blobs:
        dims = {k for d in blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for k in d}
        assert dims == {"Stage"}
    details = owner_conn.run("SELECT details FROM stats_snapshots")[0][0]
    if not statements_preloaded(owner_conn):
        # Created but not preloaded (a DATABASE_URL server): the run skips it instead of failing.
        assert "slow_statements" not in details
        return
    assert isinstance(details["slow_statements"], list) and details["slow_statements"]
    assert set(details["slow_statements"][0]) == {"query_id", "calls", "mean_ms", "total_ms"}


def test_collect_is_one_statement_and_reads_as_read_only_role(stats_env, known_data, owner_conn):
    from shared.db import get_database

    database = get_database()
    assert database.value("SELECT current_user") == "blog_readonly"
    before = database.round_trips
    stats_queries.collect(database)
    # COLLECT, then pg_stat_statements where the server can serve it
    assert database.round_trips - before == (2 if statements_preloaded(owner_conn) else 1)


# -- HTTP routes --------------------------------------------------------------------
def test_public_stats_serve_the_latest_snapshot_only(stats_env, known_data, capsys):
    empty = call(stats_app.handler, load_event("stats/get.json"))
    assert empty.status == 200 and empty.body["generated_at"] is None
    run_schedule(capsys, "2026-11-23T12:00:00Z")
    run_schedule(capsys, "2026-11-23T12:05:00Z")
    reply = call(stats_app.handler, load_event("stats/get.json"))
    assert reply.status == 200
    assert reply.body["generated_at"].startswith("2026-11-23T12:05:00")
    assert reply.body["users"] == known_data["users_total"]
    assert reply.body["posts_published"] == known_data["posts_published"]
    assert set(reply.body) == {"generated_at", "users", "posts_published", "comments", "post_views", "post_likes"}


def test_history_is_admin_only_and_allow_listed(stats_env, known_data, capsys):
    run_schedule(capsys, "2026-11-23T12:00:00Z")
    run_schedule(capsys, "2026-11-23T12:05:00Z")
    ok = call(stats_app.handler, prepare(load_event("stats/history.json"), claims=ADMIN))
    assert ok.status == 200
    assert [p["value"] for p in ok.body["points"]] == [known_data["posts_published"]] * 2
    assert call(stats_app.handler, load_event("stats/history_anonymous_401.json")).status == 401
    assert call(stats_app.handler, load_event("stats/history_not_admin_403.json")).status == 403
    bad = call(stats_app.handler, load_event("stats/history_unknown_metric_422.json"))
    assert bad.status == 422 and bad.body["error"]["details"][0]["field"] == "metric"
    bad_since = call(
        stats_app.handler,
        prepare(load_event("stats/history.json"), query={"metric": "users_total", "since": "yesterday"}),
    )
    assert bad_since.status == 422


def test_health_reports_schema_version(stats_env):
    from shared.migrations import load
    from tests.conftest import MIGRATIONS

    reply = call(stats_app.handler, load_event("stats/health.json"))
    assert reply.status == 200
    assert reply.body == {"status": "ok", "database": "reachable", "schema_version": load(MIGRATIONS)[-1].version}


def test_health_is_503_when_the_database_is_down(stats_env, monkeypatch, free_tcp_port):
    from shared.db import reset_databases
    from shared.settings import get_settings

    monkeypatch.setenv("DB_PORT", str(free_tcp_port))
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    get_settings.cache_clear()
    reset_databases()
    started = time.perf_counter()
    reply = call(stats_app.handler, load_event("stats/health.json"))
    assert reply.status == 503 and reply.body["error"]["code"] == "unhealthy"
    assert time.perf_counter() - started < 8  # no retry loop: refused connections answer at once


# -- the replica path ------------------------------------------------------------------
@pytest.fixture()
def replica(pg_server, stats_env, monkeypatch):
    if pg_server.cluster is None:
        pytest.skip("the replica test streams from the harness's own cluster (DATABASE_URL is set)")
    from shared.db import reset_databases
    from shared.settings import get_settings

    root = Path(tempfile.mkdtemp(prefix="blogrep-"))
    root.chmod(0o755)
    rep = pg_server.cluster.make_replica(root / "replica")
    monkeypatch.setenv("DB_READER_HOST", "127.0.0.1")
    monkeypatch.setenv("DB_READER_PORT", str(rep.port))
    get_settings.cache_clear()
    reset_databases()
    try:
        yield rep
    finally:
        reset_databases()
        rep.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_replica_path_reads_from_the_replica_and_reports_lag(replica, known_data, capsys, owner_conn):
    from shared.db import get_database

    # wait until the replica has replayed the test data
    marker = str(uuid.uuid4())
    owner_conn.run(
        "INSERT INTO stats_snapshots (scheduled_at, source, duration_ms, metrics) VALUES "
        "('2000-01-01', 'primary', 0, json_build_object('m', CAST(:m AS text)))",
        m=marker,
    )
    deadline = time.monotonic() + 20
    reader = get_database("reader")
    while time.monotonic() < deadline:
        if reader.value("SELECT count(*) FROM stats_snapshots WHERE metrics->>'m' = :m", m=marker):
            break
        time.sleep(0.1)
    assert reader.value("SELECT pg_is_in_recovery()") is True
    result, published, _ = run_schedule(capsys)
    assert result["source"] == "replica"
    assert published["UsersTotal"] == known_data["users_total"]
    assert published["PostViewsTotal"] == known_data["post_views_total"]
    assert published["ReplicaLag"] >= 0
    # the snapshot was written through the primary
    assert owner_conn.run("SELECT source FROM stats_snapshots WHERE scheduled_at = '2026-11-23T12:00:00Z'") == [
        ["replica"]
    ]


def test_a_failed_popular_ranking_never_fails_the_statistics(stats_env, known_data, capsys, monkeypatch):
    # Given a refresh that the database cancels (as a statement_timeout would)
    monkeypatch.setitem(stats_queries.SQL, "refresh_popular", "SELECT pg_cancel_backend(pg_backend_pid()), pg_sleep(1)")
    result, published, _ = run_schedule(capsys)
    # Then the statistics are published all the same, and the failure is a metric
    assert result["status"] == "published"
    assert published["PopularRankingFailed"] == 1
    assert "PopularRankingDuration" not in published


def test_the_refresh_is_not_bound_by_the_logins_request_timeout(stats_env, known_data, owner_conn):
    """blog_app's statement_timeout (5 s) is sized for requests; the refresh of a large year takes
    longer (7.1 s at 1M posts). Shown with the login's limit at 1 ms, which any refresh exceeds."""
    from shared.db import get_database, reset_databases

    owner_conn.run("ALTER ROLE blog_app SET statement_timeout = '1ms'")
    try:
        reset_databases()
        writer = get_database("writer")
        with pytest.raises(AppError):  # the login's limit, as the refresh met it before
            writer.value("SELECT refresh_popular_post_days()")
        assert stats_queries.refresh_popular(writer) > 0
        # and the raised limit ended with the refresh's transaction
        assert writer.value("SHOW statement_timeout") == "1ms"
    finally:
        owner_conn.run("ALTER ROLE blog_app SET statement_timeout = '5s'")
        reset_databases()


def test_the_scheduled_run_refreshes_the_popular_ranking(stats_env, known_data, capsys, owner_conn):
    _, published, _ = run_schedule(capsys)
    assert published["PopularRankingDuration"] >= 0
    (through,), *_ = owner_conn.run("SELECT ranked_through FROM popular_ranking_state")
    assert through == datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
