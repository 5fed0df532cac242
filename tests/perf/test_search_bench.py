"""The search benchmark runs end to end on a small data set (its statements are the API's own:
a change to them that the benchmark does not follow fails here, not an hour into `make bench-search`)."""

from __future__ import annotations

import secrets
from typing import Any

from devstack import provision
from tests.conftest import MIGRATIONS


def test_the_search_benchmark_measures_every_figure_on_small_data(pg_server: Any, role_passwords: Any) -> None:
    from bench import search

    # a database of its own: the benchmark drops the n-gram indexes for its last measure
    name = f"blog_search_bench_{secrets.token_hex(4)}"
    database = provision.create(pg_server.admin_url, name, role_passwords, MIGRATIONS)
    conn = database.connect(provision.OWNER)
    try:
        timings = search.build(conn, 600)
        result = search.measure(conn, rounds=2)
    finally:
        conn.close()
        provision.drop(pg_server.admin_url, name)
    assert set(timings) == {"posts_s", *(name + "_build_s" for name in search.GRAM_INDEXES)}
    assert result["posts"] == 600
    assert {label for label, _ in search.QUERIES} == set(result["latency"])
    assert result["latency"]["common word (ja)"]["matches"] > 0
    assert all(name in result["sizes"] for name in search.GRAM_INDEXES)
    assert "Bitmap Index Scan" in "\n".join(result["plans"].values()) or "Index Scan" in "\n".join(
        result["plans"].values()
    )
    writes = result["writes"]
    assert writes["create_ratio_p50"] > 0 and writes["update_ratio_p50"] > 0
