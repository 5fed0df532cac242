"""Search and slugs in the users' language: GET /posts?q= ranked by relevance,
GET /users?q= by name as people type it, and slugs in any script, through the
handlers with the sample events, on real PostgreSQL (the n-gram indexes of
sql/migrations/0010 included)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote

import posts_queries
import pytest

from posts_app import handler
from testing.events import claims, load_event, prepare
from tests.integration.test_users_support import send
from tests.support.api import StatementCounter, call
from tests.support.factories import make_post, make_user

BASE = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture()
def author(db, owner_conn):
    user = make_user(owner_conn, first_name="田中", last_name="太郎")
    return SimpleNamespace(id=str(user["user_id"]), claims=claims(str(user["user_id"])))


def listing(query: dict[str, str]):
    return call(handler, prepare(load_event("posts/list.json"), query=query))


def search(q: str, **query: str) -> list[str]:
    reply = listing({"q": q, "limit": "100", **query})
    assert reply.status == 200, reply.body
    return [i["title"] for i in reply.body["items"]]


def walk(query: dict[str, str]) -> tuple[list[dict], int]:
    items, pages, cursor = [], 0, None
    while True:
        reply = listing(dict(query, **({"cursor": cursor} if cursor else {})))
        assert reply.status == 200, reply.body
        items += reply.body["items"]
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 200


def post(conn, user_id: str, title: str, hours: int, **values):
    return make_post(conn, user_id, title=title, published_at=BASE + timedelta(hours=hours), **values)


# -- GET /posts?q= ---------------------------------------------------------------------
def test_a_word_only_in_the_content_is_found(author, owner_conn):
    post(owner_conn, author.id, "インデックス設計の基本", 1, content="本文ではデータベースの索引を説明します。")
    post(owner_conn, author.id, "Unrelated", 2, content="Nothing to see.")
    post(owner_conn, author.id, "下書き", 3, content="データベース", status="draft")
    assert search("データベース") == ["インデックス設計の基本"]


@pytest.mark.parametrize(("q", "expected"), [("設計", ["設計入門"]), ("索", ["設計入門"]), ("中", [])])
def test_one_and_two_cjk_characters_are_ordinary_queries(author, owner_conn, q, expected):
    post(owner_conn, author.id, "設計入門", 1, content="索引の話")
    post(owner_conn, author.id, "English only", 2, content="plain text")
    assert search(q) == expected


def test_title_matches_rank_above_content_matches_then_newest_first(author, owner_conn):
    post(owner_conn, author.id, "古いキャッシュの話", 1, content="本文")
    post(owner_conn, author.id, "本文だけ 新しい", 9, content="Redisのキャッシュ戦略")
    post(owner_conn, author.id, "新しいキャッシュの話", 5, content="本文")
    post(owner_conn, author.id, "要約だけ", 7, excerpt="キャッシュを要約に", content="本文")
    post(owner_conn, author.id, "Caching in English", 8, content="no Japanese here")
    assert search("キャッシュ") == ["新しいキャッシュの話", "古いキャッシュの話", "本文だけ 新しい", "要約だけ"]


def test_space_separated_words_must_all_occur_in_any_field_and_case(author, owner_conn):
    post(owner_conn, author.id, "Keyset pagination", 1, content="Seek instead of OFFSET on PostgreSQL.")
    post(owner_conn, author.id, "Offset pagination", 2, content="Slow on deep pages.")
    post(owner_conn, author.id, "PostgreSQL tips", 3, content="Vacuum.")
    assert search("pagination postgresql") == ["Keyset pagination"]
    assert search("PAGINATION") == ["Offset pagination", "Keyset pagination"]


def test_mixed_script_titles_are_found_by_either_part(author, owner_conn):
    post(owner_conn, author.id, "PostgreSQLのインデックス設計入門", 1)
    post(owner_conn, author.id, "RDS Proxyと接続プール", 2)
    assert search("postgresql") == ["PostgreSQLのインデックス設計入門"]
    assert search("インデックス設計") == ["PostgreSQLのインデックス設計入門"]
    assert search("Proxyと接続") == ["RDS Proxyと接続プール"]
    assert search("ｐｒｏｘｙ") == ["RDS Proxyと接続プール"]  # noqa: RUF001 (full-width on purpose) — full-width Latin is NFKC-normalised
    assert search("ﾌﾟｰﾙ") == ["RDS Proxyと接続プール"]  # so is half-width katakana


def test_search_combines_with_filters(author, owner_conn):
    other = make_user(owner_conn)
    post(owner_conn, author.id, "監視 mine", 1, tags=["aws"])
    post(owner_conn, str(other["user_id"]), "監視 theirs", 2, tags=["aws"])
    post(owner_conn, author.id, "監視 untagged", 3)
    assert search("監視", author=author.id, tag="aws") == ["監視 mine"]
    assert search("監視", published_before="2026-03-01T02:30:00Z") == ["監視 theirs", "監視 mine"]


def test_ranked_pages_cover_every_match_once_in_order(author, owner_conn):
    # Given 13 title matches and 14 content matches, with published_at ties
    expected_titles, expected_body = [], []
    for i in range(27):
        hours = i // 3
        if i % 2 == 0:
            p = post(owner_conn, author.id, f"移行計画 {i:02d}", hours)
            expected_titles.append(p)
        else:
            p = post(owner_conn, author.id, f"記事 {i:02d}", hours, content=f"データの移行計画 {i}")
            expected_body.append(p)
    post(owner_conn, author.id, "関係ない", 20)

    def order(posts):
        newest_first = sorted(posts, key=lambda p: (p["published_at"], str(p["post_id"])), reverse=True)
        return [str(p["post_id"]) for p in newest_first]

    # When the client follows next_cursor, 4 at a time, each page one statement
    with StatementCounter() as counter:
        items, pages = walk({"q": "移行計画", "limit": "4"})
    # Then the title tier comes first, each tier newest first, every match once
    assert [i["post_id"] for i in items] == order(expected_titles) + order(expected_body)
    assert pages == 7
    assert counter.count == pages


def test_the_probes_and_the_index_give_the_same_order(author, owner_conn):
    """A common word is answered from the newest posts (the small probe window), a
    word in a few percent of posts from the larger window, a rare one through the
    GIN index: each must give the tier's exact order, page after page."""
    windows = posts_queries.DOCUMENT_PROBE_ROWS
    filler = windows[-1] + 50
    owner_conn.run(
        "INSERT INTO posts (post_id, user_id, title, content, slug, status, published_at) "
        "SELECT gen_random_uuid(), CAST(:a AS uuid), 'filler ' || g, "
        "CASE WHEN g % 100 = 0 THEN 'よくある ときどき' WHEN g % 2 = 0 THEN 'よくある' ELSE 'nothing' END, "
        "'filler-' || g, 'published', CAST(:base AS timestamptz) + (g / 3) * interval '1 minute' "
        "FROM generate_series(1, :n) g",
        a=author.id,
        base=BASE + timedelta(days=30),
        n=filler,
    )
    for i in range(3):
        post(owner_conn, author.id, f"old {i}", i, content="めったにない話題")

    def expected(word: str) -> list[str]:
        rows = owner_conn.run(
            "SELECT post_id::text FROM posts WHERE content LIKE :w ORDER BY published_at DESC, post_id DESC",
            w="%" + word + "%",
        )
        return [r[0] for r in rows]

    def pages(word: str, limit: int, most: int) -> list[str]:
        items, cursor = [], None
        for _ in range(most):
            reply = listing({"q": word, "limit": str(limit), **({"cursor": cursor} if cursor else {})})
            assert reply.status == 200, reply.body
            items += [i["post_id"] for i in reply.body["items"]]
            cursor = reply.body["next_cursor"]
            if cursor is None:
                break
        return items

    # Common: half the posts; the small window answers, three pages checked.
    assert windows[0] // 2 > 11
    assert pages("よくある", 10, 3) == expected("よくある")[:30]
    # A few percent: the small window holds too few, the larger one enough.
    assert windows[0] // 100 < 11 < windows[-1] // 100
    assert pages("ときどき", 10, 100) == expected("ときどき")
    # Rare and older than every window: the GIN index.
    assert pages("めったに", 2, 100) == expected("めったに")
    assert len(expected("めったに")) == 3


