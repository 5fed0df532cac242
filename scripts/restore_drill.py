"""`make restore-drill`: prove a dump of the database restores into a fresh server, table for table.

1. The source is the local dev database (`make dev`'s cluster in .local/pg, database `blog`). On a
   machine without one, a throwaway cluster with every migration applied stands in for it.
2. pg_dump (custom format) of the source; the roles (pg_dumpall --roles-only) and the dump are
   restored into a NEW throwaway cluster (devstack.postgres.throwaway_cluster: only the PostgreSQL
   binaries are needed, no Docker).
3. For every table of the `public` schema, both sides' row count and a content hash
   (md5 over the rows' text, in a fixed order) are compared. Exit status 1 on any difference.

The same comparison is the smoke check of a point-in-time restore in AWS (docs/INFRASTRUCTURE.md,
"Restore"): run it against the restored instance and the source with --source-url/--target-url.

Usage: python scripts/restore_drill.py [--source-url URL --target-url URL] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pg8000.native

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "shared"))

from devstack.postgres import SUPERUSER, Cluster, find_bindir, free_port, throwaway_cluster  # noqa: E402
from devstack.stack import DB_NAME, DEFAULT_LOCAL_DIR, running_port  # noqa: E402

TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1
"""


def connect(url: str) -> pg8000.native.Connection:
    u = urlsplit(url)
    return pg8000.native.Connection(
        user=u.username or SUPERUSER,
        password=u.password,
        host=u.hostname or "127.0.0.1",
        port=u.port or 5432,
        database=(u.path or "/postgres").lstrip("/") or "postgres",
    )


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """table -> (row count, md5 of the rows' text in sorted order)."""
    conn = connect(url)
    try:
        out = {}
        for (table,) in conn.run(TABLES):
            ident = conn.run("SELECT quote_ident(:t)", t=table)[0][0]
            count, digest = conn.run(
                f"SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM {ident} r"
            )[0]
            out[table] = (int(count), str(digest))
        return out
    finally:
        conn.close()


def compare(source: dict[str, tuple[int, str]], target: dict[str, tuple[int, str]]) -> list[str]:
    problems = [f"{t}: missing after restore" for t in sorted(set(source) - set(target))]
    problems += [f"{t}: only after restore" for t in sorted(set(target) - set(source))]
    for table in sorted(set(source) & set(target)):
        (n1, h1), (n2, h2) = source[table], target[table]
        if n1 != n2:
            problems.append(f"{table}: {n1} rows before, {n2} after")
        elif h1 != h2:
            problems.append(f"{table}: same {n1} rows, different content")
    return problems


def dev_source(scratch: Path) -> tuple[Cluster, bool]:
    """The dev cluster (started if needed: returns whether we started it), else a migrated stand-in."""
    root = DEFAULT_LOCAL_DIR / "pg"
    if (root / "data" / "PG_VERSION").exists():
        cluster = Cluster(root=root, port=0, bindir=find_bindir())
        port = running_port(cluster)
        if port is not None:
            cluster.port = port
            return cluster, False
        cluster.port = free_port()
        cluster.start()
        return cluster, True
    print("no local dev database (.local/pg): a throwaway cluster with the migrations stands in", flush=True)
    cluster = throwaway_cluster(scratch / "source")
    admin = connect(cluster.superuser_url)
    admin.run(f"CREATE DATABASE {DB_NAME}")
    admin.close()
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{cluster.port}/{DB_NAME}"
    subprocess.run(
        [sys.executable, "-m", "shared.migrations", "apply", "--dir", str(ROOT / "sql/migrations"), "--url", url],
        check=True,
        env={"PYTHONPATH": str(ROOT / "layers/shared"), "PATH": "/usr/bin:/bin"},
    )
    return cluster, True


def drill(keep: bool = False) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="restore-drill-"))
    scratch.chmod(0o755)
    source, stop_source = dev_source(scratch)
    target = None
    try:
        source_url = f"postgresql://{SUPERUSER}@127.0.0.1:{source.port}/{DB_NAME}"
        target = throwaway_cluster(scratch / "target")
        dump_dir = target.root  # owned by the cluster's OS user, which runs the client binaries
        common = ["-h", "127.0.0.1", "-U", SUPERUSER]
        target._run("pg_dumpall", *common, "-p", str(source.port), "--roles-only", "-f", str(dump_dir / "roles.sql"))
        target._run("pg_dump", *common, "-p", str(source.port), "-Fc", "-f", str(dump_dir / "blog.dump"), DB_NAME)
        # Roles already present in a fresh cluster (the superuser) make psql report an error: not fatal.
        target._run(
            "psql", *common, "-p", str(target.port), "-q", "-f", str(dump_dir / "roles.sql"), "postgres", check=False
        )
        target._run("createdb", *common, "-p", str(target.port), DB_NAME)
        target._run(
            "pg_restore", *common, "-p", str(target.port), "--exit-on-error", "-d", DB_NAME, str(dump_dir / "blog.dump")
        )
        before = fingerprint(source_url)
        after = fingerprint(f"postgresql://{SUPERUSER}@127.0.0.1:{target.port}/{DB_NAME}")
        for table, (count, digest) in sorted(before.items()):
            print(f"  {table:32} {count:>10} rows  {digest}")
        problems = compare(before, after)
        if problems:
            print("restore drill FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print(f"restore drill passed: {len(before)} tables, {sum(c for c, _ in before.values())} rows, identical")
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"restore drill FAILED: {' '.join(exc.cmd)}\n{exc.stderr}", file=sys.stderr)
        return 1
    finally:
        if target is not None:
            target.stop()
        if stop_source:
            source.stop()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-url", help="compare only: the source database (e.g. the production instance)")
    parser.add_argument("--target-url", help="compare only: the restored database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch clusters' directory")
    args = parser.parse_args(argv)
    if args.source_url or args.target_url:
        if not (args.source_url and args.target_url):
            parser.error("--source-url and --target-url go together")
        problems = compare(fingerprint(args.source_url), fingerprint(args.target_url))
        print("\n".join(problems) or "identical")
        return 1 if problems else 0
    return drill(args.keep)


if __name__ == "__main__":
    sys.exit(main())
