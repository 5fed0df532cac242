"""The users request models refuse what PostgreSQL would refuse (or store badly)
before a statement is sent, and the search pattern keeps wildcards literal."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError
from users_models import ProfileIn, UserCreate, UserUpdate, search_query


@pytest.mark.parametrize(
    ("q", "name", "prefix"),
    [
        ("田中", "田中", "田中%"),
        ("田中 太郎", "田中太郎", "田中太郎%"),
        ("田中\u3000太郎", "田中太郎", "田中太郎%"),  # the ideographic space a Japanese keyboard types
        ("Taro Tanaka", "TaroTanaka", "tarotanaka%"),
        ("jp_wr", "jp_wr", "jp\\_wr%"),
        ("100%", "100%", "100\\%%"),
        ("back\\slash", "back\\slash", "back\\\\slash%"),
        ("ｔａｒｏ", "taro", "taro%"),  # noqa: RUF001 (full-width on purpose)
        ("a", "a", "a%"),
        # The dots between the parts of a name are separators, as spaces are
        ("ジョン・スミス", "ジョンスミス", "ジョンスミス%"),
        ("ｼﾞｮﾝ･ｽﾐｽ", "ジョンスミス", "ジョンスミス%"),  # half-width katakana and middle dot
        ("田中・太郎", "田中太郎", "田中太郎%"),
        ("约翰·史密斯", "约翰史密斯", "约翰史密斯%"),  # the middle dot of Chinese input methods
        # The marks input methods spell differently, folded as the stored names are
        ("a\u301cb\u2212c", "a~b-c", "a~b-c%"),
    ],
)
def test_search_query_removes_spaces_and_escapes_like_wildcards(q, name, prefix):
    search = search_query(q)
    assert search is not None
    assert (search.name, search.username_prefix) == (name, prefix)


@pytest.mark.parametrize("q", ["", "   ", "\u3000", "new\nline", "・", " ･ "])
def test_search_query_refuses_blank_or_multiline_terms(q):
    with pytest.raises(ValueError):
        search_query(q)


def test_no_search_without_q():
    assert search_query(None) is None


@pytest.mark.parametrize(
    "preferences",
    [
        {"a": float("inf")},
        {"a": float("nan")},
        {"a": [1.5, float("-inf")]},
        {"k\x00": 1},
        {"a": "NUL\x00inside"},
        {"a": [[[[[["too deep"]]]]]]},
        {f"k{i}": i for i in range(21)},
        {"big": "x" * 4100},
        {"": 1},
    ],
)
def test_preferences_jsonb_cannot_store_are_refused(preferences):
    with pytest.raises(ValidationError):
        ProfileIn(preferences=preferences)


def test_preferences_within_bounds_are_kept_as_sent():
    prefs = {"theme": "dark", "sizes": [1, 2.5], "nested": {"ok": True, "none": None}}
    assert ProfileIn(preferences=prefs).preferences == prefs
    # 20 keys and just under 4 KB serialized is the edge that still passes
    edge = {f"k{i:02d}": "x" * 180 for i in range(20)}
    assert len(json.dumps(edge).encode()) < 4096
    assert ProfileIn(preferences=edge).preferences == edge


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://example.com/x", "https://", "//example.com/x", "https://exa mple.com\n"]
)
def test_only_http_urls_with_a_host(url):
    with pytest.raises(ValidationError):
        ProfileIn(website_url=url)


def test_birth_date_must_be_plausible():
    today = datetime.now(UTC).date()
    assert UserCreate(username="abc", date_of_birth=today).date_of_birth == today
    for bad in (today + timedelta(days=1), date(1899, 12, 31)):
        with pytest.raises(ValidationError):
            UserCreate(username="abc", date_of_birth=bad)


@pytest.mark.parametrize(
    "written", [86400, "86400", 0, 0.0, "2000-01-01T00:00:00+23:59", "2000-01-01T23:00:00Z", "1990-4-1", "19900401"]
)
def test_a_birth_date_is_written_yyyy_mm_dd_and_nothing_else_is_read_as_one(written):
    # A number would be Unix time and a datetime would lose its time and offset: another date.
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        UserUpdate(date_of_birth=written)
    assert UserUpdate(date_of_birth="1990-04-01").date_of_birth == date(1990, 4, 1)


@pytest.mark.parametrize("username", ["ab", "a" * 51, "has space", "dash-ed", "dot.ted", "ünï"])
def test_username_rules(username):
    with pytest.raises(ValidationError):
        UserCreate(username=username)


@pytest.mark.parametrize("phone", ["12345", "+81 90 1234 5678x", "phone", "+" + "1" * 20])
def test_phone_rules(phone):
    with pytest.raises(ValidationError):
        UserCreate(username="abc", phone_number=phone)


def test_update_flags_are_strict_booleans_and_never_null():
    assert UserUpdate(is_verified=True).is_verified is True
    for bad in ({"is_verified": None}, {"is_active": "true"}, {"is_active": 1}):
        with pytest.raises(ValidationError):
            UserUpdate(**bad)


def test_update_null_clears_text_fields():
    body = UserUpdate(first_name=None)
    assert body.model_fields_set == {"first_name"}
    assert body.first_name is None
