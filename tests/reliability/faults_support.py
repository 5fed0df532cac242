"""Simulated Lambda containers, faults and audits for the fault, load and soak tests.

A simulated container is a devstack worker process (devstack.worker): it imports
one function's handler like Lambda does, keeps the layer's connection at module
scope across invocations, and serves one invocation at a time. Its environment
is the function's in template.yaml, pointed at the test database and moto's
secrets (the reliability conftest's `function_environment`). Many containers of
the same function run side by side, as Lambda scales out: each has its own
process, its own Powertools state, its own secret cache and its own connection.

The test process only drives them: one client thread per container sends
events from events/ (adapted with testing.events.prepare) and records
every answer. Faults are injected from outside: pg_terminate_backend on the
containers' sessions, a relay that cuts connections, a stopped server, a
rotated password.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from devstack import provision
from devstack.template import Template
from devstack.template import load as load_template
from devstack.workers import Worker, WorkerPool
from testing.events import as_viewer, claims, load_event, prepare
from tests.conftest import ROOT
from tests.reliability.conftest import LOGS, TALLY, function_environment

POSTS, COMMENTS, USERS = "PostsFunction", "CommentsFunction", "UsersFunction"


# -- containers ---------------------------------------------------------------------------
@dataclass
class Answer:
    """One invocation as a client of API Gateway would see it."""

    status: int  # 502 when the function crashed or timed out (API Gateway's answer)
    body: Any
    headers: dict[str, str]
    seconds: float
    crashed: bool = False
    started: float = 0.0  # time.monotonic() when it was sent

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


class Container:
    """One warm Lambda container of one function (a worker process)."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.invocations = 0

    @property
    def name(self) -> str:
        return self.worker.fn.name

    @property
    def pid(self) -> int:
        assert self.worker.pid is not None
        return self.worker.pid

    def call(self, event: dict[str, Any]) -> Answer:
        at = time.monotonic()
        started = time.perf_counter()
        outcome = self.worker.invoke(event)
        seconds = time.perf_counter() - started
        self.invocations += 1
        if not outcome.ok or not isinstance(outcome.result, dict):
            return Answer(502, outcome.error, {}, seconds, crashed=outcome.crashed, started=at)
        result = outcome.result
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        body: Any = result.get("body")
        if body and headers.get("content-type", "").startswith("application/json"):
            body = json.loads(body)
        return Answer(int(result["statusCode"]), body, headers, seconds, started=at)

    def rss_kb(self) -> int:
        """Resident memory of the container's process, from /proc."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    @property
    def alive(self) -> bool:
        return self.worker.alive


class Fleet:
    """Containers of the given functions, started in parallel (their cold starts overlap)."""

    def __init__(
        self,
        database: provision.Database,
        moto_url: str,
        functions: list[str],
        *,
        overrides: dict[str, str] | None = None,
        sink: Any = LOGS,
    ):
        # The sessions of this fleet are the ones whose application_name starts with `tag`.
        self.tag = "fleet-" + uuid.uuid4().hex[:8]
        self.template: Template = load_template(ROOT / "template.yaml")
        pool = WorkerPool(self.template, lambda t, fn: {}, sink=sink, reload=False)
        self.containers: list[Container] = []
        for name in functions:
            fn = self.template.function(name)
            env = function_environment(database, moto_url, self.template, fn)
            env["POWERTOOLS_SERVICE_NAME"] = f"{self.tag}-{fn.code_uri.name}"
            env.update(overrides or {})
            worker = Worker(fn, env, pool._layer_paths(fn), sink, threading.Lock(), prefix=False)
            worker.start()
            self.containers.append(Container(worker))
        not_ready = [c.name for c in self.containers if not c.worker.wait_ready()]
        if not_ready:
            self.stop()
            raise RuntimeError(f"containers failed to start: {not_ready}\n{LOGS.tail()}")

    def of(self, name: str) -> list[Container]:
        return [c for c in self.containers if c.name == name]

    def pids(self) -> list[int]:
        return [c.pid for c in self.containers]

    def stop(self) -> None:
        with ThreadPoolExecutor(max_workers=max(len(self.containers), 1)) as pool:
            list(pool.map(lambda c: c.worker.stop(), self.containers))


@contextmanager
def fleet(database: provision.Database, aws: dict[str, Any], functions: list[str], **kwargs: Any) -> Iterator[Fleet]:
    started = Fleet(database, aws["AWS_ENDPOINT_URL_SECRETS_MANAGER"], functions, **kwargs)
    TALLY["simulated containers started"] += len(functions)
    try:
        yield started
    finally:
        started.stop()


# -- events -------------------------------------------------------------------------------
_SAMPLES: dict[str, dict[str, Any]] = {}


def sample(path: str) -> dict[str, Any]:
    if path not in _SAMPLES:
        _SAMPLES[path] = load_event(path)
    return _SAMPLES[path]


def as_user(path: str, sub: str | None, **parts: Any) -> dict[str, Any]:
    """A sample event with the given parts, sent by `sub` (None: anonymous)."""
    return prepare(sample(path), claims=claims(sub) if sub else None, **parts)


def create_post_event(sub: str, post_id: str, title: str) -> dict[str, Any]:
    body = {"post_id": post_id, "title": title, "content": f"Body of {title}", "status": "published"}
    return as_user("posts/create.json", sub, body=body)


def create_comment_event(sub: str, post_id: str, comment_id: str, content: str) -> dict[str, Any]:
    return as_user(
        "comments/create_with_id.json",
        sub,
        path_params={"post_id": post_id},
        body={"content": content, "comment_id": comment_id},
    )


def like_event(sub: str, post_id: str) -> dict[str, Any]:
    return as_user("posts/like.json", sub, path_params={"post_id": post_id})


def view_event(post_id: str) -> dict[str, Any]:
    # Each view from another reader: one reader's repeats count once per window.
    return as_viewer(prepare(sample("posts/views.json"), path_params={"post_id": post_id}))


def get_post_event(sub: str, post_id: str) -> dict[str, Any]:
    return as_user("posts/get.json", sub, path_params={"post_id": post_id})


def list_posts_event() -> dict[str, Any]:
    return prepare(sample("posts/list.json"), query={"limit": "10"})


def list_comments_event(post_id: str) -> dict[str, Any]:
    return prepare(sample("comments/list.json"), path_params={"post_id": post_id}, query={"limit": "20"})


def get_user_event(sub: str, user_id: str) -> dict[str, Any]:
    return as_user("users/get.json", sub, path_params={"user_id": user_id})


# -- a workload with an audit trail ---------------------------------------------------------
@dataclass
class Ledger:
    """Everything the clients sent and were told, for the end-of-run audit."""

    statuses: Counter[int] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    kind_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    timeline: list[tuple[float, float, str, int]] | None = None  # (started, seconds, kind, status) when kept
    failures: list[tuple[str, int, Any]] = field(default_factory=list)
    posts: set[str] = field(default_factory=set)  # acknowledged post ids
    comments: dict[str, str] = field(default_factory=dict)  # acknowledged comment id -> post id
    likes: set[tuple[str, str]] = field(default_factory=set)  # acknowledged (post, user)
    views: Counter[str] = field(default_factory=Counter)  # acknowledged views per post
    unacknowledged_views: Counter[str] = field(default_factory=Counter)  # 503: may or may not count
    retries: int = 0
    slowest: float = 0.0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, answer: Answer) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[answer.status] += 1
            self.by_kind[kind] += 1
            self.kind_status[(kind, answer.status)] += 1
            if self.timeline is not None:
                self.timeline.append((answer.started, answer.seconds, kind, answer.status))
            self.slowest = max(self.slowest, answer.seconds)
            if answer.status >= 500 and len(self.failures) < 50:
                self.failures.append((kind, answer.status, answer.body))

    def count(self, predicate: Callable[[int], bool]) -> int:
        return sum(n for s, n in self.statuses.items() if predicate(s))


@dataclass
class World:
    """Registered users and published posts the workload acts on."""

    users: list[str]
    posts: list[str]


def make_world(conn: Any, users: int, posts: int) -> World:
    from tests.support.factories import make_post, make_user

    subs = [str(make_user(conn)["user_id"]) for _ in range(users)]
    ids = [str(make_post(conn, subs[i % users])["post_id"]) for i in range(posts)]
    return World(subs, ids)


class Client:
    """One container's client: a mixed workload that retries writes only where it is safe.

    Creates carry client-chosen ids, likes are PUTs: after a 503 the client sends
    the very same request again (at most `write_attempts` times) and counts the
    write as acknowledged only on a 2xx. Views have no id: a 503 view is not
    retried and is recorded as unacknowledged (it may or may not have counted).
    """

    def __init__(
        self,
        container: Container,
        world: World,
        ledger: Ledger,
        seed: int,
        write_attempts: int = 4,
        gate: Gate | None = None,
    ):
        self.c = container
        self.gate = gate
        self.world = world
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.write_attempts = write_attempts
        self.sub = self.rng.choice(world.users)
        self.liked: set[str] = set()

    def _send(self, kind: str, event: dict[str, Any]) -> Answer:
        answer = self.c.call(event)
        self.ledger.record(kind, answer)
        return answer

    def _write(self, kind: str, event: dict[str, Any]) -> Answer:
        for attempt in range(self.write_attempts):
            answer = self._send(kind, event)
            if answer.status != 503:
                return answer
            with self.ledger.lock:
                self.ledger.retries += 1
            time.sleep(0.05 * (attempt + 1))
        return answer

    def step(self) -> None:
        """One request of the mix, chosen by the function the container runs."""
        roll = self.rng.random()
        post = self.rng.choice(self.world.posts)
        if self.c.name == POSTS:
            if roll < 0.45:
                self._send("read", get_post_event(self.sub, post))
            elif roll < 0.6:
                self._send("read", list_posts_event())
            elif roll < 0.75:
                pid = str(uuid.uuid4())
                answer = self._write("create_post", create_post_event(self.sub, pid, f"Load {pid[:8]}"))
                if answer.status in (200, 201):
                    with self.ledger.lock:
                        self.ledger.posts.add(pid)
            elif roll < 0.9:
                user = self.rng.choice(self.world.users)
                answer = self._write("like", like_event(user, post))
                if answer.status == 200:
                    with self.ledger.lock:
                        self.ledger.likes.add((post, user))
            else:
                answer = self._send("view", view_event(post))
                with self.ledger.lock:
                    if answer.status == 200:
                        self.ledger.views[post] += 1
                    elif answer.status == 503:
                        self.ledger.unacknowledged_views[post] += 1
        elif self.c.name == COMMENTS:
            if roll < 0.6:
                self._send("read", list_comments_event(post))
            else:
                cid = str(uuid.uuid4())
                answer = self._write("create_comment", create_comment_event(self.sub, post, cid, f"c {cid[:8]}"))
                if answer.status in (200, 201):
                    with self.ledger.lock:
                        self.ledger.comments[cid] = post
        else:
            self._send("read", get_user_event(self.sub, self.rng.choice(self.world.users)))

    def run_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.gate is not None:
                self.gate.passage()
            self.step()


def warm(containers: list[Container], world: World) -> None:
    def first(c: Container) -> int:
        if c.name == POSTS:
            return c.call(list_posts_event()).status
        if c.name == COMMENTS:
            return c.call(list_comments_event(world.posts[0])).status
        return c.call(get_user_event(world.users[0], world.users[0])).status

    # A few at a time, as Lambda scales out: 32 first requests at once (each imports boto3 and
    # fetches its secret) on two cores would outlast the function's timeout.
    with ThreadPoolExecutor(max_workers=min(len(containers), 4)) as pool:
        statuses = list(pool.map(first, containers))
    assert set(statuses) == {200}, statuses


class Gate:
    """Lets a fault wait until every client is between two requests (no request in flight)."""

    def __init__(self, clients: int):
        self.clients = clients
        self.closed = False
        self.parked = 0
        self.cond = threading.Condition()

    def passage(self) -> None:
        with self.cond:
            if not self.closed:
                return
            self.parked += 1
            self.cond.notify_all()
            self.cond.wait_for(lambda: not self.closed)
            self.parked -= 1

    def close(self, timeout: float = 30.0) -> bool:
        """Stop every client before its next request; True once all of them wait."""
        with self.cond:
            self.closed = True
            return self.cond.wait_for(lambda: self.parked == self.clients, timeout)

    def open(self) -> None:
        with self.cond:
            self.closed = False
            self.cond.notify_all()


def run_load(
    containers: list[Container],
    world: World,
    ledger: Ledger,
    seconds: float,
    during: Callable[[threading.Event], None] | None = None,
    gate: Gate | None = None,
    until_fault_done: bool = False,
    label: str = "faults",
) -> None:
    """Every container's client runs the mix for `seconds` while `during(stop)` injects faults
    (or, with `until_fault_done`, until `during` returns, for at most `seconds`).

    Each container serves one request first: the cold start (imports, first secret fetch,
    first login) is over before the clock starts, as in a warm fleet.
    """
    warm(containers, world)
    stop = threading.Event()
    clients = [Client(c, world, ledger, seed=i, gate=gate) for i, c in enumerate(containers)]
    threads = [threading.Thread(target=cl.run_until, args=(stop,), daemon=True) for cl in clients]
    for t in threads:
        t.start()
    fault = threading.Thread(target=during, args=(stop,), daemon=True) if during else None
    if fault:
        fault.start()
    if fault and until_fault_done:
        fault.join(seconds)
    else:
        time.sleep(seconds)
    stop.set()
    if gate is not None:
        gate.open()
    for t in threads:
        t.join(60)
    if fault:
        fault.join(60)
    TALLY[f"{label}: requests"] += ledger.requests
    TALLY[f"{label}: answered 503"] += ledger.count(lambda s: s == 503)
    TALLY[f"{label}: answered other 5xx"] += ledger.count(lambda s: s >= 500 and s != 503)
    TALLY[f"{label}: acknowledged writes"] += len(ledger.posts) + len(ledger.comments) + len(ledger.likes)


# -- the audit --------------------------------------------------------------------------------
def audit(conn: Any, world: World, ledger: Ledger, label: str = "faults") -> dict[str, Any]:
    """Compare the database with what the clients were told. Returns the findings (empty lists: clean)."""
    known_posts = set(world.posts)
    rows = conn.run("SELECT post_id::text FROM posts")
    stored_posts = Counter(r[0] for r in rows)
    created = {p: n for p, n in stored_posts.items() if p not in known_posts}
    comments = Counter(r[0] for r in conn.run("SELECT comment_id::text FROM comments"))
    findings: dict[str, Any] = {
        "posts missing": sorted(ledger.posts - set(created)),
        "posts never acknowledged": sorted(set(created) - ledger.posts),
        "posts twice": sorted(p for p, n in created.items() if n != 1),
        "comments missing": sorted(set(ledger.comments) - set(comments)),
        "comments never acknowledged": sorted(set(comments) - set(ledger.comments)),
        "comments twice": sorted(c for c, n in comments.items() if n != 1),
    }
    likes = {(r[0], r[1]) for r in conn.run("SELECT post_id::text, user_id::text FROM post_likes")}
    findings["likes missing"] = sorted(ledger.likes - likes)
    findings["like counts off"] = conn.run(
        "SELECT p.post_id::text, p.like_count, count(l.user_id) FROM posts p"
        " LEFT JOIN post_likes l ON l.post_id = p.post_id GROUP BY p.post_id HAVING p.like_count <> count(l.user_id)"
    )
    findings["comment counts off"] = conn.run(
        "SELECT p.post_id::text, p.comment_count, count(c.comment_id) FILTER (WHERE c.status = 'active') FROM posts p"
        " LEFT JOIN comments c ON c.post_id = p.post_id GROUP BY p.post_id"
        " HAVING p.comment_count <> count(c.comment_id) FILTER (WHERE c.status = 'active')"
    )
    views = dict(conn.run("SELECT post_id::text, view_count FROM posts"))
    findings["view counts off"] = sorted(
        (p, views.get(p), n, ledger.unacknowledged_views[p])
        for p, n in ledger.views.items()
        if not n <= views.get(p, 0) <= n + ledger.unacknowledged_views[p]
    )
    TALLY[f"{label}: writes lost, doubled or unacknowledged"] += sum(len(v) for v in findings.values())
    return findings


def clean(findings: dict[str, Any]) -> bool:
    return not any(findings.values())


# -- database faults ------------------------------------------------------------------------
def fleet_sessions(conn: Any, dbname: str, tag: str) -> list[tuple[int, str, str]]:
    """(pid, state, user) of a fleet's client sessions in the database."""
    rows = conn.run(
        "SELECT pid, coalesce(state, ''), coalesce(usename::text, '') FROM pg_stat_activity"
        " WHERE datname = :d AND starts_with(application_name, :t) AND backend_type = 'client backend'",
        d=dbname,
        t=tag,
    )
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def terminate(conn: Any, pids: list[int]) -> int:
    killed = 0
    for pid in pids:
        if conn.run("SELECT pg_terminate_backend(:p)", p=pid)[0][0]:
            killed += 1
    return killed
