from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from shared.errors import BadRequest
from shared.pagination import CURSOR_DESCRIPTION, CursorKind, cursor_kind, decode_cursor, encode_cursor, page

K = cursor_kind("k")


def test_round_trip_keeps_types():
    ts = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
    kind = cursor_kind("posts:published")
    cursor = encode_cursor(kind, [ts, "9f1c1d7e-0000-4000-8000-000000000001", 3.5])
    assert decode_cursor(kind, cursor, 3) == [ts, "9f1c1d7e-0000-4000-8000-000000000001", 3.5]


def test_cursor_is_url_safe():
    ts = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)  # isoformat has '+' and ':'
    cursor = encode_cursor(K, [ts, "a/b+c=d"])
    assert all(c.isalnum() or c in "-_" for c in cursor)


@pytest.mark.parametrize(
    "mangle",
    [lambda c: c[:-2], lambda c: c[:10] + ("A" if c[10] != "A" else "B") + c[11:], lambda c: "%%%", lambda c: ""],
)
def test_tampered_cursor_is_a_400(mangle):
    cursor = encode_cursor(K, [1, "x"])
    with pytest.raises(BadRequest) as caught:
        decode_cursor(K, mangle(cursor), 2)
    assert caught.value.code == "invalid_cursor"


def test_cursor_of_another_list_is_refused():
    users, posts = cursor_kind("users"), cursor_kind("posts")
    with pytest.raises(BadRequest):
        decode_cursor(users, encode_cursor(posts, [1, "x"]), 2)
    with pytest.raises(BadRequest):
        decode_cursor(posts, encode_cursor(posts, [1, "x"]), 3)


def test_page_uses_limit_plus_one():
    rows = [{"id": i, "ts": i * 10} for i in range(4)]
    items, cursor = page(rows, 3, K, ["ts", "id"])
    assert [r["id"] for r in items] == [0, 1, 2]
    assert decode_cursor(K, cursor, 2) == [20, 2]
    assert page(rows[:3], 3, K, ["ts", "id"]) == (rows[:3], None)


# -- a cursor's kind names its filters -------------------------------------------------------
def test_a_cursor_of_other_filters_is_refused_with_the_usual_message():
    cursor = encode_cursor(cursor_kind("users", q="reader_", verified=None), ["2026-01-01", "x"])
    for other in ({"q": "田中", "verified": None}, {"q": "a", "verified": None}, {"q": "reader_", "verified": True}):
        with pytest.raises(BadRequest) as caught:
            decode_cursor(cursor_kind("users", **other), cursor, 2)
        assert caught.value.code == "invalid_cursor"
        assert caught.value.message == "the cursor is invalid or belongs to another list; start again without it"
    assert decode_cursor(cursor_kind("users", verified=None, q="reader_"), cursor, 2) == ["2026-01-01", "x"]


def test_absent_filters_are_named_too():
    # A filter absent (None) is not the same as a filter left out, nor as an empty value
    assert cursor_kind("k", tag=None) != cursor_kind("k")
    assert cursor_kind("k", tag=None) != cursor_kind("k", tag="")
    assert cursor_kind("k", flag=None) != cursor_kind("k", flag=False)
    assert cursor_kind("k", flag=True) != cursor_kind("k", flag=1)
    assert cursor_kind("a", tag="x") != cursor_kind("b", tag="x")
    assert cursor_kind("k", tag="x", q=None) != cursor_kind("k", tag=None, q="x")


def test_instants_ids_and_sets_are_compared_canonically():
    noon = datetime(2026, 3, 1, 12, tzinfo=UTC)
    tokyo = timezone(timedelta(hours=9))
    assert cursor_kind("k", after=noon) == cursor_kind("k", after=datetime(2026, 3, 1, 21, tzinfo=tokyo))
    assert cursor_kind("k", after=noon) == cursor_kind("k", after=datetime(2026, 3, 1, 12))  # naive: UTC
    assert cursor_kind("k", after=noon) != cursor_kind("k", after=noon + timedelta(microseconds=1))
    uid = "9f1c1d7e-0000-4000-8000-00000000000a"
    assert cursor_kind("k", id=UUID(uid.upper())) == cursor_kind("k", id=UUID(uid)) == cursor_kind("k", id=uid)
    assert cursor_kind("k", q=frozenset({"b", "a"})) == cursor_kind("k", q=frozenset({"a", "b"}))
    assert cursor_kind("k", q=frozenset({"a"})) != cursor_kind("k", q=frozenset({"a", "b"}))
    assert cursor_kind("k", a=1, b=2) == cursor_kind("k", b=2, a=1)


def test_a_kind_is_short_and_names_its_list():
    kind = cursor_kind("posts:popular", q="x" * 100, tag="y" * 30)
    assert kind.startswith("posts:popular:") and len(kind) == len("posts:popular:") + 16


def test_only_kinds_from_cursor_kind_make_or_read_cursors():
    with pytest.raises(TypeError):
        encode_cursor("users", [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decode_cursor("users", encode_cursor(cursor_kind("users"), [1]), 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cursor_kind("k", q=object())
    assert isinstance(cursor_kind("k"), CursorKind)


def test_the_document_says_what_a_cursor_is_valid_for():
    assert "same path and filters" in CURSOR_DESCRIPTION and "`limit`" in CURSOR_DESCRIPTION
