"""Named SQL statements read from `.sql` files once, when a data module is imported.

A file holds blocks, each opened by a name line and run until the next one:

    -- name: get_post
    -- The post as JSON text, or no row.
    SELECT ... WHERE p.post_id = CAST(:post_id AS uuid)

* Parameters are `:name` (shared.wire compiles them to `$n` once per statement text). One whose
  type PostgreSQL cannot infer from its use (the Parse message names no parameter types) is cast, and only one
  way: `CAST(:name AS type)`; `:name::type` is refused when the file loads.
* `{{other}}` includes the block `other` of the same file, or of the layer's fragments.sql
  (e.g. `{{author_json}}`), when the file is loaded: the text sent to PostgreSQL is fixed at
  import, and a request's values only ever travel as parameters.
* Comment lines at the head of a block are its documentation and are not sent.

`load(path, constraints=...)` returns the statements by name. Each is a `Statement`: a `str`
that also carries the readable messages of the named constraints it may violate, which
`shared.db` hands to `shared.errors.from_db_error` when it fails.

Why not aiosql: aiosql runs its queries through a DB-API (or asyncio) driver's cursors and
connection, one `execute` per call. This layer talks to PostgreSQL through
`shared.wire.PipelinedConnection` (pg8000.native, Parse/Bind/Describe/Execute/Sync in one write,
several statements under one Sync in `Database.run_atomic`), which has no cursor for aiosql to
drive; using aiosql only for its parser would add a dependency (and its import time to every
cold start) for about forty lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from .errors import ConstraintMessages

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_OTHER_CAST = re.compile(r"(?<![:\w]):[a-z_][a-z0-9_]*::")  # `:x::uuid`: the cast style this project does not use

FRAGMENTS = Path(__file__).with_name("fragments.sql")


class Statement(str):
    """SQL text with its name and the messages of the constraints it may violate."""

    name: str
    constraints: ConstraintMessages

    def __new__(cls, text: str, name: str = "", constraints: ConstraintMessages | None = None) -> Statement:
        self = super().__new__(cls, text)
        self.name = name
        self.constraints = constraints or {}
        return self


class Statements(dict[str, Statement]):
    """The statements of one file, by name (`queries["get_post"]` or `queries.get_post`)."""

    def __init__(self, items: dict[str, Statement], source: Path):
        super().__init__(items)
        self.source = source

    def __getattr__(self, name: str) -> Statement:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no statement named {name!r} in {self.source}") from None


def parse(text: str, source: str = "<sql>") -> dict[str, str]:
    """The raw blocks of a file by name, in order; ValueError for text before the first name,
    a repeated name, or a `:name::type` cast."""
    blocks: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    head = text[: matches[0].start()] if matches else text
    if any(line.strip() and not line.strip().startswith("--") for line in head.splitlines()):
        raise ValueError(f"{source}: SQL before the first `-- name:` line")
    for i, match in enumerate(matches):
        name = match[1]
        if name in blocks:
            raise ValueError(f"{source}: the name {name!r} is used twice")
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        lines = text[match.end() : end].strip("\n").splitlines()
        while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
            lines.pop(0)
        body = "\n".join(lines).rstrip()
        if _OTHER_CAST.search(body):
            raise ValueError(f"{source}: {name}: cast parameters as CAST(:name AS type), not :name::type")
        blocks[name] = body
    return blocks


def _expand(name: str, blocks: Mapping[str, str], seen: tuple[str, ...], source: str) -> str:
    if name in seen:
        raise ValueError(f"{source}: {' -> '.join((*seen, name))} includes itself")
    if name not in blocks:
        raise ValueError(f"{source}: {{{{{name}}}}} names no block")
    return _INCLUDE.sub(lambda m: _expand(m[1], blocks, (*seen, name), source), blocks[name])


_fragments: dict[str, str] | None = None


def _shared_fragments() -> dict[str, str]:
    global _fragments
    if _fragments is None:
        _fragments = parse(FRAGMENTS.read_text(encoding="utf-8"), str(FRAGMENTS))
    return _fragments


def fragment(name: str) -> Statement:
    """A block of the layer's fragments.sql (e.g. `author_json`), for statements assembled in
    Python from allow-listed pieces."""
    return Statement(_expand(name, _shared_fragments(), (), str(FRAGMENTS)), name)


def load(path: str | Path, constraints: ConstraintMessages | None = None) -> Statements:
    """Every block of `path` with its includes expanded, each carrying `constraints`."""
    path = Path(path)
    own = parse(path.read_text(encoding="utf-8"), str(path))
    blocks = {**_shared_fragments(), **own}
    return Statements({name: Statement(_expand(name, blocks, (), str(path)), name, constraints) for name in own}, path)


def beside(module_file: str, filename: str, constraints: ConstraintMessages | None = None) -> Statements:
    """`load` for a `.sql` file next to a module: `beside(__file__, "posts.sql", CONSTRAINTS)`."""
    return load(Path(module_file).with_name(filename), constraints)
