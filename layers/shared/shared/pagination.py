"""Opaque, URL-safe keyset cursors.

A cursor carries the sort key of the last row a client saw, tagged with the
result set it belongs to: its kind (`cursor_kind`) names the list and the order,
and digests the filters that choose the rows (query parameters, the ids of the
path), normalized as the query compares them. It is base64url (no `+`, `/` or
`=` to escape in a query string) over compact JSON plus a short digest, so a
truncated or edited cursor is refused with a 400 instead of silently
repositioning or failing in SQL, and so is a cursor sent with other filters:
read against another result set, its key would skip rows or end the list early.
What changes only each item (a field selection) or the page size does not
belong to the kind: a cursor stays valid across them.

Cursors are not credentials: whoever forges one only repositions a list they
may read anyway; filters and visibility are applied by the query every time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidCursor
from .schemas import utc_datetime

_DIGEST_BYTES = 6
MAX_CURSOR_LENGTH = 512
# What the document says of a cursor: the unpadded base64url text encode_cursor makes. Only a
# `next_cursor` the API returned is valid; any other text of this form answers 400 invalid_cursor.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
CURSOR_DESCRIPTION = (
    "The `next_cursor` of the previous page, as returned (opaque), sent with the same path and filters as that "
    "page; `limit` (and `fields`, where the list has it) may change. Any other value, or the cursor with other "
    "filters, answers 400 `invalid_cursor`."
)


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_DIGEST_BYTES, person=b"blog-cursor").digest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # UUID, Decimal


class CursorKind(str):
    """A cursor's kind, as `cursor_kind` makes it: the only kind encode_cursor and decode_cursor take,
    so no list makes or reads a cursor without naming its filters."""

    __slots__ = ()


def _filter_value(value: Any) -> Any:
    """A filter's value as JSON: instants in UTC (the same instant however it was written), ids in
    their canonical form, sets in order."""
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_filter_value(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_filter_value(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    raise TypeError(f"a cursor filter must be text, a number, a boolean, an instant, an id or a set: {value!r}")


def cursor_kind(name: str, **filters: Any) -> CursorKind:
    """The kind of the cursors of one result set: `name` (the list and its order) and a digest of
    `filters`, the values that choose the rows, each in the form under which the query treats two
    requests alike (the caller normalizes text as its query compares it; instants and ids are made
    canonical here). Every filter of the list is named, None when absent. Parameters that change
    only each item or the page size are not filters."""
    canonical = json.dumps(
        {k: _filter_value(v) for k, v in filters.items()}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest = hashlib.blake2b(canonical.encode(), digest_size=8, person=b"blog-filters").hexdigest()
    return CursorKind(name + ":" + digest)


def _checked(kind: CursorKind) -> CursorKind:
    if not isinstance(kind, CursorKind):
        raise TypeError("a cursor's kind comes from cursor_kind(), which names the list's filters")
    return kind


def encode_cursor(kind: CursorKind, values: Sequence[Any]) -> str:
    _checked(kind)
    payload = json.dumps([kind, [_plain(v) for v in values]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload + _digest(payload)).rstrip(b"=").decode()


def decode_cursor(kind: CursorKind, cursor: str, arity: int) -> list[Any]:
    """The key values of `cursor`, or InvalidCursor (400) if it is not a cursor of `kind`: of another
    list, or of the same list with other filters."""
    _checked(kind)
    invalid = InvalidCursor()
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise invalid from None
    payload, digest = raw[:-_DIGEST_BYTES], raw[-_DIGEST_BYTES:]
    if len(raw) <= _DIGEST_BYTES or _digest(payload) != digest:
        raise invalid
    try:
        got_kind, values = json.loads(payload)
    except ValueError:
        raise invalid from None
    if got_kind != kind or not isinstance(values, list) or len(values) != arity:
        raise invalid
    out: list[Any] = []
    for v in values:
        if isinstance(v, dict) and set(v) == {"t"} and isinstance(v["t"], str):
            try:  # in UTC and in range, as every timestamp the API takes (shared.schemas.utc_datetime)
                out.append(utc_datetime(datetime.fromisoformat(v["t"])))
            except ValueError:
                raise invalid from None
        else:
            out.append(v)
    return out


def page_json(items: str, next_cursor: str | None) -> str:
    """The one list envelope, `{"items": [...], "next_cursor": "..." | null}`, around `items`, a
    JSON array as text (built by SQL). A cursor is base64url: nothing in it needs escaping."""
    tail = '"' + next_cursor + '"' if next_cursor else "null"
    return '{"items":' + items + ',"next_cursor":' + tail + "}"


def rows_json(rows: list[dict[str, Any]], column: str = "item") -> str:
    """A JSON array (text) of the SQL-built JSON texts in `column` of `rows`."""
    return "[" + ",".join(r[column] for r in rows) + "]"


def page(
    rows: list[dict[str, Any]], limit: int, kind: CursorKind, key: Sequence[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """Split a `LIMIT limit + 1` result into the page and the next cursor (None at the end)."""
    if len(rows) <= limit:
        return rows, None
    items = rows[:limit]
    last = items[-1]
    return items, encode_cursor(kind, [last[k] for k in key])
