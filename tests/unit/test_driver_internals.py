"""The private pg8000 names shared/wire.py and shared/db.py rely on are there, in the version
they were written against. A pg8000 upgrade fails here first, with the steps to follow."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from pathlib import Path

import pg8000.core
import pg8000.native

from shared import wire

ROOT = Path(__file__).resolve().parents[2]
UPGRADE = "see the upgrade steps in layers/shared/shared/wire.py's docstring"


def test_installed_pg8000_is_the_version_wire_was_written_against():
    # Given the version wire.py names and the one constraints.txt pins
    pinned = next(
        line.split("==")[1].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.startswith("pg8000==")
    )
    # Then both are the installed one
    installed = version("pg8000")
    assert installed == wire.PG8000_VERSION == pinned, (
        f"pg8000 {installed} is installed, wire.py relies on the internals of {wire.PG8000_VERSION} "
        f"and constraints.txt pins {pinned}: {UPGRADE}"
    )


def test_the_private_names_wire_and_db_use_exist():
    # The module-level helpers wire.py imports from pg8000.core
    for name in ("Context", "InterfaceError", "_flush", "_write"):
        assert hasattr(pg8000.core, name), f"pg8000.core.{name} is gone: {UPGRADE}"
    # The connection internals wire.py and db.py read or call
    connection = pg8000.core.CoreConnection
    for name in ("_client_encoding", "_sock", "_usock", "_context", "py_types", "message_types"):
        assert name in inspect.getsource(connection), f"CoreConnection no longer sets {name}: {UPGRADE}"
    for name in ("execute_simple", "handle_messages", "register_in_adapter"):
        assert callable(getattr(connection, name, None)), f"CoreConnection.{name} is gone: {UPGRADE}"
    assert issubclass(wire.PipelinedConnection, pg8000.native.Connection)
