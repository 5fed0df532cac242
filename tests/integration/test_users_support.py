"""Fixtures and helpers shared by the users tests (tests/integration/test_users_*.py).

No tests here. The users function is imported inside a fixture, after the
`db` fixture has configured the layer's environment, as Lambda imports it in a
configured container.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testing.events import claims, load_event, prepare
from tests.conftest import ROOT
from tests.support.api import Reply, call

SEED_FILES = sorted((ROOT / "sql" / "seed").glob("*.sql"))
# The hand-written rows with fixed ids that the samples name; the generated bulk
# content (~0.7 s to load) only where the whole development seed matters.
SAMPLE_SEED_FILES = [p for p in SEED_FILES if "generated" not in p.name]
EVENTS_DIR = ROOT / "events" / "users"

ADMIN = "00000000-0000-4000-8000-000000000001"
USER1 = "00000000-0000-4000-8000-000000000002"
USER2 = "00000000-0000-4000-8000-000000000003"
POST1 = "10000000-0000-4000-8000-000000000001"
POST2 = "10000000-0000-4000-8000-000000000002"
DRAFT1 = "10000000-0000-4000-8000-000000000003"
ARCHIVED2 = "10000000-0000-4000-8000-000000000004"
MISSING = "00000000-0000-4000-8000-0000000000ff"


def seed(owner_conn: Any, *, everything: bool = False) -> None:
    """The development seed's fixed-id rows, or all of it as `make dev` loads it."""
    for path in SEED_FILES if everything else SAMPLE_SEED_FILES:
        owner_conn.run(path.read_text())


def sample_names() -> list[str]:
    return sorted(p.stem for p in EVENTS_DIR.glob("*.json"))


def expected_status(name: str) -> int | None:
    """`..._404` -> 404; None means "any 2xx"."""
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() and len(tail) == 3 else None


def as_user(sub: str, *groups: str) -> dict[str, str]:
    return claims(sub, email=f"{sub[-4:]}@example.com", groups=list(groups) or None)


def admin_claims() -> dict[str, str]:
    return claims(ADMIN, email="admin@example.com", groups=["admin"])


def send(module: Any, sample: str, **changes: Any) -> Reply:
    """Call the users handler with events/users/<sample>.json, adapted by prepare()."""
    return call(module.handler, prepare(load_event(f"users/{sample}.json"), **changes))


def row(conn: Any, sql: str, **params: Any) -> dict[str, Any] | None:
    rows = conn.run(sql, **params)
    if not rows:
        return None
    return dict(zip([c["name"] for c in conn.columns], rows[0], strict=True))


def event_path(name: str) -> Path:
    return EVENTS_DIR / f"{name}.json"
