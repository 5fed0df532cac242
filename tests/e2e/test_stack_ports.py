"""The local stack's PostgreSQL port: chosen free, and moved when another process takes it
between the choice and the start (two `make dev` runs starting at once)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from devstack.postgres import free_port
from devstack.stack import LocalStack


def test_a_port_taken_while_the_stack_starts_moves_postgres_to_a_free_one() -> None:
    root = Path(tempfile.mkdtemp(prefix="blogport-"))
    os.chmod(root, 0o755)  # the cluster's OS user (when run as root) must reach root/pg
    notes: list[str] = []
    stack = LocalStack(local_dir=root, pg_port=free_port(), db_name="blog_ports", reuse_running=False, log=notes.append)
    holder = socket.socket()
    try:
        # Given a stack that chose its port
        stack.prepare()
        chosen = stack.cluster.port
        # When another process listens on it before PostgreSQL starts
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", chosen))
        holder.listen()
        stack.start(seed=False)
        # Then PostgreSQL listens on another port, says so, and serves
        assert stack.cluster.port != chosen
        assert any(f"port {chosen} was taken" in n for n in notes), notes
        with socket.create_connection(("127.0.0.1", stack.cluster.port), timeout=5):
            pass
    finally:
        holder.close()
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