def test_sort_by_date_and_by_popularity_with_a_search(author, owner_conn):
    post(owner_conn, author.id, "Content match", 5, content="レプリカ", like_count=1)
    post(owner_conn, author.id, "レプリカ title", 1, like_count=9)
    assert search("レプリカ", sort="published_at") == ["Content match", "レプリカ title"]
    assert search("レプリカ", sort="popular") == ["レプリカ title", "Content match"]
    assert search("レプリカ") == ["レプリカ title", "Content match"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"q": "   "}, "q"),
        ({"q": "\u3000"}, "q"),
        ({"sort": "relevance"}, "sort"),
        ({"q": "a b c d e f g h i j k"}, "q"),
    ],
)
def test_searches_that_cannot_run_are_422_with_the_field(author, query, field):
    reply = listing(query)
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == field


def test_a_cursor_of_another_list_is_refused(author, owner_conn):
    for i in range(3):
        post(owner_conn, author.id, f"同期 {i}", i)
    plain = listing({"limit": "1"}).body["next_cursor"]
    ranked = listing({"q": "同期", "limit": "1"}).body["next_cursor"]
    assert listing({"q": "同期", "cursor": plain}).error_code == "invalid_cursor"
    assert listing({"cursor": ranked}).error_code == "invalid_cursor"
    assert listing({"q": "同期", "sort": "published_at", "cursor": ranked}).error_code == "invalid_cursor"


