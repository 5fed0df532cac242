"""The comparison table of tests/samlocal, printed at the end of the run and kept in a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROWS: list[dict[str, Any]] = []
# One file per architecture: `make sam-local-test` runs x86_64 and then arm64, and the second run
# must not overwrite the first one's table.
REPORT = (
    Path(__file__).resolve().parents[2]
    / ".aws-sam"
    / f"sam-local-comparison-{os.environ.get('SAM_LOCAL_ARCH', 'arm64')}.md"
)


def table() -> str:
    lines = [
        "| event | function | make invoke | sam local invoke | body shape | sam s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in ROWS:
        lines.append(
            f"| {r['event']} | {r['function']} | {r['make']} | {r['sam']} | {r['shape']} | {r['seconds']:.1f} |"
        )
    if ROWS:
        seconds = [r["seconds"] for r in ROWS]
        later = seconds[1:] or seconds
        lines.append("")
        lines.append(
            f"{len(ROWS)} events, {sum(1 for r in ROWS if r['same'])} the same; sam local invoke: "
            f"first {seconds[0]:.1f} s, later ones mean {sum(later) / len(later):.1f} s "
            f"(min {min(later):.1f}, max {max(later):.1f}), {sum(seconds):.0f} s in all"
        )
    return "\n".join(lines) + "\n"


def record(row: dict[str, Any]) -> None:
    """Add a row; the file is rewritten at once, so a long run shows its progress."""
    ROWS.append(row)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(table())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    text = table()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    terminalreporter.write_sep("=", f"sam local invoke vs make invoke ({REPORT})")
    terminalreporter.write(text)
