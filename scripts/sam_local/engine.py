"""The container engine behind `sam local`: podman with runc, through its Docker-compatible API.

Everything lives under a directory of its own (CACHE, default ~/.cache/blog-sam-local, or
$SAM_LOCAL_CACHE): podman's containers.conf and storage.conf, the image store, the rootfs
tarballs. The API socket and podman's run state live under RUN (/run/blog-sam-local). Podman is
pointed at them through CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, so the machine's global
container configuration is not edited, and SAM CLI reaches the engine through DOCKER_HOST: a
Docker daemon already running on the machine (/var/run/docker.sock) is never used or touched.

Two things are machine-wide and cannot be kept under our own directory; both are set up only
when missing, so running this again changes nothing:
* the Debian packages (podman, runc, qemu-user-static, debootstrap);
* binfmt_misc (mounted if it is not) with qemu-aarch64 registered, for arm64 containers on an
  x86_64 machine (the registration Debian's qemu-user-static ships in /usr/lib/binfmt.d).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SAM_LOCAL_CACHE") or Path.home() / ".cache" / "blog-sam-local")
RUN = Path(os.environ.get("SAM_LOCAL_RUN") or "/run/blog-sam-local")
SOCKET = RUN / "podman.sock"
PID_FILE = RUN / "podman.pid"
DOCKER_HOST = f"unix://{SOCKET}"

PACKAGES = ("podman", "runc", "qemu-user-static", "debootstrap", "containernetworking-plugins", "iptables")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_AARCH64_RULE = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")

# Lambda's own limits for a function's execution environment (AWS Lambda quotas: "File
# descriptors 1,024", "Execution processes/threads 1,024"). They are also within what this
# kind of machine lets a container set: podman's defaults (and 20000/96365, the shell's hard
# limits) are refused by runc with "setrlimit ...: operation not permitted".
CONTAINERS_CONF = """\
# Written by scripts/sam_local/engine.py: podman for `sam local` (see that file).
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
# crun refuses a cgroup v1/v2 hybrid machine ("cgroups in hybrid mode not supported").
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

STORAGE_CONF = """\
# Written by scripts/sam_local/engine.py: the image store of the `sam local` engine.
[storage]
driver = "overlay"
graphroot = "{graphroot}"
runroot = "{runroot}"
"""

# Docker architecture names (SAM CLI's and the images') by Lambda architecture.
ARCHES = {"arm64": "arm64", "x86_64": "amd64"}


class EngineError(RuntimeError):
    """The engine cannot be used; the message says what to do."""


def log(message: str) -> None:
    print(f"sam-local: {message}", file=sys.stderr, flush=True)


@contextmanager
def step(title: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Print what is done and how long it took (seconds, wall clock)."""
    log(f"{title} ...")
    started = time.perf_counter()
    yield
    took = time.perf_counter() - started
    if timings is not None:
        timings[title] = took
    log(f"{title}: done in {took:.1f} s")


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment podman and SAM CLI run with: our config files and our socket."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "CONTAINERS_CONF": str(CACHE / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(CACHE / "storage.conf"),
            "DOCKER_HOST": DOCKER_HOST,
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    return env


def run(
    argv: Sequence[str], *, check: bool = True, capture: bool = True, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv),
        env=environment(),
        text=True,
        capture_output=capture,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if check and result.returncode != 0:
        raise EngineError(f"{' '.join(argv)} failed ({result.returncode}): {(result.stderr or '')[-2000:]}")
    return result


# -- packages ---------------------------------------------------------------------------
def missing_packages() -> list[str]:
    missing = []
    for name in PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False)
        if "install ok installed" not in r.stdout:
            missing.append(name)
    return missing


def install_packages() -> None:
    missing = missing_packages()
    if not missing:
        log("packages: " + ", ".join(PACKAGES) + " are installed")
        absent = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
        if absent:  # recorded as installed, but not on PATH (removed by hand, or PATH lacks /usr/bin)
            raise EngineError(f"{', '.join(absent)} not found on PATH although the packages are installed")
        return
    if shutil.which("apt-get") is None:
        raise EngineError(f"install {', '.join(missing)} (Debian packages; no apt-get here)")
    if os.geteuid() != 0:
        raise EngineError(f"apt-get install {' '.join(missing)} needs root: run it, then this again")
    log(f"apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lists = Path("/var/lib/apt/lists")
    if not any(lists.glob("*_Packages")):
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


# -- configuration ----------------------------------------------------------------------
def write_config() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    files = {
        CACHE / "containers.conf": CONTAINERS_CONF,
        CACHE / "storage.conf": STORAGE_CONF.format(graphroot=CACHE / "storage", runroot=RUN / "storage"),
    }
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            log(f"wrote {path}")


def binfmt_ready() -> bool:
    return (BINFMT / "qemu-aarch64").exists() and "enabled" in (BINFMT / "qemu-aarch64").read_text()


def ensure_binfmt() -> None:
    """arm64 binaries run through qemu-aarch64-static (machine-wide; only set when missing)."""
    if platform.machine() in ("aarch64", "arm64"):
        return
    if binfmt_ready():
        log("binfmt_misc: qemu-aarch64 is registered")
        return
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
        log(f"mounted binfmt_misc on {BINFMT}")
    if not binfmt_ready():
        if not QEMU_AARCH64_RULE.exists():
            raise EngineError(f"{QEMU_AARCH64_RULE} is missing: apt-get install qemu-user-static")
        (BINFMT / "register").write_text(QEMU_AARCH64_RULE.read_text().strip() + "\n")
        log("registered qemu-aarch64 in binfmt_misc (flags F: usable inside containers)")


# -- the API service ----------------------------------------------------------------------
def api_alive(timeout: float = 2.0) -> bool:
    """Does our socket answer the Docker API's /_ping?"""
    if not SOCKET.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(SOCKET))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            return b"OK" in s.recv(4096)
    except OSError:
        return False


