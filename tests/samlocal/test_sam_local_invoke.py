"""Sample events through the real `sam local invoke` on the built artifact, against `make invoke`.

For each sample, the same event goes (1) through `make invoke`'s code path (devstack.invoke.
run_event: the handler imported from the source tree in a worker process) and (2) through SAM
CLI's `sam local invoke` on .aws-sam/build (the packaged functions and layer, in the Lambda
python3.13 image of `make sam-local-setup`, arm64 under emulation by default). Each side has a
database of its own in one cluster, both seeded afresh per directory of samples and given the
samples in the same order (tests/e2e/test_sample_events.py's plan), so both see the same data.
They must agree on the HTTP status (or CloudFormation's status, or success), on the shape of
the body (keys and value types, recursively) and on the error code.

Which samples: SAM_LOCAL_EVENTS=routes (default): one per HTTP route (its success sample when it
has one) and one per other kind of event; SAM_LOCAL_EVENTS=functions: one per function;
SAM_LOCAL_EVENTS=all (`make sam-local-all`): every file in events/. SAM_LOCAL_ARCH=arm64 (the
artifact itself, under qemu on an x86_64 machine: minutes per event) or x86_64 (the artifact
with its layer's wheels resolved for x86_64). `make sam-local-test` (CI) runs the routes on
x86_64 and one event per function on arm64.

Skipped, with the reason, when the engine or the artifact is absent; SAM_LOCAL_REQUIRED=1 (set
by the make targets) turns that skip into a failure, so CI cannot pass without running it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
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
from scripts.sam_local import engine, image
from scripts.sam_local.invoke import BUILD, SAM, SamOutcome, sam_invoke
from scripts.sam_local.stack import ContainerView, GatewayCatcher, container_view
from tests.conftest import ROOT
from tests.e2e.test_sample_events import SAMPLES, STATUS
from tests.samlocal.conftest import record
from tests.support.http import LogCapture

ARCH = os.environ.get("SAM_LOCAL_ARCH") or "arm64"
WHICH = os.environ.get("SAM_LOCAL_EVENTS") or "routes"
REQUIRED = os.environ.get("SAM_LOCAL_REQUIRED") == "1"
ENABLED = REQUIRED or os.environ.get("SAM_LOCAL_TESTS") == "1"


def absent() -> str | None:
    """Why the real `sam local invoke` cannot run here, or None."""
    if not ENABLED:
        return "runs through `make sam-local-test` (SAM_LOCAL_TESTS=1): real containers, minutes"
    if shutil.which("podman") is None:
        return "no container engine (podman): `make sam-local-setup` installs it"
    if not SAM.exists():
        return f"no SAM CLI at {SAM}: `make build` installs it"
    if not (BUILD / "template.yaml").exists():
        return "no artifact in .aws-sam/build: run `make build`"
    try:
        engine.require_engine()
    except engine.EngineError as exc:
        return str(exc)
    if not image.is_current(ARCH):
        return f"no current image {image.tag(ARCH)}: run `make sam-local-setup`"
    return None


def kind_of(path: Path) -> str:
    event = json.loads(path.read_text())
    if isinstance(event, dict) and "routeKey" in event:
        return str(event["routeKey"])
    if isinstance(event, dict) and "ResponseURL" in event:
        return f"custom-resource {path.parent.name}"
    return f"event {path.parent.name}/{path.stem}"


def representative(samples: list[Path], by: str = "route") -> list[Path]:
    """One sample per route / kind (or per function): its success sample when there is one."""
    chosen: dict[str, Path] = {}
    for path in samples:
        k = kind_of(path) if by == "route" else path.parent.name
        success = not STATUS.search(path.name) and not path.name.endswith("_fails.json")
        if k not in chosen or (success and (STATUS.search(chosen[k].name) or chosen[k].name.endswith("_fails.json"))):
            chosen[k] = path
    keep = set(chosen.values())
    return [p for p in samples if p in keep]


SELECTED = SAMPLES if WHICH == "all" else representative(SAMPLES, "function" if WHICH == "functions" else "route")
REASON = absent()
if REASON is not None and REQUIRED:
    raise RuntimeError(f"sam local invoke cannot run: {REASON}")
needs_engine = pytest.mark.skipif(REASON is not None, reason=f"sam local invoke: {REASON}")


# -- shapes ----------------------------------------------------------------------------------
def shape(value: Any) -> Any:
    """Keys and value types, recursively; a list is the set of its elements' shapes."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in value:
            s = shape(item)
            if s not in shapes:
                shapes.append(s)
        return sorted(shapes, key=json.dumps)
    if value is None:
        return "null"
    return type(value).__name__


def body_of(result: Any) -> Any:
    if isinstance(result, dict) and isinstance(result.get("body"), str):
        try:
            return json.loads(result["body"])
        except ValueError:
            return {"<text>": result["body"][:80]}
    return result


def error_code(body: Any) -> Any:
    return body.get("error", {}).get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None


def test_shape_tells_types_and_keys_not_values() -> None:
    assert shape({"a": 1, "b": [{"x": "1"}, {"x": "2"}], "c": None}) == shape({"c": None, "a": 7, "b": [{"x": "9"}]})
    assert shape({"a": 1}) != shape({"a": "1"})
    assert shape({"a": 1}) != shape({"a": 1, "b": 2})
    assert shape([{"x": 1}, {"x": None}]) != shape([{"x": 1}])


def test_representative_set_has_every_route() -> None:
    routes = {kind_of(p) for p in SAMPLES}
    assert {kind_of(p) for p in representative(SAMPLES)} == routes
    assert {p.parent.name for p in representative(SAMPLES, "function")} == {p.parent.name for p in SAMPLES}
    assert len(representative(SAMPLES, "function")) == len({p.parent.name for p in SAMPLES})


