"""Command line of the local stack (the Makefile's dev, dev-reset, token, invoke targets).

python -m devstack dev    [--port 3000] [--env-vars env.json] [--local-dir .local]
python -m devstack invoke FUNCTION EVENT [--env-vars env.json]
python -m devstack token  --sub UUID [--email ...] [--groups admin,editors] [--hours 12]
python -m devstack reset  (stops the local cluster, deletes .local/)
python -m devstack openapi [--check]  (writes openapi.json from the functions' routes)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

# The dev tools use the layer's package (`shared`) like the functions do: put the layer on
# the path for this command-line entry point (the Makefile also sets PYTHONPATH).
_LAYER = Path(__file__).resolve().parents[1] / "layers" / "shared"
if str(_LAYER) not in sys.path:
    sys.path.insert(1, str(_LAYER))

from devstack.stack import DEFAULT_LOCAL_DIR, REPO  # noqa: E402


def _env_vars(path: str | None) -> dict[str, Any] | None:
    """A SAM --env-vars file: {"Parameters": {...}, "UsersFunction": {...}}."""
    from devstack import envvars

    if not path:
        return None
    try:
        return envvars.load(path)
    except envvars.EnvVarsError as exc:
        raise SystemExit(str(exc)) from None


def _port(value: str | None, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise SystemExit(f"not a port number: {value!r}") from None


def cmd_dev(args: argparse.Namespace) -> int:
    from devstack import server

    return server.run(
        host=args.host,
        port=_port(args.port or os.environ.get("PORT"), 3000),
        local_dir=Path(args.local_dir),
        pg_port=_port(args.pg_port, 0) or None,
        template_path=Path(args.template),
        env_vars=_env_vars(args.env_vars),
        eager=not args.lazy,
        cors_origins=server.dev_origins(args.cors_origins or os.environ.get("CORS_ORIGINS")),
    )


def cmd_invoke(args: argparse.Namespace) -> int:
    from devstack import invoke

    if not args.function or not args.event:
        print("usage: make invoke FN=PostsFunction EVENT=events/posts/get.json", file=sys.stderr)
        return 2
    return invoke.main(
        args.function,
        args.event,
        local_dir=Path(args.local_dir),
        template_path=Path(args.template),
        env_vars=_env_vars(args.env_vars),
    )


def cmd_token(args: argparse.Namespace) -> int:
    from devstack import jwt_local

    if not args.sub:
        print("usage: make token SUB=<uuid> [EMAIL=...] [GROUPS=admin]", file=sys.stderr)
        return 2
    groups = [g for g in (args.groups or "").replace(",", " ").split() if g]
    key = jwt_local.load_or_create_key(Path(args.local_dir).resolve())
    try:
        token = jwt_local.mint(key, args.sub, email=args.email or None, groups=groups or None, hours=args.hours)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    from devstack.postgres import Cluster, find_bindir
    from devstack.stack import LocalStack, running_port

    local = Path(args.local_dir).resolve()
    if not local.exists():
        print(f"{local} does not exist: nothing to reset")
        return 0
    stack = LocalStack(local_dir=local)
    dev = stack.running_dev()
    if dev:
        print(f"make dev is running (pid {dev['pid']}): stop it (Ctrl-C) before make dev-reset", file=sys.stderr)
        return 1
    cluster = Cluster(root=local / "pg", port=0, bindir=Path())
    if running_port(cluster) is not None:
        cluster.bindir = find_bindir()
        cluster.stop("fast")
        print("stopped the local PostgreSQL cluster")
    shutil.rmtree(local)
    print(f"removed {local} (the next make dev initializes a new cluster and signing key)")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from devstack import openapi
    from devstack.template import load

    return openapi.main(load(Path(args.template)), check=args.check)


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--local-dir", default=str(DEFAULT_LOCAL_DIR), help="state directory (default .local/)")
    common.add_argument("--template", default=str(REPO / "template.yaml"))
    parser = argparse.ArgumentParser(prog="python -m devstack", description="Docker-free local stack")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", parents=[common], help="run the local HTTP API")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", help="HTTP port (default $PORT or 3000)")
    dev.add_argument(
        "--cors-origins",
        help="allowed browser origins, comma separated, * wildcards (default $CORS_ORIGINS or any localhost port)",
    )
    dev.add_argument("--pg-port", help="PostgreSQL port (default $PGPORT_DEV or 54329, else a free one)")
    dev.add_argument("--env-vars", help="SAM-style environment overrides (JSON)")
    dev.add_argument("--lazy", action="store_true", help="start each worker on its first request")
    dev.set_defaults(run=cmd_dev)

    inv = sub.add_parser("invoke", parents=[common], help="run one function with one event")
    inv.add_argument("function", nargs="?")
    inv.add_argument("event", nargs="?", help="event file (or - for stdin)")
    inv.add_argument("--env-vars")
    inv.set_defaults(run=cmd_invoke)

    tok = sub.add_parser("token", parents=[common], help="print a token the local API accepts")
    tok.add_argument("--sub")
    tok.add_argument("--email")
    tok.add_argument("--groups", help="comma or space separated, e.g. admin")
    tok.add_argument("--hours", type=float, default=12.0)
    tok.set_defaults(run=cmd_token)

    reset = sub.add_parser("reset", parents=[common], help="stop the local cluster and delete the local directory")
    reset.set_defaults(run=cmd_reset)

    doc = sub.add_parser("openapi", parents=[common], help="write (or --check) openapi.json")
    doc.add_argument("--check", action="store_true", help="exit 1 when openapi.json is stale")
    doc.set_defaults(run=cmd_openapi)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