# -- slugs -----------------------------------------------------------------------------
def create(body, who):
    return call(handler, prepare(load_event("posts/create.json"), body=body, claims=who))


def by_slug_raw(raw_path_slug: str):
    """GET /posts/by-slug/{slug} with the path exactly as a client sent it."""
    event = prepare(load_event("posts/get_by_slug.json"), path_params={"slug": "x"})
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/posts/by-slug/" + raw_path_slug
    event["pathParameters"] = {"slug": raw_path_slug}
    return call(handler, event)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("PostgreSQLのインデックス設計入門", "postgresqlのインデックス設計入門"),
        ("管理ユーザーの記事", "管理ユーザーの記事"),
        ("RDS Proxy と 接続", "rds-proxy-と-接続"),
        ("Ｃａｆé ﾃﾞｰﾀ", "café-データ"),
    ],
)
def test_slugs_keep_the_titles_letters_and_are_reachable_encoded_or_not(author, title, slug):
    reply = create({"title": title, "content": "本文", "status": "published"}, author.claims)
    assert reply.status == 201, reply.body
    assert reply.body["slug"] == slug
    encoded = quote(slug, safe="")
    assert reply.headers["link"] == f'</posts/by-slug/{encoded}>; rel="canonical"'
    for form in (encoded, slug, encoded.lower()):
        found = by_slug_raw(form)
        assert found.status == 200, form
        assert found.body["post_id"] == reply.body["post_id"]
        assert found.headers["content-location"] == "/posts/by-slug/" + encoded


def test_a_second_post_with_the_same_japanese_title_gets_its_own_slug(author):
    body = {"title": "PostgreSQLのインデックス設計入門", "content": "本文", "status": "published"}
    first, second = create(body, author.claims).body["slug"], create(body, author.claims).body["slug"]
    assert first == "postgresqlのインデックス設計入門"
    assert second.startswith(first + "-") and len(second) == len(first) + 7


def test_a_title_without_letters_gets_a_neutral_slug(author):
    a = create({"title": "🎉🎉", "content": "x"}, author.claims).body["slug"]
    b = create({"title": "🎉🎉", "content": "x"}, author.claims).body["slug"]
    assert a.startswith("post-") and b.startswith("post-") and a != b


