"""`make deploy ENV=<env>`: render the `sam deploy` command of one samconfig.toml environment and run it.

sam replaces (does not merge) samconfig's parameter_overrides when the command line gives any, so
the environment's overrides are read from samconfig.toml here and MigrationsHash (a hash of
sql/migrations, shared.migrations.checksum_of) is appended.

Usage: python scripts/deploy.py ENV SAM [--print]   (--print: show the command, run nothing)
Exit status 2 with a message when the environment does not exist or a prod override is a placeholder.
"""

from __future__ import annotations

import os
import shlex
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Values a prod deploy must not carry (template.yaml's Rules refuse them too, later, in CloudFormation).
PROD_PLACEHOLDERS = {"CorsAllowedOrigins": ("https://example.com", "http://localhost:3000")}
PROD_REQUIRED = ("AlarmEmail", "CognitoEmailSourceArn")


class DeployError(ValueError):
    """The environment cannot be deployed as configured."""


def environments(config_path: Path = ROOT / "samconfig.toml") -> dict[str, dict]:
    """samconfig.toml's environments: name -> its section."""
    config = tomllib.loads(config_path.read_text())
    return {name: section for name, section in config.items() if isinstance(section, dict)}


def overrides_of(section: dict) -> list[str]:
    given = section.get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    return shlex.split(given) if isinstance(given, str) else list(given)


def render(env: str, sam: str, migrations_hash: str, config_path: Path = ROOT / "samconfig.toml") -> list[str]:
    """The argv of `sam deploy` for `env`; raises DeployError for an unknown env or a prod placeholder."""
    envs = environments(config_path)
    if env not in envs:
        raise DeployError(f"samconfig.toml has no [{env}] environment (it has: {', '.join(sorted(envs))})")
    overrides = overrides_of(envs[env])
    values = dict(o.partition("=")[::2] for o in overrides)
    if values.get("Stage") == "prod":
        missing = [k for k in PROD_REQUIRED if not values.get(k)]
        if missing:
            raise DeployError(f"[{env}] is prod but has no {', '.join(missing)} in parameter_overrides")
        for key, placeholders in PROD_PLACEHOLDERS.items():
            bad = [v for v in values.get(key, "").split(",") if v.strip() in placeholders]
            if bad:
                raise DeployError(f"[{env}] is prod but {key} holds the placeholder {bad[0]}")
    overrides.append(f"MigrationsHash={migrations_hash}")
    return [sam, "deploy", "--config-env", env, "--parameter-overrides", *overrides]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    env, sam, dry = argv[0], argv[1], "--print" in argv[2:]
    from shared.migrations import checksum_of

    try:
        command = render(env, sam, checksum_of(ROOT / "sql" / "migrations"))
    except DeployError as exc:
        print(f"deploy refused: {exc}", file=sys.stderr)
        return 2
    print(" ".join(shlex.quote(a) for a in command), flush=True)
    if not dry:
        os.execv(sam, command)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
