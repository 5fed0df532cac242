"""Pure helpers and models of the posts function: no database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import posts_queries as q
import pytest
from posts_models import (
    DOC_SLUG_PATTERN,
    PostCreate,
    PostPatch,
    as_utc,
    like_pattern,
    search_terms,
    slug_candidates,
    slug_path,
    slugify,
)
from pydantic import ValidationError

from posts_app import etag, parse_if_match


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Keyset -- Pagination  ", "keyset-pagination"),
        ("PostgreSQL 16: What's new?", "postgresql-16-what-s-new"),
        # Letters of every script stay, lowercased and NFKC-normalised.
        ("Café à la crème", "café-à-la-crème"),
        ("管理ユーザー", "管理ユーザー"),
        ("RDS Proxy と接続", "rds-proxy-と接続"),
        ("PostgreSQLのインデックス設計入門", "postgresqlのインデックス設計入門"),
        ("ｐｏｓｔｇｒｅｓ　ﾃﾞｰﾀ", "postgres-データ"),  # noqa: RUF001 (full-width on purpose) — full-width Latin, ideographic space, half-width kana
        ("Straße & Ünïcode", "straße-ünïcode"),
        ("हिन्दी में लेख", "हिन्दी-में-लेख"),  # Devanagari vowel signs are marks: kept
        ("数据库 设计", "数据库-设计"),
        ("🎉 !!! 🎉", ""),
        # Invisible characters are dropped, inside a word too; a mark cannot start a run
        ("a\ufe0fb \u2764\ufe0f", "ab"),
        ("ab\u200bcd\u00ade", "abcde"),
        ("\uffa0\u3164", ""),  # the Hangul fillers
        ("\uff9e", ""),  # a lone half-width sound mark (NFKC: the combining U+3099)
        ("\u0301 x \u0301y", "x-y"),
        ("\uff76\uff9e x\uff9e", "ガ-x\u3099"),  # after a letter the mark stays
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_slugify_bounds_length_on_a_word_boundary():
    slug = slugify(" ".join(["word"] * 40))
    assert len(slug) <= 80
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug)
    assert slug.endswith("word")


def test_slugify_bounds_the_percent_encoded_length():
    # Each CJK character is 9 bytes percent-encoded: 200 bytes hold 22 of them.
    slug = slugify("データベース" * 20)
    assert len(slug_path(slug).removeprefix("/posts/by-slug/")) <= 200
    assert slug == ("データベース" * 4)[:22]
    mixed = slugify("インデックス 設計 " * 10)
    assert len(slug_path(mixed).removeprefix("/posts/by-slug/")) <= 200
    assert not mixed.endswith("-") and mixed.endswith(("インデックス", "設計"))


def test_slug_path_percent_encodes_non_ascii():
    assert slug_path("keyset-pagination") == "/posts/by-slug/keyset-pagination"
    assert slug_path("データ-設計") == "/posts/by-slug/%E3%83%87%E3%83%BC%E3%82%BF-%E8%A8%AD%E8%A8%88"
    assert slug_path("データ-設計").isascii()


def test_slug_candidates_accept_encoded_decoded_and_uncanonical_forms():
    assert slug_candidates("%E3%83%87%E3%83%BC%E3%82%BF") == ["%E3%83%87%E3%83%BC%E3%82%BF", "データ"]
    assert slug_candidates("データ") == ["データ"]
    assert slug_candidates("PostgreSQL%E3%81%AE") == ["PostgreSQL%E3%81%AE", "PostgreSQLの", "postgresqlの"]
    assert slug_candidates("%FF%FE") == []  # not UTF-8: no post can have it
    assert slug_candidates("x" * 300) == []


@pytest.mark.parametrize("slug", ["データ-設計", "café", "keyset-pagination", "v2", "\u00e9\u0301", "हिन्दी", "x\u20dd"])
def test_a_chosen_slug_in_any_script_is_accepted(slug):
    assert PostCreate(title="t", content="c", slug=slug).slug == slug


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("\uff30\uff4f\uff53\uff54\uff47\uff52\uff45\uff33\uff31\uff2c入門", "postgresql入門"),  # full-width Latin
        ("\uff50\uff4f\uff53\uff54\uff47\uff52\uff45\uff53\uff51\uff4c", "postgresql"),
        ("PostgreSQL入門", "postgresql入門"),  # capitals
        ("Keyset-Pagination", "keyset-pagination"),
        ("postgresql\uff0d入門", "postgresql-入門"),  # the full-width hyphen
        ("\uff83\uff9e\uff70\uff80-設計", "データ-設計"),  # half-width katakana and sound mark
        ("\uff16\uff14bit", "64bit"),  # full-width digits
        ("Ünï", "ünï"),
        ("\u3000データ ", "データ"),  # surrounding spaces, the ideographic one too
        ("\u30cf\u309a\u30f3", "パン"),  # decomposed kana are composed
    ],
)
def test_a_chosen_slug_is_stored_in_the_form_a_title_gives(typed, stored):
    assert PostCreate(title="t", content="c", slug=typed).slug == stored
    assert slugify(stored, limit=False) == stored


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Not A Slug", "a space cannot be part of a slug"),
        ("postgresql\u3000入門", "a space cannot be part of a slug"),  # the ideographic space is a space
        ("a--b", "cannot start or end with a hyphen or have two in a row"),
        ("-a", "cannot start or end with a hyphen or have two in a row"),
        ("a\uff0d\uff0db", "cannot start or end with a hyphen or have two in a row"),
        ("a_b", "'_' cannot be part of a slug"),
        ("a/b", "'/' cannot be part of a slug"),
        ("100%", "'%' cannot be part of a slug"),
        ("データ・設計", "'・' cannot be part of a slug"),
        ("🎉", "'🎉' cannot be part of a slug"),
        ("a\u200bb", "U+200B (ZERO WIDTH SPACE), an invisible character, cannot be part of a slug"),
        # The character as the client typed it, not the one normalisation made of it
        ("\u00bd", "'\u00bd' cannot be part of a slug"),  # NFKC: 1, the fraction slash U+2044, 2
        ("a\u00a8", "'\u00a8' cannot be part of a slug"),  # ¨ is a space and U+0308 after NFKC
        # Invisible characters, letters and marks among them
        ("a\ufe0fb", "U+FE0F (VARIATION SELECTOR-16), an invisible character, cannot be part of a slug"),
        ("\uffa0", "U+FFA0 (HALFWIDTH HANGUL FILLER), an invisible character, cannot be part of a slug"),
        ("x\u3164", "U+3164 (HANGUL FILLER), an invisible character, cannot be part of a slug"),
        ("a\U000e0101", "U+E0101 (VARIATION SELECTOR-18), an invisible character, cannot be part of a slug"),
        ("e\u034f\u0301", "U+034F (COMBINING GRAPHEME JOINER), an invisible character, cannot be part of a slug"),
        # A slug and each part after a hyphen start with a letter or digit
        ("\u0301", "starts with a letter or digit, not U+0301 (COMBINING ACUTE ACCENT)"),
        ("\uff9e", "starts with a letter or digit, not '\uff9e'"),  # as typed: NFKC makes it U+3099
        ("ab-\u0301c", "starts with a letter or digit, not U+0301 (COMBINING ACUTE ACCENT)"),
    ],
)
def test_a_chosen_slug_must_be_letters_and_digits_joined_by_hyphens(slug, message):
    with pytest.raises(ValidationError) as err:
        PostCreate(title="t", content="c", slug=slug)
    error = err.value.errors()[0]
    assert error["loc"] == ("slug",)
    assert message in error["msg"] and "joined by single hyphens" in error["msg"]


@pytest.mark.parametrize("slug", ["", "   ", 42, ["a"]])
def test_a_chosen_slug_that_is_empty_or_not_text_is_refused(slug):
    with pytest.raises(ValidationError) as err:
        PostCreate(title="t", content="c", slug=slug)
    assert err.value.errors()[0]["loc"] == ("slug",)


def test_a_chosen_slug_is_measured_in_its_stored_form():
    assert PostCreate(title="t", content="c", slug="\uff41" * 200).slug == "a" * 200
    # One character can normalise to several: the limit applies to what is stored
    with pytest.raises(ValidationError):
        PostCreate(title="t", content="c", slug="\u337f" * 51)  # ㍿ is 株式会社: 204 characters


def test_every_slug_the_document_describes_is_accepted():
    """The document's pattern is a subset of the rule: each of its characters, alone and around
    either hyphen, normalises to a valid slug."""
    chars = [chr(c) for c in range(0x110000) if re.fullmatch(DOC_SLUG_PATTERN, chr(c)) and not 0xD800 <= c <= 0xDFFF]
    assert len(chars) > 20_000
    marks = [ch for ch in "\uff9e\uff9f" if re.fullmatch(DOC_SLUG_PATTERN, "a" + ch)]
    assert len(marks) == 2 and not any(re.fullmatch(DOC_SLUG_PATTERN, ch) for ch in marks)
    for ch in chars + [c + m for c in ("\uff76", "a", "\u4e00") for m in marks]:
        for typed in (ch, ch + "-" + ch, "a\uff0d" + ch, ch + ch + ch):
            assert re.fullmatch(DOC_SLUG_PATTERN, typed)
            stored = PostCreate(title="t", content="c", slug=typed).slug
            assert stored and slugify(stored, limit=False) == stored, (typed, stored)


@pytest.mark.parametrize(
    ("q", "grams_q", "like", "ilike"),
    [
        ("田中", "田中", ["%田中%"], []),
        (" データ　ベース ", "データ ベース", ["%データ%", "%ベース%"], []),
        ("ﾃﾞｰﾀ", "データ", ["%データ%"], []),
        ("Ｐｏｓｔｇｒｅｓ の", "Postgres の", ["%の%"], ["%Postgres%"]),  # noqa: RUF001 (full-width on purpose)
        ("100%_x", "100%_x", [], ["%100\\%\\_x%"]),
        ("42", "42", ["%42%"], []),
        ("a a", "a", [], ["%a%"]),
        # The marks input methods spell differently, folded: U+301C and U+FF5E are ~, U+2212 and U+FF0D -
        ("10\uff5e20", "10~20", ["%10~20%"], []),
        ("9\u301c17", "9~17", ["%9~17%"], []),
        ("\u22125 \uff0d5", "-5", ["%-5%"], []),
        ("A\u2225B \u2015", "A\u2016B \u2014", ["%\u2014%"], ["%A\u2016B%"]),
    ],
)
def test_search_terms(q, grams_q, like, ilike):
    terms = search_terms(q)
    assert (terms.q, terms.like, terms.ilike) == (grams_q, like, ilike)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sql", "SQL"),
        ("sql", "\uff33\uff31\uff2c"),  # full-width: NFKC
        ("sql tuning", "Tuning  sql"),  # every term is required, in any order
        ("sql", "sql SQL"),  # the same term twice
        ("データ", "ﾃﾞｰﾀ"),
        ("10\u301c20", "10\uff5e20"),  # the marks input methods spell differently: folded
        ("\u22125", "-5"),
    ],
)
def test_searches_the_statements_treat_alike_share_their_key(a, b):
    assert search_terms(a).key == search_terms(b).key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sql", "sq"),
        ("sql", "sql tuning"),
        ("田中", "田"),
        ("\u0130", "i"),  # kept as typed: Python and PostgreSQL lowercase the dotted capital I apart
        ("100%", "100_"),
    ],
)
def test_other_searches_have_other_keys(a, b):
    assert search_terms(a).key != search_terms(b).key


def test_the_cursor_kind_of_posts_names_every_filter():
    feed = dict(author=None, tag=None, search=None, after=None, before=None)
    base = q.list_kind("published_at", **feed)
    others = [
        q.list_kind("popular", **feed),
        q.list_kind("published_at", **{**feed, "author": "9f1c1d7e-0000-4000-8000-000000000001"}),
        q.list_kind("published_at", **{**feed, "tag": "pg"}),
        q.list_kind("published_at", **{**feed, "search": search_terms("pg")}),  # the search's own statement
        q.list_kind("relevance", **{**feed, "search": search_terms("pg")}),
        q.list_kind("popular", **{**feed, "search": search_terms("pg")}),  # the list statement, filtered
        q.list_kind("published_at", **{**feed, "after": datetime(2026, 1, 1, tzinfo=UTC)}),
        q.list_kind("published_at", **{**feed, "before": datetime(2026, 1, 1, tzinfo=UTC)}),
    ]
    assert len({base, *others}) == len(others) + 1
    assert q.list_kind("published_at", **feed) == base


@pytest.mark.parametrize("q", ["   ", "\u3000", " ".join("abcdefghijk")])
def test_search_terms_refuses_blank_or_too_many_words(q):
    with pytest.raises(ValueError):
        search_terms(q)


def test_tags_are_normalized():
    post = PostCreate(title="t", content="c", tags=["SQL", " sql ", "Postgres", "sql"])
    assert post.tags == ["sql", "postgres"]


@pytest.mark.parametrize("tags", [["x"] * 11 + ["y"], [f"t{i}" for i in range(11)], ["a" * 31], [""], ["a\nb"]])
def test_invalid_tags(tags):
    with pytest.raises(ValidationError):
        PostCreate(title="t", content="c", tags=tags)


def test_eleven_duplicates_are_still_too_many_inputs():
    # The bound applies to what the client sent, before deduplication.
    with pytest.raises(ValidationError):
        PostCreate(title="t", content="c", tags=["a"] * 11)


def test_metadata_is_bounded_in_bytes():
    PostCreate(title="t", content="c", metadata={"k": "x" * 8000})
    with pytest.raises(ValidationError):
        PostCreate(title="t", content="c", metadata={"k": "あ" * 3000})  # 9 KB of UTF-8


@pytest.mark.parametrize("url", ["https://a.example/x.png", "http://a.example/x?y=1"])
def test_image_url_accepts_http_and_https(url):
    assert PostCreate(title="t", content="c", featured_image_url=url).featured_image_url == url


@pytest.mark.parametrize(
    "url", ["ftp://a.example/x", "javascript:alert(1)", "//a.example/x", "https://", "https://a b/x", "x" * 3000]
)
def test_image_url_refuses_others(url):
    with pytest.raises(ValidationError):
        PostCreate(title="t", content="c", featured_image_url=url)


def test_patch_changes_are_only_the_fields_sent():
    assert PostPatch.model_validate({"excerpt": None}).changes() == {"excerpt": None}
    assert PostPatch.model_validate({"tags": ["A", "a"], "title": " T "}).changes() == {"tags": ["a"], "title": "T"}
    assert PostPatch.model_validate({}).changes() == {}


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"status": "archived"},
        {"slug": "x"},
        {"like_count": 1},
        {"user_id": "x"},
        {"published_at": None},
    ],
)
def test_patch_refuses_forbidden_fields_and_nulls(body):
    with pytest.raises(ValidationError):
        PostPatch.model_validate(body)


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        ('"3"', [3]),
        ('W/"3"', []),  # If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches
        ('W/"3", "4"', [4]),
        ('"3", "4"', [3, 4]),
        ('"abc"', []),
        ("3", []),
        ('"²"', []),
        ('"99999999999"', []),
        ('"1", *', None),
    ],
)
def test_parse_if_match(header, versions):
    assert parse_if_match(header) == versions


def test_etag_round_trips_through_if_match():
    assert parse_if_match(etag(12)) == [12]


def test_like_pattern_escapes_wildcards():
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


def test_as_utc():
    naive = datetime(2026, 1, 1, 12)
    assert as_utc(naive) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    aware = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert as_utc(aware) is aware
    assert as_utc(None) is None


def test_list_sql_is_built_from_fixed_fragments_only():
    # Every combination is made of allow-listed fragments; nothing else can get in.
    sql = q.list_sql("popular", frozenset({"post_id", "title", "author"}), True)
    assert "'title', p.title" in sql
    assert "'excerpt'" not in sql
    assert "CAST(:c_1 AS numeric)" in sql
    assert ":c_1" not in q.list_sql("published_at", q.DEFAULT_LIST_FIELDS, False)
    with pytest.raises(KeyError):
        q.list_sql("title; DROP TABLE posts", q.DEFAULT_LIST_FIELDS, False)


def test_parse_fields():
    from posts_app import parse_fields
    from shared.errors import Unprocessable

    assert parse_fields(None, "published_at") == q.DEFAULT_LIST_FIELDS
    assert "score" in parse_fields(None, "popular")
    for names_none in ("", " ", "title,,slug", ",title"):
        with pytest.raises(Unprocessable):
            parse_fields(names_none, "published_at")
    assert parse_fields("title, slug", "published_at") == {"post_id", "title", "slug"}
    with pytest.raises(Unprocessable) as refused:
        parse_fields("title,content", "published_at")
    assert refused.value.details[0]["in"] == "query"


@pytest.mark.parametrize("sort", sorted(q.SEARCH_SORTS))
def test_search_statements_stay_below_the_size_that_pins_an_rds_proxy_session(sort):
    # RDS Proxy pins a session for statements over 16 KB (DESIGN.md, decision 2).
    assert len(q.search_sql(sort, frozenset(q.LIST_FIELDS)).encode()) < 16 * 1024
