"""The local stack end to end: one PostgreSQL cluster directory for the e2e suite.

The tests never use the developer's .local/, port 3000, 5432 or 54329: the
cluster lives under a temporary directory (short, for the socket path) and every
port is a free one. `make dev`'s server runs first (test_local_api.py) and stops
its cluster on exit; the sample-event tests then start the same, already
initialized cluster again with a database of their own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.postgres import Cluster
from devstack.stack import running_port


@pytest.fixture(scope="session")
def e2e_local_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="blogdev-"))
    os.chmod(root, 0o755)  # the cluster's OS user (when run as root) must reach root/pg
    try:
        yield root
    finally:
        cluster = Cluster(root=root / "pg", port=0, bindir=Path())
        if running_port(cluster) is not None:  # a test failed half way: never leave a server behind
            from devstack.postgres import find_bindir

            cluster.bindir = find_bindir()
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


class LogBuffer:
    """A sink for the workers' output that tests can print when they fail."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.lines.extend(text.splitlines())
        return len(text)

    def flush(self) -> None:
        return None

    def tail(self, n: int = 40) -> str:
        with self._lock:
            return "\n".join(self.lines[-n:])
