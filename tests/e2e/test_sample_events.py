"""Every file in events/ through `make invoke`'s code path (devstack.invoke.run_event).

Each function runs in its own worker process, as under `make invoke`/`make dev`,
against a database migrated and seeded like the local stack's (sql/seed/*.sql,
generated content included). The file name says how it must end:

  *_<3-digit status>.json   an HTTP event answered with exactly that status
  *_fails.json              a custom resource that answers CloudFormation FAILED
  anything else             2xx, SUCCESS, or (schedule, Cognito trigger) no error

Order. Samples that write change what later ones see (delete.json deactivates
the user that get.json reads), so the events run per directory, each directory
on a freshly seeded database, in three phases: reads first (GET, and every
sample whose name promises an error: those change nothing), then the other
writes, then deletions (DELETE, and custom-resource Delete) last.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.invoke import ResponseCatcher, function_for_event, run_event
from devstack.postgres import free_port
from devstack.stack import LocalStack
from devstack.template import Template
from devstack.template import load as load_template
from devstack.workers import WorkerPool
from tests.conftest import EVENTS, ROOT
from tests.support.http import LogCapture

STATUS = re.compile(r"_(\d{3})\.json$")


def phase(path: Path) -> int:
    event = json.loads(path.read_text())
    method = (event.get("requestContext") or {}).get("http", {}).get("method") if isinstance(event, dict) else None
    wanted = STATUS.search(path.name)
    if method == "GET" or (wanted and int(wanted.group(1)) >= 400):
        return 0
    if method == "DELETE" or (isinstance(event, dict) and event.get("RequestType") == "Delete"):
        return 2
    return 1


def planned() -> list[Path]:
    """All samples: directory by directory, reads, then writes, then deletions."""
    order: list[Path] = []
    for directory in sorted(p for p in EVENTS.iterdir() if p.is_dir()):
        order += sorted(directory.glob("*.json"), key=lambda p: (phase(p), p.name))
    return order


SAMPLES = planned()


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def stack(e2e_local_dir: Path) -> Iterator[LocalStack]:
    stack = LocalStack(
        local_dir=e2e_local_dir, pg_port=free_port(), db_name="blog_events", reuse_running=False, log=lambda _: None
    )
    stack.prepare()
    stack.start(seed=True)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def logs() -> LogCapture:
    return LogCapture()


@pytest.fixture(scope="module")
def pool(template: Template, stack: LocalStack, logs: LogCapture) -> Iterator[WorkerPool]:
    pool = WorkerPool(template, lambda t, fn: stack.function_environment(t, fn), sink=logs, reload=False)  # type: ignore[arg-type]
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def catcher() -> Iterator[ResponseCatcher]:
    with ResponseCatcher() as catcher:
        yield catcher


@pytest.fixture(scope="module")
def seeded_for() -> dict[str, Any]:
    return {"directory": None}


def test_every_event_has_a_function(template: Template) -> None:
    for path in SAMPLES:
        assert function_for_event(template, path)


@pytest.mark.parametrize("path", SAMPLES, ids=[f"{p.parent.name}/{p.name}" for p in SAMPLES])
def test_sample_ends_as_its_name_says(
    path: Path,
    template: Template,
    stack: LocalStack,
    pool: WorkerPool,
    catcher: ResponseCatcher,
    logs: LogCapture,
    seeded_for: dict[str, Any],
) -> None:
    # Given a freshly seeded database for each directory of samples
    if seeded_for["directory"] != path.parent.name:
        stack.reseed()
        seeded_for["directory"] = path.parent.name
    # When the sample runs in its function's worker
    outcome = run_event(pool, function_for_event(template, path), json.loads(path.read_text()), catcher)
    shown = f"{path.name}: {json.dumps(outcome.printable())[:1500]}\n{logs.tail()}"
    # Then it ends as its name says
    wanted = STATUS.search(path.name)
    if wanted:
        assert outcome.kind == "http", shown
        assert outcome.status == int(wanted.group(1)), shown
    elif path.name.endswith("_fails.json"):
        assert outcome.kind == "custom-resource" and outcome.invocation.ok, shown
        assert outcome.cfn_status == "FAILED", shown
    elif outcome.kind == "http":
        assert outcome.status is not None and 200 <= outcome.status < 300, shown
    elif outcome.kind == "custom-resource":
        assert outcome.cfn_status == "SUCCESS", shown
    else:
        assert outcome.invocation.ok, shown


def test_a_handler_error_is_reported_like_lambda(pool: WorkerPool) -> None:
    # The migrate handler refuses an event without a ResponseURL by raising.
    outcome = run_event(pool, "MigrateFunction", {"RequestType": "Create"})
    assert outcome.failed and outcome.invocation.error_type == "ValueError"
    assert "ResponseURL" in outcome.printable()["errorMessage"]


def test_a_dead_worker_is_replaced(pool: WorkerPool) -> None:
    event = json.loads((EVENTS / "posts" / "list.json").read_text())
    assert run_event(pool, "PostsFunction", event).status == 200
    old = pool.worker("PostsFunction")
    assert old.pid is not None and old.proc is not None
    os.kill(old.pid, signal.SIGKILL)
    old.proc.wait(10)
    # The next invocation gets a new worker (a new cold start), and succeeds
    assert run_event(pool, "PostsFunction", event).status == 200
    assert pool.worker("PostsFunction").pid != old.pid
