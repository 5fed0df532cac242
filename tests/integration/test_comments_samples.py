"""The sample events in events/comments/ against the development seed.

Naming convention: a file ending in `_<status>.json` answers exactly that
status; any other file answers a 2xx, also when the whole set is replayed.
"""

from __future__ import annotations

import re

import pytest

from testing.events import load_event
from tests.conftest import EVENTS
from tests.integration.test_comments_support import POST1, active_comments, comment_count, load_dev_seed
from tests.support.api import call

# Fixtures shared by the comments tests.

SAMPLES = sorted(p.name for p in (EVENTS / "comments").glob("*.json"))
EXPECTED = re.compile(r"_(\d{3})\.json$")
ROUTES = {
    "GET /posts/{post_id}/comments",
    "GET /admin/posts/{post_id}/comments",
    "POST /posts/{post_id}/comments",
    "PATCH /comments/{comment_id}",
    "DELETE /comments/{comment_id}",
    "POST /comments/{comment_id}/hide",
    "POST /comments/{comment_id}/unhide",
    "PUT /comments/{comment_id}/like",
    "DELETE /comments/{comment_id}/like",
}


def _check(comments_handler, name: str) -> None:
    reply = call(comments_handler, load_event(f"comments/{name}"))
    wanted = EXPECTED.search(name)
    if wanted:
        assert reply.status == int(wanted.group(1)), (name, reply.body)
        assert set(reply.body["error"]) == {"code", "message", "details"}, name
    else:
        assert 200 <= reply.status < 300, (name, reply.status, reply.body)


def test_every_route_has_samples_for_success_and_anonymous():
    routes: dict[str, set[str]] = {}
    for name in SAMPLES:
        routes.setdefault(load_event(f"comments/{name}")["routeKey"], set()).add(name)
    assert set(routes) == ROUTES
    for route, names in routes.items():
        assert any(not EXPECTED.search(n) for n in names), f"{route} has no success sample"
        if not route.startswith("GET /posts/"):  # every other route is protected
            assert any(n.endswith("_anonymous_401.json") for n in names), f"{route} has no anonymous sample"


def test_samples_answer_as_named_against_the_dev_seed(comments_handler, owner_conn):
    # Given the development seed
    load_dev_seed(owner_conn)
    # When every sample runs, twice in a row (replays must keep working)
    for _ in range(2):
        for name in SAMPLES:
            # Then each answers the status its name promises
            _check(comments_handler, name)
    # And the post's counter still counts exactly its active comments
    assert comment_count(owner_conn, POST1) == active_comments(owner_conn, POST1)


@pytest.mark.parametrize("name", list(reversed(SAMPLES)))
def test_each_sample_alone_on_a_fresh_seed(comments_handler, owner_conn, name):
    load_dev_seed(owner_conn)
    _check(comments_handler, name)
