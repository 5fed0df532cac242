"""`make sam-invoke FN=PostsFunction EVENT=events/posts/get.json` and `make sam-start-api`.

The real `sam local invoke` (and `sam local start-api`) of SAM CLI on `make build`'s artifact
(.aws-sam/build), in the Lambda python3.13 image of `make sam-local-setup`, against the local
stack of `make dev`/`make invoke` (its cluster and moto when `make dev` runs, otherwise started
for the command and stopped after it). The function's environment is `make invoke`'s, given
through an --env-vars file (scripts/sam_local/stack.py says how the container reaches the
stack). Like `make invoke`, the result goes to stdout and the log to stderr; a custom-resource
event prints what CloudFormation would have received.

ARCH=x86_64 runs an x86_64 copy of the artifact (.aws-sam/build-x86_64: the layer's wheels
resolved again for x86_64, the template's Architectures changed); the default is the artifact
itself, arm64, under qemu emulation on an x86_64 machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import envvars
from devstack.invoke import ResponseCatcher, is_custom_resource, is_http, load_event
from devstack.stack import LocalStack, StackError
from devstack.template import REGION, Template
from devstack.template import load as load_template
from scripts.sam_local import engine, image
from scripts.sam_local.stack import ContainerView, GatewayCatcher, container_view

REPO = engine.REPO
SAM = REPO / ".venv-sam" / "bin" / "sam"
BUILD = REPO / ".aws-sam" / "build"


# qemu runs arm64 code several times slower than the machine: a 15 s function times out in its
# cold start. Under emulation SAM CLI reads a copy of the built template (beside it, so every
# CodeUri and ContentUri resolves to the same built files) whose function timeouts are longer
# (a cold start of the API functions under qemu took 85 s to import the handler on a loaded machine).
EMULATION_TIMEOUT_FACTOR = 40


def emulated(architecture: str) -> bool:
    machine = platform.machine().lower()
    native = "arm64" if machine in ("aarch64", "arm64") else "x86_64" if machine in ("x86_64", "amd64") else machine
    return architecture != native


def build_dir(architecture: str) -> Path:
    if architecture == "arm64":
        return BUILD
    return derive(architecture)


def template_for(architecture: str) -> Path:
    """The built template SAM CLI reads (timeouts lengthened when the architecture is emulated)."""
    template = build_dir(architecture) / "template.yaml"
    if not emulated(architecture):
        return template
    text = re.sub(
        r"(?m)^(\s*Timeout: )(\d+)\s*$",
        lambda m: f"{m.group(1)}{int(m.group(2)) * EMULATION_TIMEOUT_FACTOR}",
        template.read_text(),
    )
    copy_path = template.with_name("template.emulated.yaml")
    if not copy_path.exists() or copy_path.read_text() != text:
        copy_path.write_text(text)
    return copy_path


def derive(architecture: str) -> Path:
    """A copy of the arm64 artifact for another architecture (the layer's wheels re-resolved)."""
    source_template = BUILD / "template.yaml"
    if not source_template.exists():
        raise engine.EngineError("no artifact: run `make build` first")
    target = REPO / ".aws-sam" / f"build-{architecture}"
    stamp = target / ".derived-from"
    fingerprint = f"{source_template.stat().st_mtime_ns} {image.key(architecture)}"
    if stamp.exists() and stamp.read_text() == fingerprint:
        return target
    with engine.step(f"artifact for {architecture} (.aws-sam/build-{architecture})"):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(BUILD, target, symlinks=True)
        site = target / "SharedLayer" / "python"
        for child in site.iterdir():
            if child.name != "shared":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--target",
                str(site),
                "--platform",
                image.PIP_PLATFORMS[architecture],
                "--python-version",
                image.PYTHON_VERSION,
                "--implementation",
                "cp",
                "--only-binary=:all:",
                "-r",
                str(REPO / "layers" / "shared" / "requirements.txt"),
                "-c",
                str(REPO / "constraints.txt"),
            ],
            check=True,
        )
        shutil.rmtree(site / "bin", ignore_errors=True)
        text = (target / "template.yaml").read_text()
        text = re.sub(r"(?m)^(\s*)- arm64$", rf"\1- {architecture}", text)
        text = text.replace("BuildArchitecture: arm64", f"BuildArchitecture: {architecture}")
        (target / "template.yaml").write_text(text)
        stamp.write_text(fingerprint)
    return target


def sam_environment() -> dict[str, str]:
    """SAM CLI's own environment: our engine, and credentials that reach nothing real."""
    env = engine.environment()
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            # Under qemu a cold start takes longer than SAM CLI's default wait for the emulator.
            "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": "120",
        }
    )
    return env


@dataclass
class SamOutcome:
    """One `sam local invoke`: what it printed, and what API Gateway / CloudFormation would see."""

    function: str
    kind: str  # "http", "custom-resource" or "event"
    exit_code: int
    result: Any
    log: str
    seconds: float
    cloudformation: dict[str, Any] | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def error(self) -> bool:
        return isinstance(self.result, dict) and "errorType" in self.result and "statusCode" not in self.result

    @property
    def status(self) -> int | None:
        if self.kind != "http":
            return None
        if self.exit_code != 0 or self.error or self.result is None:
            return 500
        if isinstance(self.result, dict) and "statusCode" in self.result:
            try:
                return int(self.result["statusCode"])
            except (TypeError, ValueError):
                return 500
        return 200

    @property
    def cfn_status(self) -> str | None:
        return (self.cloudformation or {}).get("Status") if self.kind == "custom-resource" else None

    @property
    def failed(self) -> bool:
        if self.exit_code != 0 or self.error:
            return True
        return self.kind == "custom-resource" and self.cfn_status != "SUCCESS"

    def printable(self) -> Any:
        if self.kind == "custom-resource" and self.cloudformation is not None:
            return self.cloudformation
        return self.result