def test_existing_and_legacy_slugs_keep_working(author, owner_conn):
    make_post(owner_conn, author.id, slug="hello-world", title="old")
    make_post(owner_conn, author.id, slug="Legacy-Mixed-Case", title="legacy")
    assert by_slug_raw("hello-world").body["title"] == "old"
    assert by_slug_raw("Legacy-Mixed-Case").body["title"] == "legacy"


@pytest.mark.parametrize("raw", ["%FF%FE", "%E3%83", "%", "%%", "データ%2Fx"])
def test_undecodable_or_unknown_slugs_are_404(author, raw):
    reply = by_slug_raw(raw)
    assert reply.status == 404
    assert reply.error_code == "not_found"


def test_a_chosen_slug_in_japanese_is_kept_and_a_non_canonical_one_refused(author):
    ok = create({"title": "t", "content": "c", "slug": "データ-設計"}, author.claims)
    assert ok.status == 201 and ok.body["slug"] == "データ-設計"
    bad = create({"title": "t", "content": "c", "slug": "データ 設計"}, author.claims)
    assert bad.status == 422
    assert bad.body["error"]["details"][0]["field"] == "slug"


FULL_WIDTH = "\uff30\uff4f\uff53\uff54\uff47\uff52\uff45\uff33\uff31\uff2c"  # "PostgreSQL" in full-width letters


@pytest.mark.parametrize("typed", [FULL_WIDTH + "入門", "PostgreSQL入門", "\u3000postgresql入門 "])
def test_a_chosen_slug_is_stored_as_a_titles_would_be_and_found_by_any_of_its_forms(author, owner_conn, typed):
    # Given a slug typed with full-width letters, capitals or surrounding spaces
    reply = create({"title": "t", "content": "c", "status": "published", "slug": typed}, author.claims)
    # Then it is stored NFKC-normalised and lowercased, and its canonical address is that form
    assert reply.status == 201, reply.body
    assert reply.body["slug"] == "postgresql入門"
    stored = owner_conn.run("SELECT slug FROM posts WHERE post_id = :p", p=reply.body["post_id"])[0][0]
    assert stored == "postgresql入門"
    encoded = quote("postgresql入門", safe="")
    assert reply.headers["link"] == f'</posts/by-slug/{encoded}>; rel="canonical"'
    # And every spelling of it finds the post, percent-encoded or not
    for form in (
        "postgresql入門",
        encoded,
        FULL_WIDTH + "入門",
        quote(FULL_WIDTH + "入門", safe=""),
        "PostgreSQL入門",
        "POSTGRESQL" + encoded.removeprefix("postgresql"),
    ):
        found = by_slug_raw(form)
        assert found.status == 200, form
        assert found.body["post_id"] == reply.body["post_id"]
        assert found.headers["content-location"] == "/posts/by-slug/" + encoded


def test_two_spellings_of_one_chosen_slug_are_one_slug(author):
    assert create({"title": "t", "content": "c", "slug": "PostgreSQL入門"}, author.claims).status == 201
    again = create({"title": "t", "content": "c", "slug": FULL_WIDTH + "入門"}, author.claims)
    assert again.status == 409
    assert again.body["error"]["details"][0]["field"] == "slug"


def test_a_full_width_hyphen_joins_and_a_space_is_refused_with_the_reason(author):
    joined = create({"title": "t", "content": "c", "status": "published", "slug": "rds\uff0d接続"}, author.claims)
    assert joined.status == 201 and joined.body["slug"] == "rds-接続"
    # The post is found by the spellings a reader may type for it, the ideographic space included
    # (percent-encoded, as URLs carry them)
    for form in (quote("RDS\uff0d接続", safe=""), quote("rds\u3000接続", safe=""), "RDS-接続"):
        assert by_slug_raw(form).body["post_id"] == joined.body["post_id"], form
    spaced = create({"title": "t", "content": "c", "slug": "rds\u3000接続"}, author.claims)
    assert spaced.status == 422
    detail = spaced.body["error"]["details"][0]
    assert detail["field"] == "slug" and detail["in"] == "body"
    assert "a space cannot be part of a slug" in detail["message"]
    assert "joined by single hyphens" in detail["message"]