def start_service() -> None:
    """`podman system service` on our socket, detached; once (a running one is kept)."""
    if api_alive():
        log(f"podman API: answering on {SOCKET}")
        return
    RUN.mkdir(parents=True, exist_ok=True)
    SOCKET.unlink(missing_ok=True)
    logfile = open(CACHE / "podman-service.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", DOCKER_HOST],
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=logfile,
        stderr=logfile,
        start_new_session=True,
    )
    PID_FILE.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if api_alive(0.5):
            log(f"podman API: started on {SOCKET} (pid {proc.pid}; log {CACHE / 'podman-service.log'})")
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise EngineError(f"podman system service did not answer on {SOCKET}; see {CACHE / 'podman-service.log'}")


def stop_service() -> None:
    if not PID_FILE.exists():
        log(f"podman API: not running ({SOCKET})")
        return
    pid = int(PID_FILE.read_text().strip() or 0)
    if pid > 0:
        try:
            os.kill(pid, 15)
            log(f"podman API: stopped (pid {pid}); every checkout on this machine shares it")
        except ProcessLookupError:
            log(f"podman API: was not running (stale pid {pid})")
    PID_FILE.unlink(missing_ok=True)


# -- what the containers see ----------------------------------------------------------------
def gateway() -> str:
    """The host's address on podman's default bridge: host.containers.internal in a container."""
    r = run(["podman", "network", "inspect", "podman"])
    for network in json.loads(r.stdout):
        for subnet in network.get("subnets") or []:
            if subnet.get("gateway"):
                return str(subnet["gateway"])
    raise EngineError("podman's default network has no gateway")


def bridge_up(address: str) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def ensure_bridge(image: str) -> str:
    """The bridge exists once a container has run on it: run one if it does not yet."""
    address = gateway()
    if not bridge_up(address):
        # The image's entrypoint is the Lambda runtime interface client, which exits when no runtime
        # API is given: run /bin/true itself, which is all the bridge needs.
        run(["podman", "run", "--rm", "--network", "podman", "--entrypoint", "/bin/true", image])
    if not bridge_up(address):
        raise EngineError(f"the container bridge's address {address} is not on this machine")
    return address


def image_label(tag: str, label: str) -> str | None:
    r = run(["podman", "image", "inspect", "--format", "{{json .Labels}}", tag], check=False)
    if r.returncode != 0:
        return None
    labels = json.loads(r.stdout.strip() or "null") or {}
    return labels.get(label)


def require_engine() -> None:
    """Fail with the setup command when the engine or its API is not there."""
    if shutil.which("podman") is None:
        raise EngineError("no container engine: run `make sam-local-setup` first")
    if not api_alive():
        start_service()


def timed(fn: Callable[[], object], timings: dict[str, float], title: str) -> None:
    with step(title, timings):
        fn()