# -- the two sides ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def local_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="blogsam-"))  # short: the cluster's socket path
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stacks(local_dir: Path) -> Iterator[tuple[LocalStack, LocalStack]]:
    port = free_port()
    quiet = lambda _: None  # noqa: E731
    make = LocalStack(local_dir=local_dir, pg_port=port, db_name="blog_make", reuse_running=False, log=quiet)
    sam = LocalStack(local_dir=local_dir, pg_port=port, db_name="blog_sam", reuse_running=False, log=quiet)
    make.prepare()
    make.start(seed=True)
    try:
        sam.prepare()
        sam.start(seed=True)
        try:
            yield make, sam
        finally:
            sam.stop()
    finally:
        make.stop()


@pytest.fixture(scope="module")
def view(stacks: tuple[LocalStack, LocalStack]) -> Iterator[ContainerView]:
    with container_view(stacks[1]) as view:
        yield view


@pytest.fixture(scope="module")
def env_vars(view: ContainerView, template: Template, local_dir: Path) -> Path:
    return view.write_env_vars(template, local_dir / "env.json")


@pytest.fixture(scope="module")
def pool(template: Template, stacks: tuple[LocalStack, LocalStack]) -> Iterator[WorkerPool]:
    logs = LogCapture()
    pool = WorkerPool(template, lambda t, fn: stacks[0].function_environment(t, fn), sink=logs, reload=False)  # type: ignore[arg-type]
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def catchers(view: ContainerView) -> Iterator[tuple[ResponseCatcher, ResponseCatcher]]:
    with ResponseCatcher() as local, GatewayCatcher(view.address) as gateway:
        yield local, gateway


@pytest.fixture(scope="module")
def seeded_for() -> dict[str, Any]:
    return {"directory": None}


def summary(outcome: Any) -> str:
    if outcome.kind == "http":
        return str(outcome.status)
    if outcome.kind == "custom-resource":
        return str(outcome.cfn_status)
    return "failed" if outcome.failed else "ok"


def sides(make: Any, sam: SamOutcome) -> tuple[Any, Any]:
    """What is compared: the body (HTTP), CloudFormation's Data, or the returned value."""
    if make.kind == "custom-resource":
        return (make.cloudformation or {}).get("Data"), (sam.cloudformation or {}).get("Data")
    if make.kind == "http":
        return body_of(make.invocation.result), body_of(sam.result)
    return make.invocation.result if make.invocation.ok else None, None if sam.failed else sam.result


@needs_engine
@pytest.mark.parametrize("path", SELECTED, ids=[f"{p.parent.name}/{p.name}" for p in SELECTED])
def test_sam_local_invoke_answers_like_make_invoke(
    path: Path,
    template: Template,
    stacks: tuple[LocalStack, LocalStack],
    pool: WorkerPool,
    env_vars: Path,
    catchers: tuple[ResponseCatcher, ResponseCatcher],
    seeded_for: dict[str, Any],
) -> None:
    # Given both databases freshly seeded for each directory of samples
    if seeded_for["directory"] != path.parent.name:
        for stack in stacks:
            stack.reseed()
        seeded_for["directory"] = path.parent.name
    function = function_for_event(template, path)
    event = json.loads(path.read_text())
    # When the sample runs through make invoke's path and through sam local invoke
    make = run_event(pool, function, event, catchers[0])
    sam = sam_invoke(function, event, env_vars, architecture=ARCH, catcher=catchers[1])
    make_body, sam_body = sides(make, sam)
    same_shape = shape(make_body) == shape(sam_body) and error_code(make_body) == error_code(sam_body)
    row = {
        "event": f"{path.parent.name}/{path.name}",
        "function": function,
        "make": summary(make),
        "sam": summary(sam),
        "shape": "same" if same_shape else "DIFFERENT",
        "seconds": sam.seconds,
    }
    row["same"] = row["make"] == row["sam"] and same_shape
    record(row)
    shown = (
        f"make invoke: {json.dumps(make.printable())[:1500]}\n"
        f"sam local invoke (exit {sam.exit_code}): {json.dumps(sam.printable())[:1500]}\n"
        f"sam log:\n{sam.log[-3000:]}"
    )
    # Then both answer the same status with a body of the same shape
    assert sam.kind == make.kind, shown
    assert row["sam"] == row["make"], shown
    assert shape(sam_body) == shape(make_body), shown
    assert error_code(sam_body) == error_code(make_body), shown


def test_a_users_env_vars_file_merges_like_sam_local_reads_it(capsys):
    """ENV_VARS= for make sam-invoke/sam-start-api: `Parameters` for every function, then the
    function's own key, declared variables only (samcli EnvironmentVariables.resolve)."""
    template = load_template(ROOT / "template.yaml")

    class Values(ContainerView):
        def __init__(self) -> None:  # the local stack's values without starting it
            pass

        def env_vars(self, template):  # type: ignore[no-untyped-def]
            return {fn.name: {"STAGE": "local"} for fn in template.functions.values()}

    with tempfile.TemporaryDirectory() as tmp:
        path = Values().write_env_vars(
            template,
            Path(tmp) / "env.json",
            {
                "Parameters": {"POWERTOOLS_LOG_LEVEL": "DEBUG", "MY_UNDECLARED": "x"},
                "PostsFunction": {"POWERTOOLS_LOG_LEVEL": "WARNING"},
            },
        )
        values = json.loads(path.read_text())
    assert values["PostsFunction"]["POWERTOOLS_LOG_LEVEL"] == "WARNING"
    assert values["UsersFunction"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert values["UsersFunction"]["STAGE"] == "local"
    assert all("MY_UNDECLARED" not in v for v in values.values())
    assert "MY_UNDECLARED" in capsys.readouterr().err
