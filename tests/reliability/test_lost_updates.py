"""Lost updates: counters and guarded edits from many containers at once.

Every client thread drives its own simulated container (a worker process with
its own connection, faults_support.Container), and all of them are released at
the same instant. The counters must come out exact, and of several edits made
with the same ETag exactly one may win.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

import pytest

from tests.reliability.conftest import TALLY
from tests.reliability.faults_support import (
    COMMENTS,
    POSTS,
    Answer,
    Container,
    as_user,
    create_comment_event,
    fleet,
    get_post_event,
    like_event,
    make_world,
    view_event,
)
from tests.support.factories import make_post

POSTS_CONTAINERS = 8
COMMENTS_CONTAINERS = 4


def together(jobs: list[tuple[Container, Callable[[Container], list[Answer]]]]) -> list[list[Answer]]:
    """Run each job on its container, all released at once; the answers per job."""
    gate = threading.Barrier(len(jobs))

    def run(job: tuple[Container, Callable[[Container], list[Answer]]]) -> list[Answer]:
        container, work = job
        gate.wait(timeout=60)
        return work(container)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(run, jobs))
    TALLY["lost updates: requests"] += sum(len(r) for r in results)
    return results


def row(conn: Any, sql: str, **params: Any) -> list[Any]:
    return conn.run(sql, **params)[0]


@pytest.fixture(scope="module")
def containers(database, aws):
    with fleet(database, aws, [POSTS] * POSTS_CONTAINERS + [COMMENTS] * COMMENTS_CONTAINERS) as f:
        yield f


def test_likes_views_and_comment_counts_from_many_containers_are_exact(db, owner_conn, containers):
    # Given a published post and 48 registered users
    world = make_world(owner_conn, users=48, posts=1)
    post = world.posts[0]
    users = world.users
    with nullcontext(containers) as f:
        posts_c, comments_c = f.of(POSTS), f.of(COMMENTS)
        shares = [users[i::POSTS_CONTAINERS] for i in range(POSTS_CONTAINERS)]
        comment_ids: list[list[str]] = [[] for _ in comments_c]

        def likes_and_views(share: list[str]) -> Callable[[Container], list[Answer]]:
            def work(c: Container) -> list[Answer]:
                out = []
                for user in share:  # like twice (idempotent), unlike once, like again; and 5 views
                    out.append(c.call(like_event(user, post)))
                    out.append(c.call(like_event(user, post)))
                    out.append(c.call(as_user("posts/unlike.json", user, path_params={"post_id": post})))
                    out.append(c.call(like_event(user, post)))
                    out += [c.call(view_event(post)) for _ in range(5)]
                return out

            return work

        def comments(n: int, slot: list[str]) -> Callable[[Container], list[Answer]]:
            def work(c: Container) -> list[Answer]:
                out = []
                for i in range(12):
                    cid = str(uuid.uuid4())
                    slot.append(cid)
                    author = users[(n * 12 + i) % len(users)]
                    event = create_comment_event(author, post, cid, f"comment {n}-{i}")
                    out.append(c.call(event))
                    out.append(c.call(event))  # a retry of the same create: no second comment
                    if i % 3 == 0:  # every third is deleted by its author
                        out.append(c.call(as_user("comments/delete.json", author, path_params={"comment_id": cid})))
                return out

            return work

        # When all containers like, unlike, view and comment at the same moment
        jobs: list[tuple[Container, Callable[[Container], list[Answer]]]] = [
            (c, likes_and_views(s)) for c, s in zip(posts_c, shares, strict=True)
        ]
        jobs += [(c, comments(n, comment_ids[n])) for n, c in enumerate(comments_c)]
        answers = [a for batch in together(jobs) for a in batch]

    # Then nothing failed and every counter equals the rows behind it
    statuses = Counter(a.status for a in answers)
    assert set(statuses) <= {200, 201, 204}, statuses
    likes, views, comment_count = row(owner_conn, "SELECT like_count, view_count, comment_count FROM posts")
    assert likes == len(users) == row(owner_conn, "SELECT count(*) FROM post_likes")[0]
    assert views == 5 * len(users)
    created = [cid for slot in comment_ids for cid in slot]
    deleted = len(comments_c) * 4
    assert row(owner_conn, "SELECT count(*) FROM comments")[0] == len(created) == len(comments_c) * 12
    assert comment_count == len(created) - deleted
    assert comment_count == row(owner_conn, "SELECT count(*) FROM comments WHERE status = 'active'")[0]


def test_edits_with_the_same_etag_from_many_containers_one_wins_the_rest_get_412(db, owner_conn, containers):
    # Given a post and its author, editing it from 8 devices (containers)
    world = make_world(owner_conn, users=1, posts=0)
    author = world.users[0]
    post = str(make_post(owner_conn, author)["post_id"])
    outcomes: Counter[int] = Counter()
    rounds = 6
    with nullcontext(containers) as all_containers:
        f = all_containers.of(POSTS)
        for r in range(rounds):
            # When every device PATCHes with the ETag it just read, all at once
            etag = f[0].call(get_post_event(author, post)).headers["etag"]

            def edit(c: Container, r: int = r, etag: str = etag) -> list[Answer]:
                event = as_user(
                    "posts/patch.json",
                    author,
                    path_params={"post_id": post},
                    body={"title": f"Round {r} from {c.pid}"},
                    headers={"If-Match": etag},
                )
                return [c.call(event)]

            answers = [a for batch in together([(c, edit) for c in f]) for a in batch]
            statuses = Counter(a.status for a in answers)
            outcomes.update(statuses)
            # Then exactly one wins, every other gets 412 with the clean error body
            assert statuses == {200: 1, 412: POSTS_CONTAINERS - 1}, statuses
            winner = next(a for a in answers if a.status == 200)
            assert all(a.error_code == "precondition_failed" for a in answers if a.status == 412)
            title, version = row(owner_conn, "SELECT title, version FROM posts WHERE post_id = :p", p=post)
            assert title == winner.body["title"] and version == r + 2
            assert winner.headers["etag"] == f'"{version}"'
    assert outcomes == {200: rounds, 412: rounds * (POSTS_CONTAINERS - 1)}
