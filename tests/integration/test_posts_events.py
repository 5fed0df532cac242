"""Every sample event in events/posts/ against the seeded development data.

A file named `*_<status>.json` must answer exactly that status; any other must
answer a 2xx. Replaying the whole set a second time, or in another order, must give the
same answers (samples that write are safe to repeat).
"""

from __future__ import annotations

import re

import pytest

from posts_app import handler
from testing.events import load_event
from tests.conftest import EVENTS, ROOT
from tests.support.api import call

SAMPLES = sorted(p.name for p in (EVENTS / "posts").glob("*.json"))
STATUS_SUFFIX = re.compile(r"_(\d{3})\.json$")


@pytest.fixture()
def seeded(db, owner_conn):
    for path in sorted((ROOT / "sql" / "seed").glob("*.sql")):
        owner_conn.run(path.read_text())
    return db


def _expected(name: str) -> int | None:
    m = STATUS_SUFFIX.search(name)
    return int(m.group(1)) if m else None


def _check(name: str) -> None:
    reply = call(handler, load_event(f"posts/{name}"))
    expected = _expected(name)
    if expected is None:
        assert 200 <= reply.status < 300, (name, reply.status, reply.body)
    else:
        assert reply.status == expected, (name, reply.status, reply.body)
    if reply.status >= 400:
        assert set(reply.body["error"]) == {"code", "message", "details"}, name


def test_there_is_a_sample_per_route_and_both_sides_of_auth():
    routes = {load_event(f"posts/{n}")["routeKey"] for n in SAMPLES}
    assert routes == {
        "POST /posts",
        "GET /posts",
        "GET /posts/popular",
        "GET /posts/by-slug/{slug}",
        "GET /posts/{post_id}",
        "GET /me/posts/{post_id}",
        "GET /admin/posts/{post_id}",
        "PATCH /posts/{post_id}",
        "DELETE /posts/{post_id}",
        "POST /posts/{post_id}/views",
        "PUT /posts/{post_id}/like",
        "DELETE /posts/{post_id}/like",
        "POST /posts/{post_id}/transfer",
    }
    public = {
        "GET /posts",
        "GET /posts/popular",
        "GET /posts/by-slug/{slug}",
        "GET /posts/{post_id}",
        "POST /posts/{post_id}/views",
    }
    for route in routes - public:
        events = [load_event(f"posts/{n}") for n in SAMPLES if load_event(f"posts/{n}")["routeKey"] == route]
        assert any("authorizer" in e["requestContext"] for e in events), route
        if route != "DELETE /posts/{post_id}/like":
            assert any("authorizer" not in e["requestContext"] for e in events), route


def test_every_sample_answers_its_status_twice(seeded):
    for _ in range(2):
        for name in SAMPLES:
            _check(name)


def test_samples_do_not_depend_on_their_order(seeded):
    for name in reversed(SAMPLES):
        _check(name)