# -- GET /users?q= ---------------------------------------------------------------------
@pytest.fixture()
def people(db, owner_conn):
    for username, first, last in [
        ("user1", "田中", "太郎"),
        ("sato_h", "佐藤", "花子"),
        ("tanaka_k", "田中", "健"),
        ("jp_writer", "中田", "英寿"),
        ("taro_en", "Taro", "Tanaka"),
        ("li_wei", "李", "伟"),
    ]:
        make_user(owner_conn, username=username, first_name=first, last_name=last)
    make_user(owner_conn, username="gone_user", first_name="田中", last_name="消", is_active=False)


def users_found(users, q: str) -> set[str]:
    reply = send(users, "list", query={"q": q, "limit": "100"})
    assert reply.status == 200, reply.body
    return {u["username"] for u in reply.body["items"]}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("田中", {"user1", "tanaka_k"}),  # a two-character family name
        ("太郎", {"user1"}),  # a given name
        ("田中太郎", {"user1"}),  # both, no space
        ("田中 太郎", {"user1"}),  # both, with a space
        ("田中\u3000太郎", {"user1"}),  # with the ideographic space
        ("太郎 田中", {"user1"}),  # the other order
        ("中田", {"jp_writer"}),  # not "田中" reversed character by character
        ("李", {"li_wei"}),  # one character
        ("taro tanaka", {"taro_en"}),
        ("TanakaTaro", {"taro_en"}),
        ("jp_wr", {"jp_writer"}),  # a username prefix, underscore included
        ("tanaka_", {"tanaka_k"}),
        ("USER1", {"user1"}),
        ("riter", set()),  # usernames match from the start only
        ("花子さん", set()),
    ],
)
def test_users_by_name_as_people_type_it(users, people, q, expected):
    assert users_found(users, q) == expected


@pytest.mark.parametrize("q", ["", "   ", "\u3000"])
def test_a_blank_user_search_is_422(users, people, q):
    reply = send(users, "list", query={"q": q})
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "q"


# -- the development seed and its sample events ------------------------------------------
@pytest.fixture()
def dev_seed(db, owner_conn):
    from tests.conftest import ROOT

    for path in sorted((ROOT / "sql" / "seed").glob("*.sql")):
        owner_conn.run(path.read_text())
    return db


def test_the_sample_searches_show_both_languages_on_the_dev_seed(dev_seed, users):
    # Japanese: titles first, then a post that says it only in its content; drafts never
    titles = [i["title"] for i in call(handler, load_event("posts/list_search.json")).body["items"]]
    assert titles[:2] == ["データベースのバックアップ戦略", "Serverless データベース design notes"]
    assert "PostgreSQLのインデックス設計入門" in titles[2:]  # content only, newer than the next
    assert "Lambdaのコールドスタートを短くする" in titles  # content only
    assert all(not t.startswith("下書き") for t in titles)
    two = [i["title"] for i in call(handler, load_event("posts/list_search_two_characters.json")).body["items"]]
    assert two == ["PostgreSQLのインデックス設計入門", "接続プールの設計"]
    assert search("vacuum")[0] == "Tuning autovacuum for busy tables"
    slug = call(handler, load_event("posts/get_by_slug_japanese.json"))
    assert slug.status == 200 and slug.body["title"] == "PostgreSQLのインデックス設計入門"
    # Names: the seed's user1 田中 太郎 and 田中 美咲; a full name with a space; a username prefix
    names = {u["username"] for u in send(users, "list_search_japanese").body["items"]}
    assert {"user1", "misaki_t"} <= names
    assert {u["username"] for u in send(users, "list_search_full_name").body["items"]} == {"suzuki_ichiro"}
    assert {u["username"] for u in send(users, "list_search_username_prefix").body["items"]} == {"suzuki_ichiro"}


# -- both sides in their NFKC form (sql/migrations/0015) ----------------------------------
NFD_PAN = "\u30cf\u309a\u30f3\u5c4b\u306e\u8a71"  # パン屋の話 with a combining handakuten (NFD)


