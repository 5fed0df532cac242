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