def last_json(stdout: str) -> Any:
    """SAM CLI prints the function's response as the last line of stdout."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def sam_invoke(
    function: str,
    event: Any,
    env_vars: Path,
    *,
    architecture: str = "arm64",
    catcher: ResponseCatcher | None = None,
    timeout: float = 900,
) -> SamOutcome:
    """Run `sam local invoke` once (a new container, as SAM CLI always does)."""
    kind = "custom-resource" if is_custom_resource(event) else "http" if is_http(event) else "event"
    key = uuid.uuid4().hex
    if kind == "custom-resource":
        if catcher is None:
            raise ValueError("a custom-resource event needs a catcher for CloudFormation's answer")
        event = copy.deepcopy(event)
        event["ResponseURL"] = catcher.url(key)
    template = template_for(architecture)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="sam-event-", delete=False) as f:
        json.dump(event, f)
    argv = [
        str(SAM),
        "local",
        "invoke",
        function,
        "--template",
        str(template),
        "--event",
        f.name,
        "--env-vars",
        str(env_vars),
        "--skip-pull-image",
        "--region",
        REGION,
    ]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, env=sam_environment(), cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
        )
    finally:
        os.unlink(f.name)
    seconds = time.perf_counter() - started
    outcome = SamOutcome(function, kind, proc.returncode, last_json(proc.stdout), proc.stderr, seconds, argv=argv)
    if kind == "custom-resource" and catcher is not None:
        received = catcher.wait(key, timeout=5.0 if not outcome.failed else 0.5)
        if received is None and proc.returncode == 0 and not outcome.error:
            received = {"Status": "FAILED", "Reason": "the function returned without answering CloudFormation"}
        outcome.cloudformation = received
    return outcome


def start_api(view: ContainerView, template: Template, env_vars: Path, port: int, architecture: str) -> int:
    argv = [
        str(SAM),
        "local",
        "start-api",
        "--template",
        str(template_for(architecture)),
        "--env-vars",
        str(env_vars),
        "--skip-pull-image",
        "--region",
        REGION,
        "--port",
        str(port),
        "--warm-containers",
        "LAZY",
    ]
    engine.log(" ".join(argv))
    return subprocess.run(argv, env=sam_environment(), cwd=REPO, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sam-invoke")
    parser.add_argument("function", nargs="?", help="logical id, e.g. PostsFunction")
    parser.add_argument("event", nargs="?", help="an event file (events/...), or - for stdin")
    parser.add_argument("--arch", default=os.environ.get("ARCH") or "arm64", choices=sorted(image.PIP_PLATFORMS))
    parser.add_argument("--start-api", action="store_true", help="sam local start-api instead of one invoke")
    parser.add_argument("--port", type=int, default=3001, help="start-api's port (default 3001)")
    parser.add_argument("--local-dir", type=Path, default=REPO / ".local")
    parser.add_argument("--env-vars", type=Path, help="a SAM env-vars file merged over the local stack's values")
    args = parser.parse_args(argv)
    try:
        engine.require_engine()
        if not image.is_current(args.arch):
            raise engine.EngineError(f"no current image {image.tag(args.arch)}: run `make sam-local-setup`")
        if not (BUILD / "template.yaml").exists():
            raise engine.EngineError("no artifact: run `make build` first")
        template = load_template(REPO / "template.yaml")
        overrides = envvars.load(args.env_vars) if args.env_vars else None  # refused before anything starts
        event = None
        if not args.start_api:
            if not args.function or not args.event:
                parser.error("FN and EVENT are required, e.g. FN=PostsFunction EVENT=events/posts/get.json")
            fn = template.function(args.function)
            event = load_event(args.event)
        stack = LocalStack(local_dir=args.local_dir)
        stack.prepare()
        stack.start(seed=None)
    except (engine.EngineError, StackError, OSError, ValueError) as exc:
        print(f"make sam-invoke: {exc}", file=sys.stderr)
        return 2
    try:
        with container_view(stack) as view, tempfile.TemporaryDirectory(prefix="sam-env-") as tmp:
            env_vars = view.write_env_vars(template, Path(tmp) / "env.json", overrides)
            if args.start_api:
                return start_api(view, template, env_vars, args.port, args.arch)
            with GatewayCatcher(view.address) as catcher:
                outcome = sam_invoke(fn.name, event, env_vars, architecture=args.arch, catcher=catcher)
    except engine.EngineError as exc:
        print(f"make sam-invoke: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
    sys.stderr.write(outcome.log)
    print(json.dumps(outcome.printable(), ensure_ascii=False), flush=True)
    print(f"(sam local invoke, {args.arch}: {outcome.seconds:.1f} s)", file=sys.stderr)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