@pytest.mark.parametrize(
    ("title", "content", "queries"),
    [
        # half-width katakana and full-width Latin as written, found by any spelling
        (
            "\uff83\uff9e\uff70\uff80\u57fa\u76e4\uff21\uff30\uff29",
            "c",
            ["\uff83\uff9e\uff70\uff80", "データ基盤", "api"],
        ),
        (
            "plain",
            "\uff32\uff24\uff33\u3068\uff76\uff80\uff76\uff85",
            ["rds", "\uff32\uff24\uff33", "カタカナ", "\uff76\uff80\uff76\uff85"],
        ),
        # decomposed kana (macOS, some input methods) found by the composed spelling
        (NFD_PAN, "c", ["パン屋", NFD_PAN]),
        # enclosed characters and the ideographic space
        ("\u2460\u2461\u3231\u3000報告", "c", ["株", "12", "(株) 報告"]),
    ],
)
def test_stored_text_is_found_by_every_spelling_of_its_nfkc_form(author, owner_conn, title, content, queries):
    post(owner_conn, author.id, title, 1, content=content)
    post(owner_conn, author.id, "Unrelated", 2, content="Nothing to see.")
    for q in queries:
        assert search(q) == [title], q


def test_names_are_found_by_every_spelling_of_their_nfkc_form(users, owner_conn):
    make_user(
        owner_conn,
        username="hw_kana",
        first_name="\uff80\uff9b\uff73",
        last_name="\uff39\uff21\uff2d\uff21\uff24\uff21",
    )
    for q in ("\uff80\uff9b\uff73", "タロウ", "yamada", "\uff39\uff21\uff2d\uff21\uff24\uff21", "yamada タロウ"):
        assert users_found(users, q) == {"hw_kana"}, q


def test_a_cursor_belongs_to_its_own_search(author, owner_conn):
    """Ranked pages are keyset pages of one search's order: a next_cursor sent with other terms
    would skip rows of that search silently, so it is refused (400 invalid_cursor)."""
    for i in range(3):
        post(owner_conn, author.id, f"a {i}", i, content="の")
    first = listing({"q": "a", "limit": "2"})
    assert first.status == 200 and first.body["next_cursor"]
    other = listing({"q": "の", "limit": "2", "cursor": first.body["next_cursor"]})
    assert (other.status, other.body["error"]["code"]) == (400, "invalid_cursor"), other.body
    same = listing({"q": "a", "limit": "2", "cursor": first.body["next_cursor"]})
    assert same.status == 200 and len(same.body["items"]) == 1


# -- marks input methods spell differently (sql/migrations/0016) ----------------------------
# The same key gives the wave dash U+301C on macOS and Mozc, the full-width tilde U+FF5E on Windows
# (NFKC: ~); the minus sign U+2212 or the full-width hyphen-minus U+FF0D (NFKC: -); PARALLEL TO
# U+2225 or DOUBLE VERTICAL LINE U+2016; HORIZONTAL BAR U+2015 or EM DASH U+2014.
WAVE, FW_TILDE, MINUS, FW_HYPHEN, PARALLEL, DOUBLE_BAR, BAR, EM_DASH = (
    "\u301c",
    "\uff5e",
    "\u2212",
    "\uff0d",
    "\u2225",
    "\u2016",
    "\u2015",
    "\u2014",
)


