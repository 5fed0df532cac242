"""SAM CLI's `--env-vars` files, read the way `sam local` reads them, for `make dev`, `make invoke`
and `make sam-invoke` alike.

A file is `{"Parameters": {...}, "<function>": {...}}`: every value an object ("incorrect format"
otherwise). `Parameters` applies to every function; then one section of the function's own, found
by its logical id, else by its `FunctionName` (samcli/commands/local/lib/local_lambda.py,
`_make_env_vars`: logical id, function id, function name, full path). Values become strings as SAM
CLI makes them (samcli/local/lambdafn/env_vars.py, `_stringify_value`): null, objects and lists
are "", booleans "true"/"false". Only variables the template declares are overridden
(EnvironmentVariables.resolve); the callers name the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devstack.template import Function


class EnvVarsError(ValueError):
    """The file is not an env-vars file; the message says why."""


def load(path: str | Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise EnvVarsError(f"--env-vars {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise EnvVarsError(
            f'--env-vars {path}: expected {{"Parameters": {{...}}, "<FunctionLogicalId>": {{...}}}} '
            "(every value an object of variables)"
        )
    return data


def stringify(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, tuple)):
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def overrides_for(env_vars: dict[str, Any] | None, fn: Function) -> dict[str, str]:
    """The variables `env_vars` sets for `fn`, as strings: `Parameters`, then its own section."""
    env_vars = env_vars or {}
    merged: dict[str, Any] = dict(env_vars.get("Parameters") or {})
    own = env_vars.get(fn.name) or env_vars.get(fn.function_name)
    merged.update(own or {})
    return {key: stringify(value) for key, value in merged.items()}
