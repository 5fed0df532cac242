"""A Lambda-compatible python3.13 image, built locally from registry packages.

SAM CLI runs a zip function of runtime python3.13 on the image
`public.ecr.aws/lambda/python:<version>-<architecture>` (samcli/local/docker/lambda_image.py:
Runtime.get_image_name_tag adds the architecture because python3.13 has two). On top of it it
builds its own image (FROM that image, ADD aws-lambda-rie from its wheel, the layers under /opt)
and starts the container with /var/rapid/aws-lambda-rie as entry point and the handler as
command. With `--skip-pull-image` the base image is never pulled: an image of that name in the
local store is used as it is. No container registry is reachable here, so that image is made:

* a Debian trixie root filesystem (debootstrap, variant minbase) with python3.13 and
  ca-certificates, for the image's architecture (arm64 through qemu-user-static);
* /var/runtime: the runtime's Python packages (runtime-requirements.txt: awslambdaric, and the
  boto3/botocore the Lambda runtime provides), wheels for that architecture from PyPI;
* /var/runtime/bootstrap, the program aws-lambda-rie starts, as AWS's base images have it:
  it runs awslambdaric on the handler, with Lambda's module search order
  (/var/task, /opt/python/lib/python3.13/site-packages, /opt/python, then the runtime's own);
* the environment Lambda defines for python3.13 (LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR,
  AWS_EXECUTION_ENV, LANG, TZ), and AWS_ENDPOINT_URL: every AWS SDK call goes to the local
  stack's AWS endpoint (moto) at host.containers.internal:<AWS_PORT> instead of AWS.

Why the endpoint is in the image: `sam local invoke --env-vars` only overrides variables the
template declares (samcli/local/lambdafn/env_vars.py, EnvironmentVariables.resolve), and the
template rightly declares no endpoint. The image stands in for AWS's environment, so it is the
place that says where the (local) AWS services are.

Everything the image is made of is hashed into a key (RECIPE, runtime-requirements.txt, the
suite and packages, the bootstrap, the image's configuration, the architecture); an image
carrying the same key is not built again, and the root filesystem tarball is kept in the cache
directory under that key. Change RECIPE when a build step changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from scripts.sam_local import engine

RECIPE = "1"  # the build steps below; change it when they change
SUITE = "trixie"
MIRROR = os.environ.get("SAM_LOCAL_DEBIAN_MIRROR") or "http://deb.debian.org/debian"
PACKAGES = ("python3.13", "ca-certificates")
PYTHON_VERSION = "3.13"
LABEL = "blog.sam-local.key"
REQUIREMENTS = Path(__file__).with_name("runtime-requirements.txt")
# Where the local stack's AWS endpoint (moto) is reached from a container (scripts/sam_local/stack.py).
AWS_PORT = int(os.environ.get("SAM_LOCAL_AWS_PORT") or 44566)
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}

BOOTSTRAP = """\
#!/bin/sh
# The Lambda python3.13 runtime's bootstrap: aws-lambda-rie starts it in /var/task; it serves
# the handler (_HANDLER, or the container's command) through the runtime interface client.
# Module search order as in Lambda: the function, the layers, then the runtime's packages.
export PYTHONPATH="/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime"
exec /usr/bin/python3.13 -m awslambdaric "${_HANDLER:-$1}"
"""


def tag(architecture: str) -> str:
    """The base image name SAM CLI looks for (public.ecr.aws/lambda/python:3.13-arm64)."""
    return f"public.ecr.aws/lambda/python:{PYTHON_VERSION}-{architecture}"


def configuration(architecture: str) -> list[str]:
    """The image's configuration (podman import --change), as Lambda defines it for python3.13."""
    return [
        "ENV LANG=C.UTF-8",
        "ENV TZ=:UTC",
        "ENV LAMBDA_TASK_ROOT=/var/task",
        "ENV LAMBDA_RUNTIME_DIR=/var/runtime",
        f"ENV AWS_EXECUTION_ENV=AWS_Lambda_python{PYTHON_VERSION}",
        f"ENV AWS_ENDPOINT_URL=http://host.containers.internal:{AWS_PORT}",
        "WORKDIR /var/task",
        'ENTRYPOINT ["/var/runtime/bootstrap"]',
    ]


def key(architecture: str) -> str:
    h = hashlib.sha256(REQUIREMENTS.read_bytes())
    inputs = [RECIPE, SUITE, PACKAGES, architecture, PIP_PLATFORMS[architecture], BOOTSTRAP]
    h.update(json.dumps([*inputs, configuration(architecture)]).encode())
    return h.hexdigest()[:16]


def is_current(architecture: str) -> bool:
    return engine.image_label(tag(architecture), LABEL) == key(architecture)


def rootfs_tarball(architecture: str) -> Path:
    return engine.CACHE / "rootfs" / f"python{PYTHON_VERSION}-{architecture}-{key(architecture)}.tar"


def build_rootfs(architecture: str, timings: dict[str, float]) -> Path:
    """The root filesystem as a tarball (cached by key)."""
    tarball = rootfs_tarball(architecture)
    if tarball.exists():
        engine.log(f"rootfs {architecture}: cached ({tarball})")
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    for old in tarball.parent.glob(f"python{PYTHON_VERSION}-{architecture}-*"):
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    root = tarball.with_suffix(".dir")
    with engine.step(f"debootstrap {SUITE} {engine.ARCHES[architecture]} (+{', '.join(PACKAGES)})", timings):
        subprocess.run(
            [
                "debootstrap",
                f"--arch={engine.ARCHES[architecture]}",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(root),
                MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with engine.step(f"runtime packages {architecture} ({REQUIREMENTS.name})", timings):
        runtime = root / "var" / "runtime"
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
                str(runtime),
                "--platform",
                PIP_PLATFORMS[architecture],
                "--python-version",
                PYTHON_VERSION,
                "--implementation",
                "cp",
                "--only-binary=:all:",
                "-r",
                str(REQUIREMENTS),
                "-c",
                str(engine.REPO / "constraints.txt"),
            ],
            check=True,
        )
        shutil.rmtree(runtime / "bin", ignore_errors=True)
        bootstrap = runtime / "bootstrap"
        bootstrap.write_text(BOOTSTRAP)
        bootstrap.chmod(0o755)
        for d in ("var/task", "opt"):
            (root / d).mkdir(parents=True, exist_ok=True)
        for d in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
            target = root / d
            if target.is_dir():
                for child in target.iterdir():
                    shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
    with engine.step(f"rootfs tarball {architecture}", timings):
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for child in sorted(root.iterdir()):
                if child.name in ("proc", "sys", "dev"):
                    tar.add(child, arcname=child.name, recursive=False)
                else:
                    tar.add(child, arcname=child.name)
        partial.rename(tarball)
        shutil.rmtree(root, ignore_errors=True)
    return tarball


def build(architecture: str, timings: dict[str, float]) -> str:
    """Build (or keep) the image for one architecture; returns its tag."""
    name, current = tag(architecture), key(architecture)
    if is_current(architecture):
        engine.log(f"image {name}: up to date (key {current})")
        return name
    tarball = build_rootfs(architecture, timings)
    changes = [f"LABEL {LABEL}={current}", *configuration(architecture)]
    argv = ["podman", "import", "--arch", engine.ARCHES[architecture]]
    for change in changes:
        argv += ["--change", change]
    with engine.step(f"podman import {name}", timings):
        engine.run([*argv, str(tarball), name])
    return name