@pytest.mark.parametrize(
    ("field", "written", "queries"),
    [
        ("content", f"参加者10{WAVE}20人の勉強会", [f"10{FW_TILDE}20", "10~20", f"10{WAVE}20", f"{FW_TILDE}20人"]),
        ("title", f"営業時間9{FW_TILDE}17時", [f"9{WAVE}17", "9~17", f"9{FW_TILDE}17", f"{WAVE}17時"]),
        ("excerpt", f"マイナス{MINUS}5度", ["-5", f"{FW_HYPHEN}5", f"{MINUS}5", f"ス{FW_HYPHEN}5度"]),
        ("content", "気温は-5度", [f"{MINUS}5", f"{FW_HYPHEN}5", "-5"]),
        ("title", f"A{PARALLEL}B", [f"a{DOUBLE_BAR}b", f"A{PARALLEL}B"]),
        ("content", f"前置き{BAR}本題", [f"き{EM_DASH}本", f"前置き{BAR}本題"]),
        ("excerpt", f"before{EM_DASH}after", [f"BEFORE{BAR}AFTER"]),
    ],
)
def test_marks_input_methods_spell_differently_find_each_other(author, owner_conn, field, written, queries):
    values = {"title": "記事", "content": "本文", field: written}
    post(owner_conn, author.id, values.pop("title"), 1, **values)
    post(owner_conn, author.id, "関係ない 10x20 9x17 a5 2025年", 2, content="x5 前置きx本題 before after")
    for q in queries:
        for sort in ("relevance", "published_at", "popular"):
            assert search(q, sort=sort) == ["記事" if field != "title" else written], (q, sort)


def test_a_folded_mark_matches_only_its_own_kind_on_every_read(author, owner_conn):
    """The recheck compares the folded text, never a wildcard: '-5' is not 'x5' or '2025'. Pages of
    one post answer from the newest posts (the probes); the older matches from the GIN index."""
    expected = []
    for i in range(4):
        expected.append(str(post(owner_conn, author.id, f"気温 {MINUS}5 {i}", i)["post_id"]))
        expected.append(
            str(post(owner_conn, author.id, f"記事 {i}", i + 0.5, content=f"朝は{FW_HYPHEN}5度")["post_id"])
        )
    for i in range(6):  # newer decoys: the same characters around another one
        post(owner_conn, author.id, f"2025年 x5 {i}", 10 + i, content="a5 ス5度 10x2 0~ ~2")
    rows = owner_conn.run(
        "SELECT post_id::text FROM posts WHERE post_id = ANY(CAST(:ids AS uuid[])) "
        "ORDER BY title LIKE '気温%' DESC, published_at DESC, post_id DESC",
        ids=expected,
    )
    items, _ = walk({"q": "-5", "limit": "1"})
    assert [i["post_id"] for i in items] == [r[0] for r in rows]
    assert search("10~2") == []  # its grams 10, 0~ and ~2 are there, the term is not (nor "10?2")


@pytest.mark.parametrize("field", ["title", "content"])
def test_a_folded_search_uses_the_same_tiers(author, owner_conn, field):
    post(owner_conn, author.id, f"範囲 1{WAVE}9", 1)
    post(owner_conn, author.id, "範囲", 2, content=f"1{FW_TILDE}9")
    post(owner_conn, author.id, "別の記事", 3, content=f"範囲 1{WAVE}9")
    assert search(f"範囲 1{FW_TILDE}9") == [f"範囲 1{WAVE}9", "範囲", "別の記事"]


def test_the_databases_fold_is_the_queries_fold(author, owner_conn):
    from shared.text import SEARCH_FOLD_FROM, SEARCH_FOLD_TO, search_form

    assert owner_conn.run("SELECT search_fold(:t)", t=SEARCH_FOLD_FROM + SEARCH_FOLD_TO) == [
        [SEARCH_FOLD_TO + SEARCH_FOLD_TO]
    ]
    everything = "".join(chr(c) for c in range(0x20, 0x3100) if not 0xD800 <= c <= 0xDFFF)
    assert owner_conn.run("SELECT search_fold(:t)", t=everything)[0][0] == everything.translate(
        str.maketrans(SEARCH_FOLD_FROM, SEARCH_FOLD_TO)
    )
    # The stored search form of a post is the form its words take in a query
    for typed in (f"10{WAVE}20", f"10{FW_TILDE}20", f"{MINUS}5", f"A{PARALLEL}B {BAR}", "ﾃﾞｰﾀ〜"):
        made = post(owner_conn, author.id, typed, 1, content=typed, excerpt="")
        stored = owner_conn.run(
            "SELECT search_title, search_document FROM posts WHERE post_id = :p", p=made["post_id"]
        )[0]
        assert stored == [search_form(typed), search_form(typed + "\n\n" + typed)], typed
    # Text already in that form stores nothing more
    plain = post(owner_conn, author.id, f"10~20 -5 {DOUBLE_BAR}", 2, content=f"a{EM_DASH}b")
    assert owner_conn.run("SELECT search_title, search_document FROM posts WHERE post_id = :p", p=plain["post_id"]) == [
        [None, None]
    ]


