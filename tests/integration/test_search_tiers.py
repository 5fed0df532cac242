"""GET /posts?q= ranked by relevance, in three tiers: every term in the title, then some of the
terms in the title (the others in excerpt or content), then the terms only in excerpt or content;
newest first within a tier. Through the handler, on real PostgreSQL, against an order computed
here from the rows themselves."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import posts_queries
import pytest
from posts_models import search_terms

from posts_app import handler
from shared.pagination import cursor_kind, encode_cursor
from testing.events import claims, load_event, prepare
from tests.support.api import StatementCounter, call
from tests.support.factories import make_post, make_user

BASE = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture()
def author(db, owner_conn):
    user = make_user(owner_conn)
    return SimpleNamespace(id=str(user["user_id"]), claims=claims(str(user["user_id"])))


def post(conn, user_id: str, title: str, hours: float, **values):
    return make_post(conn, user_id, title=title, published_at=BASE + timedelta(hours=hours), **values)


def listing(query: dict[str, str]):
    return call(handler, prepare(load_event("posts/list.json"), query=query))


def titles(q: str, **query: str) -> list[str]:
    reply = listing({"q": q, "limit": "100", **query})
    assert reply.status == 200, reply.body
    assert reply.body["next_cursor"] is None
    return [i["title"] for i in reply.body["items"]]


def walk(q: str, limit: int, most: int = 500) -> tuple[list[str], int]:
    """Every page of a ranked search, following next_cursor: the post ids in order, and the pages."""
    ids, pages, cursor = [], 0, None
    while True:
        reply = listing({"q": q, "limit": str(limit), **({"cursor": cursor} if cursor else {})})
        assert reply.status == 200, reply.body
        assert len(reply.body["items"]) <= limit
        ids += [i["post_id"] for i in reply.body["items"]]
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return ids, pages
        assert reply.body["items"], "a page with a next_cursor is never empty"
        assert pages < most


def ranked(conn, q: str) -> list[str]:
    """The expected order, computed in Python from every published post: the tier by where the
    terms are (case-insensitively; the test's texts are NFKC already), then newest first."""
    terms = q.split()
    rows = conn.run(
        "SELECT post_id::text, title, coalesce(excerpt, ''), content, published_at FROM posts "
        "WHERE status = 'published'"
    )
    out = []
    for post_id, title, excerpt, content, published_at in rows:
        document = (title + "\n" + excerpt + "\n" + content).lower()
        in_title = [t.lower() in title.lower() for t in terms]
        if not all(t.lower() in document for t in terms):
            continue
        tier = 1 if all(in_title) else 2 if any(in_title) else 3
        out.append((tier, -published_at.timestamp(), post_id))
    # Newest first, then the greater id first (uuid order is the order of its lowercase text).
    out.sort(key=lambda r: (r[0], r[1], [-ord(c) for c in r[2]]))
    return [post_id for _, _, post_id in out]


# -- the order -----------------------------------------------------------------------------
def test_a_title_with_some_of_the_terms_ranks_above_content_only_matches(author, owner_conn):
    # Given q = "PostgreSQL 設計": both words in a title, one of them in a title (older), and both
    # only in excerpt or content (newer)
    post(owner_conn, author.id, "PostgreSQLのインデックス設計", 1, content="本文")
    post(owner_conn, author.id, "PostgreSQLのインデックス", 2, content="索引の設計を考える")
    post(owner_conn, author.id, "設計メモ", 4, content="postgresql の話")  # the other word, in lower case
    post(owner_conn, author.id, "別の話", 9, content="PostgreSQLで設計する")
    post(owner_conn, author.id, "要約だけ", 7, excerpt="PostgreSQL 設計", content="本文")
    post(owner_conn, author.id, "PostgreSQLだけ", 10, content="索引の話")  # one word only: no match
    post(owner_conn, author.id, "下書き", 11, content="PostgreSQL 設計", status="draft")
    # Then every term in the title first, then some terms in the title, then the others; newest
    # first within each
    assert titles("PostgreSQL 設計") == [
        "PostgreSQLのインデックス設計",
        "設計メモ",
        "PostgreSQLのインデックス",
        "別の話",
        "要約だけ",
    ]
    assert titles("設計 postgresql") == titles("PostgreSQL 設計")  # the order of the words does not matter
    # A one-word search ranks as before: the title, then excerpt and content
    assert titles("設計") == [
        "設計メモ",
        "PostgreSQLのインデックス設計",
        "別の話",
        "要約だけ",
        "PostgreSQLのインデックス",
    ]
    assert titles("postgresql") == [
        "PostgreSQLだけ",
        "PostgreSQLのインデックス",
        "PostgreSQLのインデックス設計",
        "別の話",
        "要約だけ",
        "設計メモ",
    ]


def test_three_words_rank_by_whether_all_some_or_none_are_in_the_title(author, owner_conn):
    post(owner_conn, author.id, "rds proxy 接続", 1, content="x")
    post(owner_conn, author.id, "rds proxy", 2, content="接続の話")
    post(owner_conn, author.id, "接続", 3, content="rds proxy")
    post(owner_conn, author.id, "無関係", 4, content="rds proxy 接続")
    assert titles("RDS Proxy 接続") == ["rds proxy 接続", "接続", "rds proxy", "無関係"]


@pytest.mark.parametrize(
    ("q", "tier_two", "tier_three"),
    [
        # `_` and `%` are literal: "a_b" is not in the title "axb", nor "100%" in "1000"
        ("a_b 設計", "a_b の話", "axb の話"),
        ("100% 設計", "100% の話", "1000 の話"),
        # a backslash is literal too
        ("a\\b 設計", "a\\b の話", "ab の話"),
    ],
)
def test_wildcards_in_a_term_match_only_themselves_in_the_title(author, owner_conn, q, tier_two, tier_three):
    word = q.split()[0]
    post(owner_conn, author.id, tier_two, 1, content="設計")
    post(owner_conn, author.id, tier_three, 2, content=word + " 設計")
    post(owner_conn, author.id, "関係ない", 3, content="設計")
    assert titles(q) == [tier_two, tier_three]


def test_cased_words_match_the_title_in_any_case_and_caseless_words_exactly(author, owner_conn):
    # "keyset" goes to ILIKE (it has case), "設計" and "42" to LIKE
    post(owner_conn, author.id, "KEYSET pagination", 1, content="設計 42")
    post(owner_conn, author.id, "設計 42", 2, content="Keyset")
    post(owner_conn, author.id, "no words", 3, content="keyset 設計 42")
    post(owner_conn, author.id, "Keyset 設計 42", 0, content="x")
    assert titles("keyset 設計 42") == ["Keyset 設計 42", "設計 42", "KEYSET pagination", "no words"]


def test_filters_apply_to_every_tier(author, owner_conn):
    other = str(make_user(owner_conn)["user_id"])
    post(owner_conn, author.id, "監視 運用", 1, tags=["aws"])
    post(owner_conn, other, "監視 運用 theirs", 2, tags=["aws"])
    post(owner_conn, author.id, "監視", 3, content="運用", tags=["aws"])
    post(owner_conn, author.id, "監視 untagged", 4, content="運用")
    post(owner_conn, author.id, "本文だけ", 5, content="監視 運用", tags=["aws"])
    assert titles("監視 運用", author=author.id, tag="aws") == ["監視 運用", "監視", "本文だけ"]
    assert titles("監視 運用", published_before="2026-03-01T03:30:00Z") == ["監視 運用 theirs", "監視 運用", "監視"]


# -- keyset pages ------------------------------------------------------------------------------
@pytest.fixture()
def three_tiers(author, owner_conn):
    """12 posts with both words in the title, 12 with one of them, 12 with them only in excerpt
    and content, 3 that do not match; published_at repeats (ties go by post id)."""
    for i in range(39):
        hours = i // 4
        kind = i % 13
        if kind < 4:
            post(owner_conn, author.id, f"移行 計画 {i}", hours)
        elif kind < 8:
            post(owner_conn, author.id, f"移行 {i}" if i % 2 else f"計画 {i}", hours, content="移行の計画")
        elif kind < 12:
            post(owner_conn, author.id, f"記事 {i}", hours, excerpt="データの移行", content="計画")
        else:
            post(owner_conn, author.id, f"移行だけ {i}", hours, content="無関係")
    return ranked(owner_conn, "移行 計画")


@pytest.mark.parametrize("limit", [1, 3, 4, 7, 12, 100])
def test_ranked_pages_cover_every_match_once_in_order_across_the_tiers(owner_conn, three_tiers, limit):
    assert len(three_tiers) == 36
    with StatementCounter() as counter:
        ids, pages = walk("移行 計画", limit)
    assert ids == three_tiers  # no duplicate, no gap, across both tier boundaries
    assert pages == max(1, -(-len(three_tiers) // limit))
    assert counter.count == pages  # one statement per page


def test_a_page_boundary_on_a_tier_boundary_continues_with_the_next_tier(author, owner_conn):
    for i in range(3):
        post(owner_conn, author.id, f"同期 処理 {i}", i)
        post(owner_conn, author.id, f"同期 {i}", i, content="処理")
        post(owner_conn, author.id, f"記事 {i}", i, content="同期 処理")
    expected = ranked(owner_conn, "同期 処理")
    for limit in (3, 6):  # the last item of a page is the last of its tier
        assert walk("同期 処理", limit)[0] == expected


# -- the reads that answer the middle tier --------------------------------------------------------
def test_each_read_of_the_middle_tier_gives_its_exact_order(author, owner_conn):
    """The middle tier is answered by the small window when its posts are common, by the titles'
    read when few titles hold a term, by the larger window when many do and the tier's posts are a
    few percent, and by the document's GIN index when they are rarer: each must give the tier's
    exact order, page after page."""
    windows, cap = posts_queries.DOCUMENT_PROBE_ROWS, posts_queries.TITLE_CANDIDATE_ROWS
    filler = windows[-1] + 50
    # "見出し" in every other title (more than the titles' read takes); "よくある" in those posts'
    # content, "ときどき" in one post in a hundred
    owner_conn.run(
        "INSERT INTO posts (post_id, user_id, title, content, slug, status, published_at) "
        "SELECT gen_random_uuid(), CAST(:a AS uuid), 'filler ' || g || CASE WHEN g % 2 = 0 THEN ' 見出し' ELSE '' END, "
        "CASE WHEN g % 100 = 0 THEN 'よくある ときどき' WHEN g % 2 = 0 THEN 'よくある' ELSE 'nothing' END, "
        "'filler-' || g, 'published', CAST(:base AS timestamptz) + (g / 3) * interval '1 minute' "
        "FROM generate_series(1, :n) g",
        a=author.id,
        base=BASE + timedelta(days=30),
        n=filler,
    )
    assert filler // 2 >= cap
    for i in range(3):  # older than every window
        post(owner_conn, author.id, f"題名 old {i}", i, content="めったにない話題")
        post(owner_conn, author.id, f"見出し old {i}", i, content="めったにない話題")
        post(owner_conn, author.id, f"記事 old {i}", i, content="見出しのめったにない話題")

    def pages(q: str, limit: int, most: int) -> list[str]:
        """The post ids of the first `most` pages (all of them when there are fewer)."""
        ids, cursor = [], None
        for _ in range(most):
            reply = listing({"q": q, "limit": str(limit), **({"cursor": cursor} if cursor else {})})
            assert reply.status == 200, reply.body
            ids += [i["post_id"] for i in reply.body["items"]]
            cursor = reply.body["next_cursor"]
            if cursor is None:
                break
        return ids

    def answered_by(q: str, limit: int) -> str:
        """Which read gave the middle tier's rows on the first page (EXPLAIN ANALYZE of the statement)."""
        terms = search_terms(q)
        params = dict(author=None, tag=None, after=None, before=None, limit=limit, c_tier=None, c_ts=None, c_id=None)
        sql = posts_queries.search_sql("relevance", posts_queries.DEFAULT_LIST_FIELDS)
        plan = owner_conn.run(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, q=terms.q, like=terms.like, ilike=terms.ilike, **params
        )
        lines = [r[0] for r in plan]
        start = lines.index("  CTE t2") + 1
        indent = len(lines[start]) - len(lines[start].lstrip()) + 6  # the children of the tier's Append
        rows = [
            int(re.search(r"actual rows=(\d+)", line).group(1))
            for line in lines[start + 1 : next(i for i in range(start, len(lines)) if lines[i].startswith("  CTE t3"))]
            if line.startswith(" " * indent + "->")
        ]
        reads = ["small window", "titles", "larger window", "GIN index"]
        assert len(rows) == len(reads) and sum(1 for r in rows if r) == 1, rows
        return next(read for read, r in zip(reads, rows, strict=True) if r)

    # Common: half the posts, every one with a word in the title (the small window)
    assert answered_by("見出し よくある", 10) == "small window"
    assert pages("見出し よくある", 10, 3) == ranked(owner_conn, "見出し よくある")[:30]
    # A few percent, many titles with a word (the titles' read overflows; the larger window)
    assert windows[0] // 100 < 11 < windows[-1] // 100
    assert answered_by("見出し ときどき", 10) == "larger window"
    assert pages("見出し ときどき", 10, 100) == ranked(owner_conn, "見出し ときどき")
    # Few titles with a word, older than every window (the titles' read)
    assert answered_by("題名 めったに", 2) == "titles"
    assert pages("題名 めったに", 2, 100) == ranked(owner_conn, "題名 めったに")
    # Many titles with a word, the tier's posts older than every window (the document's GIN index)
    assert answered_by("見出し めったに", 2) == "GIN index"
    assert pages("見出し めったに", 2, 100) == ranked(owner_conn, "見出し めったに")
    assert len(ranked(owner_conn, "見出し めったに")) == 6


# -- cursors -----------------------------------------------------------------------------------
def forged(sort: str, q: str, tier, ts=BASE, post_id="00000000-0000-4000-8000-000000000001") -> str:
    kind = posts_queries.list_kind(sort, author=None, tag=None, search=search_terms(q), after=None, before=None)
    return encode_cursor(kind, [tier, ts, post_id])


def test_a_cursor_names_a_tier_of_its_own_sort(author, owner_conn):
    post(owner_conn, author.id, "同期 処理", 1)
    post(owner_conn, author.id, "同期", 2, content="処理")
    post(owner_conn, author.id, "記事", 3, content="同期 処理")
    later = BASE + timedelta(days=1)
    # Each tier of the sort continues after the key: tier 3 from the cursor on, tier 2 includes tier 3
    for tier, expected in ((1, ["同期 処理", "同期", "記事"]), (2, ["同期", "記事"]), (3, ["記事"])):
        reply = listing({"q": "同期 処理", "cursor": forged("relevance", "同期 処理", tier, later)})
        assert reply.status == 200, reply.body
        assert [i["title"] for i in reply.body["items"]] == expected
    # published_at has one tier
    reply = listing({"q": "同期 処理", "sort": "published_at", "cursor": forged("published_at", "同期 処理", 1, later)})
    assert reply.status == 200 and len(reply.body["items"]) == 3


@pytest.mark.parametrize(
    ("sort", "tier"),
    [
        ("relevance", 0),
        ("relevance", 4),
        ("relevance", -1),
        ("relevance", True),
        ("relevance", "2"),
        ("relevance", 2.0),
        ("relevance", None),
        ("published_at", 2),
        ("published_at", 0),
    ],
)
def test_a_forged_tier_is_refused(author, sort, tier):
    reply = listing({"q": "同期 処理", "sort": sort, "cursor": forged(sort, "同期 処理", tier)})
    assert reply.status == 400, reply.body
    assert reply.error_code == "invalid_cursor"


def test_a_cursor_of_the_two_tier_order_is_refused(author):
    # Its tier 2 held every post without all the terms in the title: read against the three tiers,
    # it would skip or repeat posts, so it is refused
    old = encode_cursor(
        cursor_kind(
            "posts:search:relevance",
            author=None,
            tag=None,
            q=search_terms("同期").key,
            published_after=None,
            published_before=None,
        ),
        [2, BASE, "00000000-0000-4000-8000-000000000001"],
    )
    reply = listing({"q": "同期", "cursor": old})
    assert (reply.status, reply.error_code) == (400, "invalid_cursor")
