"""Faults under load: killed sessions, lost replies, a restarted server, a rotated password.

Many simulated containers (worker processes, faults_support) run a mixed
read/write workload while the fault is injected from outside. Clients retry a
503 only where the request is retry-safe (creates with client ids, PUT likes),
as the API documents. At the end the database is audited against what the
clients were told: every acknowledged write exactly once, nothing written that
was never acknowledged, and every counter equal to the rows behind it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from devstack import provision
from devstack.postgres import throwaway_cluster
from shared.migrations import connect_url, set_role_password
from testing.relay import Relay
from tests.conftest import APP_SECRET, MIGRATIONS
from tests.reliability.conftest import TALLY
from tests.reliability.faults_support import (
    COMMENTS,
    POSTS,
    USERS,
    Gate,
    Ledger,
    as_user,
    audit,
    clean,
    create_comment_event,
    create_post_event,
    fleet,
    fleet_sessions,
    get_post_event,
    like_event,
    make_world,
    run_load,
    terminate,
    view_event,
)
from tests.support.auth import password_is_checked
from tests.support.rotation import Rotation

MIX = [POSTS] * 3 + [COMMENTS] * 2 + [USERS]
LOAD_SECONDS = 5.0


@pytest.fixture(scope="module")
def mix_fleet(database, aws):
    """One warm fleet for the tests that need no special wiring (starting one costs seconds)."""
    with fleet(database, aws, MIX) as f:
        yield f


@pytest.fixture()
def admin(pg_server):
    conn = connect_url(pg_server.admin_url)
    yield conn
    conn.close()


def only(statuses: Counter, allowed: set[int]) -> bool:
    return set(statuses) <= allowed


def test_sessions_terminated_mid_load_reads_recover_writes_land_once(db, owner_conn, admin, mix_fleet):
    # Given 7 containers serving a mixed workload over 20 users and 10 posts
    world = make_world(owner_conn, users=20, posts=10)
    ledger = Ledger()
    faults: Counter[str] = Counter()
    with nullcontext(mix_fleet) as f:
        pids = f.pids()

        def killer(stop: threading.Event) -> None:
            # Every 0.4 s every session of the fleet is terminated, idle or in the middle of a statement.
            while not stop.wait(0.4):
                sessions = fleet_sessions(admin, db.name, f.tag)
                faults["busy when terminated"] += sum(1 for _, state, _ in sessions if state == "active")
                faults["sessions terminated"] += terminate(admin, [pid for pid, _, _ in sessions])

        # When the fleet works for 8 s while its sessions keep being killed
        run_load(f.containers, world, ledger, LOAD_SECONDS, during=killer)
        assert f.pids() == pids and all(c.alive for c in f.containers)  # no container was restarted
        reconnects = fleet_sessions(admin, db.name, f.tag)
    TALLY["faults: sessions terminated"] += faults["sessions terminated"]

    # Then reads (nearly) never noticed; writes answered 2xx or 503 (never 500), and the retried ones landed
    reads = Counter({s: n for (k, s), n in ledger.kind_status.items() if k == "read"})
    assert faults["sessions terminated"] >= 5 * len(MIX)
    # A read is retried once on a fresh session; when the killer (every 0.4 s) also ends that
    # one, the read is answered 503, as any fault past the retry is. That takes two kills within
    # one request's few milliseconds: seen once in about 2,000 reads on a loaded machine.
    assert reads and only(reads, {200, 503}), (reads, [x for x in ledger.failures if x[0] == "read"])
    assert reads[503] * 200 <= sum(reads.values()), (reads, [x for x in ledger.failures if x[0] == "read"])
    assert only(ledger.statuses, {200, 201, 503}), (ledger.statuses, ledger.failures[:5])
    assert len(reconnects) <= len(MIX)  # one session per container, never more
    # And the audit: every acknowledged write exactly once, nothing unacknowledged, counters exact
    findings = audit(owner_conn, world, ledger)
    assert clean(findings), findings
    assert ledger.posts and ledger.comments and ledger.likes


def test_a_reply_lost_after_the_commit_never_applies_a_write_twice(db, aws, owner_conn):
    """The server committed, the answer never arrived: only retry-safe writes may be resent."""
    world = make_world(owner_conn, users=2, posts=1)
    author, fan = world.users
    post = world.posts[0]
    relay = Relay(db.host, db.port)
    lost: Counter[str] = Counter()
    try:
        with fleet(db, aws, [POSTS, COMMENTS], overrides={"DB_PORT": str(relay.port)}) as f:
            posts_c, comments_c = f.containers
            posts_c.call(as_user("posts/get.json", author, path_params={"post_id": post}))  # warm: connected
            comments_c.call(as_user("comments/list.json", None, path_params={"post_id": post}))

            def lose(container, marker: bytes, event: dict[str, Any]):
                relay.lose_reply_to(marker)
                answer = container.call(event)
                lost[marker.decode()] += 1
                assert relay.lost == sum(lost.values()), "the fault did not fire"
                return answer

            # A view: not retry-safe (no id). It is answered 503, and counted at most once.
            view = lose(posts_c, b"view_count + 1", view_event(post))
            assert view.status == 503, (view.status, view.body)
            assert owner_conn.run("SELECT view_count FROM posts WHERE post_id = :p", p=post) == [[1]]

            # A create with a client id: the layer may resend it; one post, acknowledged.
            pid = str(uuid.uuid4())
            created = lose(posts_c, b"INSERT INTO posts", create_post_event(author, pid, "Lost reply"))
            assert created.status in (200, 201, 503)
            if created.status == 503:  # the client retries the same request
                created = posts_c.call(create_post_event(author, pid, "Lost reply"))
            assert created.status in (200, 201) and created.body["post_id"] == pid
            assert owner_conn.run("SELECT count(*) FROM posts WHERE post_id = :p", p=pid) == [[1]]

            # A like (PUT): idempotent; counted once.
            liked = lose(posts_c, b"INSERT INTO post_likes", like_event(fan, post))
            if liked.status == 503:
                liked = posts_c.call(like_event(fan, post))
            assert liked.status == 200 and liked.body["like_count"] == 1

            # A comment with a client id: 503, then the client's retry finds it (200), one comment.
            cid = str(uuid.uuid4())
            event = create_comment_event(fan, post, cid, "said once")
            first = lose(comments_c, b"INSERT INTO comments", event)
            assert first.status in (201, 503)
            retry = comments_c.call(event)
            assert retry.status == 200 and retry.body["comment_id"] == cid
            assert owner_conn.run("SELECT count(*) FROM comments WHERE comment_id = :c", c=cid) == [[1]]

            # An edit guarded by If-Match: the retry is refused (412), the edit applied once.
            etag = posts_c.call(as_user("posts/get.json", author, path_params={"post_id": post})).headers["etag"]
            patch = as_user(
                "posts/patch.json",
                author,
                path_params={"post_id": post},
                body={"title": "Edited once"},
                headers={"If-Match": etag},
            )
            edited = lose(posts_c, b"UPDATE posts", patch)
            assert edited.status == 503
            assert posts_c.call(patch).status == 412
    finally:
        relay.close()
    state = owner_conn.run(
        "SELECT view_count, like_count, comment_count, version, title FROM posts WHERE post_id = :p", p=post
    )
    assert state == [[1, 1, 1, 2, "Edited once"]]
    TALLY["faults: replies lost after commit"] += sum(lost.values())
    TALLY["faults: requests"] += sum(c.invocations for c in f.containers)


def test_a_comment_retried_with_its_idempotency_key_after_a_lost_reply_is_made_once(db, aws, owner_conn):
    """Without a client-chosen comment_id, the Idempotency-Key header makes the create retry-safe."""
    world = make_world(owner_conn, users=1, posts=1)
    sub, post = world.users[0], world.posts[0]
    relay = Relay(db.host, db.port)
    event = as_user(
        "comments/create.json",
        sub,
        path_params={"post_id": post},
        body={"content": "Sent once, retried once"},
        headers={"Idempotency-Key": "comment-" + str(uuid.uuid4())},
    )
    try:
        with fleet(db, aws, [COMMENTS], overrides={"DB_PORT": str(relay.port)}) as f:
            container = f.containers[0]
            assert container.call(as_user("comments/list.json", None, path_params={"post_id": post})).status == 200
            relay.lose_reply_to(b"INSERT INTO comments")
            first = container.call(event)  # committed, but the answer is lost: 503
            retry = container.call(event)  # the client sends the very same request again
            again = container.call(event)
            too_long = dict(event, headers={**event["headers"], "idempotency-key": "k" * 201})
            refused = container.call(too_long)
    finally:
        relay.close()
    TALLY["faults: replies lost after commit"] += relay.lost
    TALLY["faults: requests"] += container.invocations
    assert relay.lost == 1 and first.status == 503
    assert (retry.status, again.status) == (200, 200), (retry.body, again.body)
    assert retry.body["comment_id"] == again.body["comment_id"]
    assert refused.status == 422 and refused.error_code == "validation_error"
    assert owner_conn.run("SELECT count(*) FROM comments") == [[1]]
    assert owner_conn.run("SELECT comment_count FROM posts WHERE post_id = :p", p=post) == [[1]]


def test_a_connection_broken_while_logging_in_is_opened_again(db, aws, owner_conn, admin):
    """A new session killed while it logs in (terminated by an operator or a failover, dropped by
    a proxy): nothing was sent yet, so reads and writes alike may open another connection."""
    if not password_is_checked(db):
        # Under trust auth the server answers the startup message at once: the client is logged in
        # before the path dies, and the break lands on its first statement instead (another fault).
        pytest.skip("the server behind DATABASE_URL does not check passwords (trust auth)")
    world = make_world(owner_conn, users=1, posts=1)
    sub, post = world.users[0], world.posts[0]
    relay = Relay(db.host, db.port)
    answers = []
    try:
        with fleet(db, aws, [POSTS], overrides={"DB_PORT": str(relay.port)}) as f:
            container = f.containers[0]
            assert container.call(get_post_event(sub, post)).status == 200
            pid = str(uuid.uuid4())
            for event in (get_post_event(sub, post), create_post_event(sub, pid, "Once"), view_event(post)):
                # The container's session is gone, and its next login breaks half-way
                terminate(admin, [p for p, _, _ in fleet_sessions(admin, db.name, f.tag)])
                time.sleep(0.1)
                relay.break_next_logins(1)
                answers.append(container.call(event))
    finally:
        relay.close()
    TALLY["faults: logins broken"] += relay.broken_logins
    TALLY["faults: requests"] += container.invocations
    assert relay.broken_logins == 3
    assert [a.status for a in answers] == [200, 201, 200], [a.body for a in answers]
    assert owner_conn.run("SELECT view_count FROM posts WHERE post_id = :p", p=post) == [[1]]
    assert owner_conn.run("SELECT count(*) FROM posts WHERE post_id = :p", p=pid) == [[1]]


@pytest.fixture()
def own_cluster(pg_server, role_passwords):
    """A cluster of this test's own, to stop and start without disturbing the session's."""
    if pg_server.cluster is None:
        pytest.skip("restarting PostgreSQL needs the harness's own cluster (DATABASE_URL is set)")
    root = Path(tempfile.mkdtemp(prefix="blogpg-restart-"))
    root.chmod(0o755)
    cluster = throwaway_cluster(root / "cluster")
    try:
        name = f"blog_restart_{secrets.token_hex(3)}"
        database = provision.create(cluster.superuser_url, name, role_passwords, MIGRATIONS)
        database.passwords = role_passwords
        yield cluster, database
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_restarted_under_load_fails_fast_then_recovers_without_new_containers(own_cluster, aws):
    cluster, database = own_cluster
    owner = database.connect(provision.OWNER)
    world = make_world(owner, users=20, posts=10)
    owner.close()
    ledger = Ledger(timeline=[])
    marks: dict[str, float] = {}
    with fleet(database, aws, MIX) as f:
        pids = f.pids()

        def restart(stop: threading.Event) -> None:
            time.sleep(1.0)
            marks["down"] = time.monotonic()
            cluster.stop("fast")
            marks["stopped"] = time.monotonic()
            time.sleep(2.0)
            marks["starting"] = time.monotonic()
            cluster.start()
            marks["up"] = time.monotonic()
            time.sleep(2.5)  # and the load goes on

        # When PostgreSQL is stopped for 2 s in the middle of the load, then started again
        run_load(f.containers, world, ledger, 60.0, during=restart, until_fault_done=True)
        same_containers = f.pids() == pids and all(c.alive for c in f.containers)
    TALLY["faults: postgresql restarts"] += 1
    assert same_containers, "a container was restarted"
    assert "up" in marks, "the cluster did not come back"
    timeline = ledger.timeline or []
    down = [(t, s, k, st) for t, s, k, st in timeline if marks["stopped"] <= t and t + s <= marks["starting"]]
    after = [(t, s, k, st) for t, s, k, st in timeline if t >= marks["up"] + 1.0]
    # Then while it was down every request failed fast with a clean 503 (Lambda's timeout is 15 s)
    assert down, "no request was made while the server was down"
    assert {st for *_, st in down} == {503}, ([d for d in down if d[3] != 503][:5], marks)
    assert max(s for _, s, *_ in down) < 1.0
    assert ledger.slowest < 6.0
    # And only 2xx or 503 at any time; a second after the start, everything succeeds again
    assert only(ledger.statuses, {200, 201, 503}), (ledger.statuses, ledger.failures[:5])
    assert after and {st for *_, st in after} <= {200, 201}
    # And every acknowledged write survived the restart exactly once
    owner = database.connect(provision.OWNER)
    try:
        findings = audit(owner, world, ledger)
    finally:
        owner.close()
    assert clean(findings), findings
    TALLY["faults: requests while the server was down (all 503)"] += len(down)


def cluster_processes(cluster) -> list[int]:
    """The postmaster of a cluster and every process it started."""
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def test_a_frozen_server_is_answered_503_within_the_client_timeout_not_twice_that(own_cluster, aws):
    """A server that stops answering without closing anything (a frozen host, a black-holed path):
    a read is not resent after a timeout, because a silent server stays silent."""
    cluster, database = own_cluster
    owner = database.connect(provision.OWNER)
    world = make_world(owner, users=1, posts=1)
    owner.close()
    sub, post = world.users[0], world.posts[0]
    timeout = 1.0
    env = {"DB_QUERY_TIMEOUT": str(timeout), "DB_CONNECT_TIMEOUT": str(timeout)}
    frozen: list[int] = []
    with fleet(database, aws, [POSTS, POSTS], overrides=env) as f:
        assert {c.call(get_post_event(sub, post)).status for c in f.containers} == {200}
        try:
            frozen = cluster_processes(cluster)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            answers = [c.call(e) for c in f.containers for e in (get_post_event(sub, post), view_event(post))]
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        time.sleep(0.2)
        after = [c.call(get_post_event(sub, post)).status for c in f.containers]
    TALLY["faults: server frozen"] += 1
    TALLY["faults: requests"] += len(answers) + len(after) + 2
    assert [a.status for a in answers] == [503] * 4, [a.body for a in answers]
    assert max(a.seconds for a in answers) < timeout + 0.6, [round(a.seconds, 2) for a in answers]
    assert after == [200, 200]


def failed_logins(log: Path, user: str) -> int:
    text = log.read_text(errors="replace") if log.exists() else ""
    return text.count(f'password authentication failed for user "{user}"')


def test_password_rotated_under_load_costs_each_container_one_retry_and_no_request(
    db, aws, owner_conn, admin, pg_server, mix_fleet
):
    if pg_server.cluster is None:
        pytest.skip("counting failed logins needs the harness's own cluster's log")
    world = make_world(owner_conn, users=20, posts=10)
    ledger = Ledger()
    faults: Counter[str] = Counter()
    client = aws["client"]
    log = pg_server.cluster.logfile
    with nullcontext(mix_fleet) as f:
        failed_before = failed_logins(log, provision.APP)

        gate = Gate(len(f.containers))

        def rotate(stop: threading.Event) -> None:
            time.sleep(1.5)
            # Rotation: the new password becomes current in Secrets Manager and in the database
            new_password = secrets.token_urlsafe(18)
            db.passwords[provision.APP] = new_password
            client.put_secret_value(SecretId=APP_SECRET, SecretString=db.secret(provision.APP))
            set_role_password(owner_conn, provision.APP, new_password)
            faults["rotations"] += 1
            time.sleep(0.5)  # sessions outlive a password change: the load goes on meanwhile
            # Then the sessions drop between two requests (as a proxy's idle timeout or a failover
            # drops them), and every container must log in again with the secret it has cached
            if gate.close():
                sessions = fleet_sessions(admin, db.name, f.tag)
                faults["sessions terminated"] += terminate(admin, [pid for pid, _, _ in sessions])
                time.sleep(0.2)
            gate.open()

        run_load(f.containers, world, ledger, LOAD_SECONDS, during=rotate, gate=gate)
        time.sleep(0.5)
        failed = failed_logins(log, provision.APP) - failed_before
    TALLY["faults: password rotations"] += faults["rotations"]
    TALLY["faults: failed logins after the rotation"] += failed
    TALLY["faults: sessions terminated"] += faults["sessions terminated"]
    # Then no request failed at all (reads and retry-safe writes alike)
    assert faults["rotations"] == 1 and faults["sessions terminated"] >= len(MIX)
    assert only(ledger.statuses, {200, 201}), (ledger.statuses, ledger.failures[:5])
    # And each container paid at most one failed login: the stale password once, then the fresh secret
    assert 1 <= failed <= len(MIX)
    findings = audit(owner_conn, world, ledger)
    assert clean(findings), findings


def test_rotation_step_by_step_under_load_fails_no_request(db, aws, owner_conn, admin, pg_server, mix_fleet):
    """Single-user rotation as Secrets Manager runs it: createSecret (AWSPENDING), setSecret
    (ALTER ROLE ... PASSWORD: the database has the new password, AWSCURRENT the old one),
    then bursts of new logins from every container inside that gap, then finishSecret."""
    if not password_is_checked(db):
        pytest.skip("the server behind DATABASE_URL does not check passwords (trust auth)")
    world = make_world(owner_conn, users=20, posts=10)
    ledger = Ledger()
    faults: Counter[str] = Counter()
    rotation = Rotation(aws["client"], APP_SECRET, provision.APP, db.passwords)
    log = pg_server.cluster.logfile if pg_server.cluster is not None else None
    with nullcontext(mix_fleet) as f:
        failed_before = failed_logins(log, provision.APP) if log else 0
        gate = Gate(len(f.containers))

        def burst() -> None:
            # Every session drops between two requests, so every container's next request
            # logs in again, all of them at once, with the AWSCURRENT it has cached.
            if gate.close():
                sessions = fleet_sessions(admin, db.name, f.tag)
                faults["sessions terminated"] += terminate(admin, [pid for pid, _, _ in sessions])
                faults["bursts"] += 1
                time.sleep(0.2)  # the terminations land before the next request (as a proxy's idle drop)
            gate.open()

        def rotate(stop: threading.Event) -> None:
            time.sleep(1.0)
            rotation.create_secret()
            rotation.set_secret(owner_conn)
            try:
                burst()
                time.sleep(1.0)  # the load goes on inside the gap
                burst()
                time.sleep(1.0)
            finally:
                rotation.finish_secret()
                faults["rotations"] += 1
            time.sleep(0.5)
            burst()  # after finishSecret: logins with the new AWSCURRENT

        run_load(f.containers, world, ledger, LOAD_SECONDS + 1.5, during=rotate, gate=gate)
        failed = failed_logins(log, provision.APP) - failed_before if log else -1
    TALLY["faults: step-by-step rotations"] += faults["rotations"]
    TALLY["faults: step-by-step rotation requests"] += ledger.requests
    TALLY["faults: step-by-step rotation failed requests"] += ledger.count(lambda s: s >= 500)
    TALLY["faults: failed logins around the rotation gap"] += failed
    assert faults["rotations"] == 1 and faults["bursts"] == 3
    assert faults["sessions terminated"] >= 2 * len(MIX)
    # Then no request failed, inside the gap or after it
    assert ledger.requests > 0 and only(ledger.statuses, {200, 201}), (ledger.statuses, ledger.failures[:5])
    assert rotation.current_password() == db.passwords[provision.APP]
    if log:
        # And each container's logins in the gap paid two failed attempts (cached and fresh
        # AWSCURRENT) before AWSPENDING; after finishSecret at most one more (the cache)
        assert 1 <= failed <= 5 * len(MIX), failed
    findings = audit(owner_conn, world, ledger)
    assert clean(findings), findings