@pytest.mark.parametrize(
    ("first", "last", "queries"),
    [
        # The katakana middle dot between the parts of a name, in a query or in the stored name
        ("ジョン", "スミス", ["ジョン・スミス", "ｼﾞｮﾝ･ｽﾐｽ", "スミス・ジョン", "ジョン スミス", "ジョンスミス"]),
        (None, "ジョン・スミス", ["ジョンスミス", "ジョン・スミス", "ジョン スミス", "スミス", "ン・ス"]),
        ("田中", "太郎", ["田中・太郎", "太郎・田中"]),
        ("约翰", "史密斯", ["约翰·史密斯"]),  # the middle dot of Chinese input methods
        # Marks input methods spell differently
        (f"Jean{MINUS}Luc", "Picard", ["jean-luc", f"Jean{FW_HYPHEN}Luc picard", f"jean{MINUS}luc"]),
        ("ユキ", f"{WAVE}", [f"ユキ{FW_TILDE}", "ユキ~"]),
    ],
)
def test_names_with_dots_and_folded_marks_are_found_as_people_type_them(users, owner_conn, first, last, queries):
    make_user(owner_conn, username="the_one", first_name=first, last_name=last)
    make_user(owner_conn, username="other", first_name="ジョン", last_name="ドウ")
    for q in queries:
        assert users_found(users, q) == {"the_one"}, q


@pytest.mark.parametrize("q", ["・", " ･ ", "·"])
def test_a_user_search_of_dots_alone_is_422(users, q):
    reply = send(users, "list", query={"q": q})
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "q"


# -- slugs that show nothing ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("\u0301", "U+0301 (COMBINING ACUTE ACCENT)"),
        ("a\ufe0fb", "U+FE0F (VARIATION SELECTOR-16)"),
        ("\uffa0", "U+FFA0 (HALFWIDTH HANGUL FILLER)"),
        ("\uff9e", "'\uff9e'"),
        ("\u00bd", "'\u00bd'"),
        ("a\u200bb", "U+200B (ZERO WIDTH SPACE)"),
    ],
)
def test_a_chosen_slug_that_shows_nothing_or_starts_with_a_mark_is_422_naming_what_was_typed(
    author, owner_conn, typed, shown
):
    reply = create({"title": "t", "content": "c", "status": "published", "slug": typed}, author.claims)
    assert reply.status == 422, reply.body
    detail = reply.body["error"]["details"][0]
    assert detail["field"] == "slug" and detail["in"] == "body"
    assert shown in detail["message"] and "joined by single hyphens" in detail["message"]
    assert owner_conn.run("SELECT count(*) FROM posts") == [[0]]


@pytest.mark.parametrize(
    ("title", "slug"),
    [("\uff9e", None), ("\ufe0f\u3164 \u0301", None), ("a\ufe0fb", "ab"), ("x \uff9ey", "x-y")],
)
def test_a_title_without_visible_letters_gets_the_neutral_slug(author, title, slug):
    reply = create({"title": title, "content": "c", "status": "published"}, author.claims)
    assert reply.status == 201, reply.body
    if slug is None:
        assert re.fullmatch(r"post-[0-9a-f]{8}", reply.body["slug"]), reply.body["slug"]
    else:
        assert reply.body["slug"] == slug
    assert by_slug_raw(quote(reply.body["slug"], safe="")).body["post_id"] == reply.body["post_id"]


def test_a_title_of_invisible_characters_is_422(author):
    reply = create({"title": "\ufe0f\u034f\U000e0100", "content": "c"}, author.claims)
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "title"
