"""Import time per module (`python -X importtime`) and the layer's size.

Runs each function module's import in a fresh interpreter, the way a cold
Lambda container does, and lists the ten most expensive modules by cumulative
import time so a regression has a name.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from testing.functions import FUNCTIONS, ROOT, function_env

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_profile(codeuri: str, module: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=function_env(codeuri),
        cwd=ROOT,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)) // 2, m.group(4)))
    total = next((cum for cum, _self, _d, name in rows if name == module), 0)
    top_level = sorted((r for r in rows if r[2] <= 1), reverse=True)[:10]
    by_self = sorted(rows, key=lambda r: r[1], reverse=True)[:10]
    packages: dict[str, int] = {}
    for _cum, own, _d, name in rows:
        top = name.split(".")[0]
        packages[top] = packages.get(top, 0) + own
    return {
        "module": module,
        "total_ms": round(total / 1000, 1),
        "top10": [
            {"module": name, "cumulative_ms": round(cum / 1000, 1), "self_ms": round(s / 1000, 1)}
            for cum, s, _d, name in top_level
        ],
        # The modules that cost the most themselves, wherever they sit in the tree.
        "top_self": [
            {"module": name, "cumulative_ms": round(cum / 1000, 1), "self_ms": round(s / 1000, 1)}
            for cum, s, _d, name in by_self
        ],
        "by_package": {k: round(v / 1000, 1) for k, v in sorted(packages.items(), key=lambda kv: -kv[1])[:12]},
        "boto3_imported": any(name == "boto3" for *_x, name in rows),
    }


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def layer_size() -> dict[str, Any]:
    built = ROOT / ".aws-sam" / "build" / "SharedLayer"
    if built.is_dir():
        return {"source": ".aws-sam/build/SharedLayer", "bytes": dir_size(built)}
    import importlib.util

    total = 0
    for pkg in (
        "aws_lambda_powertools",
        "pg8000",
        "pydantic",
        "pydantic_core",
        "scramp",
        "asn1crypto",
        "dateutil",
        "typing_extensions",
        "annotated_types",
        "typing_inspection",
        "jmespath",
    ):
        spec = importlib.util.find_spec(pkg)
        if spec and spec.submodule_search_locations:
            total += dir_size(Path(next(iter(spec.submodule_search_locations))))
    total += dir_size(ROOT / "layers/shared/shared")
    return {"source": "installed packages of the layer's requirements (x86_64 venv)", "bytes": total}


def measure() -> dict[str, Any]:
    out: dict[str, Any] = {"functions": {}, "layer": layer_size()}
    for name, (codeuri, module) in FUNCTIONS.items():
        if (ROOT / codeuri / f"{module}.py").exists():
            out["functions"][name] = import_profile(codeuri, module)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
