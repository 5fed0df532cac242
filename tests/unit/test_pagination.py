from datetime import UTC, datetime

import pytest

from shared.errors import BadRequest
from shared.pagination import decode_cursor, encode_cursor, page


def test_round_trip_keeps_types():
    ts = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
    cursor = encode_cursor("posts:published", [ts, "9f1c1d7e-0000-4000-8000-000000000001", 3.5])
    assert decode_cursor("posts:published", cursor, 3) == [ts, "9f1c1d7e-0000-4000-8000-000000000001", 3.5]


def test_cursor_is_url_safe():
    ts = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)  # isoformat has '+' and ':'
    cursor = encode_cursor("k", [ts, "a/b+c=d"])
    assert all(c.isalnum() or c in "-_" for c in cursor)


@pytest.mark.parametrize(
    "mangle",
    [lambda c: c[:-2], lambda c: c[:10] + ("A" if c[10] != "A" else "B") + c[11:], lambda c: "%%%", lambda c: ""],
)
def test_tampered_cursor_is_a_400(mangle):
    cursor = encode_cursor("k", [1, "x"])
    with pytest.raises(BadRequest) as caught:
        decode_cursor("k", mangle(cursor), 2)
    assert caught.value.code == "invalid_cursor"


def test_cursor_of_another_list_is_refused():
    with pytest.raises(BadRequest):
        decode_cursor("users", encode_cursor("posts", [1, "x"]), 2)
    with pytest.raises(BadRequest):
        decode_cursor("posts", encode_cursor("posts", [1, "x"]), 3)


def test_page_uses_limit_plus_one():
    rows = [{"id": i, "ts": i * 10} for i in range(4)]
    items, cursor = page(rows, 3, "k", ["ts", "id"])
    assert [r["id"] for r in items] == [0, 1, 2]
    assert decode_cursor("k", cursor, 2) == [20, 2]
    assert page(rows[:3], 3, "k", ["ts", "id"]) == (rows[:3], None)
