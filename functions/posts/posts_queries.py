"""The posts data module: runs the statements of posts.sql, raises typed errors and returns
domain values (JSON text built by PostgreSQL, versions, `Created`); nothing here knows HTTP.

The static statements are named in posts.sql. The list and search queries are put
together from fixed fragments only (sort order, keyset predicate, selected
fields), chosen through allow-lists; no input ever becomes SQL text.

Each read is ONE statement that returns the response JSON built by PostgreSQL
(the post, its author summary, the page), which passes through to the client
without a decode/encode in Python. Each write is one statement as well (CTEs),
atomic by itself, except the admin transfer, which is an explicit transaction.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from posts_models import PostCreate, SearchTerms, slug_candidates, slugify

from shared import statements
from shared.db import get_database
from shared.errors import (
    AccountInactive,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidCursor,
    NotFound,
    NotRegistered,
    StaleVersion,
    Unprocessable,
)
from shared.idempotency import derived_id
from shared.identity import Identity
from shared.pagination import CursorKind, cursor_kind, decode_cursor, page, page_json, rows_json

CONSTRAINTS: dict[str, tuple[str, str]] = {
    "posts_slug_key": ("slug", "another post already uses this slug"),
    "posts_published_has_date": ("status", "a published post needs a publication date"),
    "posts_counters_not_negative": ("like_count", "a counter cannot go below zero"),
    "post_transfers_other_author": ("new_author_id", "the post already belongs to this user"),
}

SQL = statements.beside(__file__, "posts.sql", CONSTRAINTS)
"""The static statements, by name (posts.sql)."""

# -- fragments of the list and search statements ----------------------------------------
# The author summary embedded in posts: never email, phone or birth date.
AUTHOR_JSON = statements.fragment("author_json")


# Seed 004's popularity score.
SCORE = SQL.score

# Search (sql/migrations/0010): the grams of the indexed expressions narrow the
# candidates through GIN; ILIKE on the real text confirms every term. Each
# expression is spelled exactly as its index is, or the planner cannot use it.
# The texts in their search form where it differs from the text (NFKC, sql/migrations/0015; the
# marks input methods spell differently folded, 0016), as queries are (posts_models.search_terms).
TITLE_TEXT = "coalesce(p.search_title, p.title)"


# The recheck, appended to a text expression: caseless terms byte for byte, the
# others case-insensitively (posts_models.SearchTerms). An empty array is true.
def _recheck(text: str) -> str:
    return "(" + text + " LIKE ALL (CAST(:like AS text[])) AND " + text + " ILIKE ALL (CAST(:ilike AS text[])))"


DOCUMENT_TEXT = "coalesce(p.search_document, p.title || E'\\n' || coalesce(p.excerpt, '') || E'\\n' || p.content)"


def _match(text: str) -> str:
    """Every term of :q in `text`: the index condition, then the exact recheck."""
    return "(search_grams(" + text + ") @> search_query_grams(CAST(:q AS text)) AND " + _recheck(text) + ")"


# -- lists -----------------------------------------------------------------------------
# Optional filters are `:x IS NULL OR ...`: unnamed statements are planned with
# their parameter values, so an absent filter folds away and a present one can
# use its index (author feed, GIN on tags, n-gram GIN on title, excerpt and content).
_LIST_SQL = """
SELECT {item} AS item, p.published_at, p.post_id, p.score
FROM (
    SELECT p.post_id, p.user_id, p.title, p.slug, p.excerpt, p.featured_image_url, p.tags, p.metadata,
           p.view_count, p.like_count, p.comment_count, p.published_at, p.updated_at, {score} AS score
    FROM posts p
    WHERE p.status = 'published'
      AND (CAST(:author AS uuid) IS NULL OR p.user_id = CAST(:author AS uuid))
      AND (CAST(:tag AS text) IS NULL OR p.tags @> ARRAY[CAST(:tag AS text)])
      AND (CAST(:q AS text) IS NULL OR {search})
      AND (CAST(:after AS timestamptz) IS NULL OR p.published_at >= CAST(:after AS timestamptz))
      AND (CAST(:before AS timestamptz) IS NULL OR p.published_at < CAST(:before AS timestamptz))
      {keyset}
    ORDER BY {inner_order}
    LIMIT CAST(:limit AS int) + 1
) p
LEFT JOIN users u ON u.user_id = p.user_id
ORDER BY {outer_order}
"""


@dataclass(frozen=True)
class Sort:
    kind: str  # the name of its cursors' kind: a cursor of one sort is refused by the other
    key: tuple[str, str]
    inner_order: str
    outer_order: str
    keyset: str


SORTS: dict[str, Sort] = {
    "published_at": Sort(
        kind="posts:published_at",
        key=("published_at", "post_id"),
        inner_order="p.published_at DESC, p.post_id DESC",
        outer_order="p.published_at DESC, p.post_id DESC",
        keyset="AND (p.published_at, p.post_id) < (CAST(:c_1 AS timestamptz), CAST(:c_2 AS uuid))",
    ),
    "popular": Sort(
        kind="posts:popular",
        key=("score", "post_id"),
        inner_order=SCORE + " DESC, p.post_id DESC",
        outer_order="p.score DESC, p.post_id DESC",
        keyset="AND (" + SCORE + ", p.post_id) < (CAST(:c_1 AS numeric), CAST(:c_2 AS uuid))",
    ),
}

# fields= allow-list, in output order. post_id is always included.
LIST_FIELDS: dict[str, str] = {
    "post_id": "'post_id', p.post_id",
    "user_id": "'user_id', p.user_id",
    "title": "'title', p.title",
    "slug": "'slug', p.slug",
    "excerpt": "'excerpt', p.excerpt",
    "featured_image_url": "'featured_image_url', p.featured_image_url",
    "tags": "'tags', coalesce(p.tags, '{}'::text[])",
    "metadata": "'metadata', coalesce(p.metadata, '{}'::jsonb)",
    "view_count": "'view_count', p.view_count",
    "like_count": "'like_count', p.like_count",
    "comment_count": "'comment_count', p.comment_count",
    "score": "'score', p.score",
    "published_at": "'published_at', p.published_at",
    "updated_at": "'updated_at', p.updated_at",
    "author": "'author', " + AUTHOR_JSON,
}
DEFAULT_LIST_FIELDS = frozenset(LIST_FIELDS) - {"metadata", "score", "updated_at"}


@lru_cache(maxsize=256)
def list_sql(sort: str, fields: frozenset[str], with_cursor: bool) -> str:
    """The list statement for an allow-listed sort and field set (fixed fragments only)."""
    s = SORTS[sort]
    item = "json_build_object(" + ", ".join(sql for name, sql in LIST_FIELDS.items() if name in fields) + ")"
    return _LIST_SQL.format(
        item=item,
        score=SCORE,
        search=_match(DOCUMENT_TEXT),
        keyset=s.keyset if with_cursor else "",
        inner_order=s.inner_order,
        outer_order=s.outer_order,
    )


# -- search ranked by relevance ------------------------------------------------------------
# Relevance is a tier, by where the terms are:
#   1 = every term in the title;
#   2 = some of the terms in the title, not all, and every term somewhere in title, excerpt and content;
#   3 = every term in excerpt or content, none in the title.
# Within a tier, newest first. The keyset is (tier, published_at, post_id). The tiers' conditions
# exclude one another, so a post belongs to exactly one. A one-term search has no tier 2 (its term
# is in the title or not): the tier is planned away, and the search ranks as tiers 1 and 3.
#
# Each tier is answered by the first of a few bounded reads that is conclusive, decided per
# request inside the one statement. A probe reads the newest posts after the cursor through the
# feed index (a fixed window) and rechecks them: when the window holds more than a page of
# matches, those are exactly the first ones in the tier's order (every match outside the window
# is older). A small window serves common words; a larger one, run only when the small one fell
# short, serves words in a few percent of the posts. Tier 2, whose posts have a term in the title,
# reads between the two windows the posts whose title holds one of the terms, through the title's
# GIN index once per term, at most TITLE_CANDIDATE_ROWS of them: fewer means all of them, and the
# document is checked on those alone. The planner cannot make that choice itself: its estimate
# for a word's grams in the document is often one row when thousands match. When no read was
# conclusive, a GIN index finds all of the tier's matches and a top-N sort picks the page (rare
# words: few rows to fetch): the title's for tier 1, the document's for tiers 2 and 3.
# One-time filters on the counts make PostgreSQL run only what it needs; a tier runs only while
# the earlier tiers left the page short.
# Measured: BENCHMARKS.md, "Search" (bench/search.py).
TITLE_PROBE_ROWS = (1000,)
DOCUMENT_PROBE_ROWS = (300, 3000)
TITLE_CANDIDATE_ROWS = 1000

_SEARCH_FILTERS = """
      AND (CAST(:author AS uuid) IS NULL OR p.user_id = CAST(:author AS uuid))
      AND (CAST(:tag AS text) IS NULL OR p.tags @> ARRAY[CAST(:tag AS text)])
      AND (CAST(:after AS timestamptz) IS NULL OR p.published_at >= CAST(:after AS timestamptz))
      AND (CAST(:before AS timestamptz) IS NULL OR p.published_at < CAST(:before AS timestamptz))"""

# The columns of a page's rows. The tiers carry only the keyset (post_id, published_at): the rows
# of the page are read once, at the end, by primary key.
_SEARCH_COLUMNS = (
    "p.post_id, p.user_id, p.title, p.slug, p.excerpt, p.featured_image_url, p.tags, p.metadata, "
    "p.view_count, p.like_count, p.comment_count, p.published_at, p.updated_at, " + SCORE + " AS score"
)


def _some(text: str) -> str:
    """At least one term of :q in `text` (the recheck's patterns, any of them). Empty arrays: false."""
    return "(" + text + " LIKE ANY (CAST(:like AS text[])) OR " + text + " ILIKE ANY (CAST(:ilike AS text[])))"


# A condition on the parameters alone (decided at planning): the search has more than one term.
_SEVERAL_TERMS = "strpos(CAST(:q AS text), ' ') > 0"

ALL_IN_TITLE = _recheck(TITLE_TEXT)
SOME_IN_TITLE = _some(TITLE_TEXT)
ALL_IN_DOCUMENT = _recheck(DOCUMENT_TEXT)


@dataclass(frozen=True)
class SearchTier:
    recheck: str  # the tier's exact condition, checked on each row a probe reads
    match: str  # the same condition led by the index conditions the GIN branch reads
    windows: tuple[int, ...]  # the probes' windows, smallest first
    only_if: str = ""  # a condition on the parameters: otherwise the tier is planned away
    # (the title's part of `recheck`, the rest): when set, the bounded read of the posts whose
    # title holds a term comes after the small window
    by_title: tuple[str, str] | None = None


@dataclass(frozen=True)
class SearchSort:
    kind: str
    tiers: tuple[SearchTier, ...]  # best tier first


SEARCH_SORTS: dict[str, SearchSort] = {
    # The cursor kind names the three-tier order: a cursor of the earlier two-tier order
    # ("posts:search:relevance") would be misread against these tiers, so it is refused (400).
    "relevance": SearchSort(
        "posts:search:relevance3",
        (
            SearchTier(ALL_IN_TITLE, _match(TITLE_TEXT), TITLE_PROBE_ROWS),
            SearchTier(
                "(" + SOME_IN_TITLE + " AND NOT " + ALL_IN_TITLE + " AND " + ALL_IN_DOCUMENT + ")",
                "(" + _match(DOCUMENT_TEXT) + " AND " + SOME_IN_TITLE + " AND NOT " + ALL_IN_TITLE + ")",
                DOCUMENT_PROBE_ROWS,
                only_if=_SEVERAL_TERMS,
                by_title=(SOME_IN_TITLE + " AND NOT " + ALL_IN_TITLE, ALL_IN_DOCUMENT),
            ),
            SearchTier(
                "(NOT " + SOME_IN_TITLE + " AND " + ALL_IN_DOCUMENT + ")",
                "(" + _match(DOCUMENT_TEXT) + " AND NOT " + SOME_IN_TITLE + ")",
                DOCUMENT_PROBE_ROWS,
            ),
        ),
    ),
    "published_at": SearchSort(
        "posts:search:published_at", (SearchTier(ALL_IN_DOCUMENT, _match(DOCUMENT_TEXT), DOCUMENT_PROBE_ROWS),)
    ),
}
SEARCH_KEY = ("tier", "published_at", "post_id")


_PROBE_SQL = """
t{n}_probe{k} AS MATERIALIZED (
    SELECT p.post_id, p.published_at FROM (
        SELECT p.* FROM posts p
        WHERE p.status = 'published' {filters} {keyset} {gate}
        ORDER BY p.published_at DESC, p.post_id DESC
        LIMIT {probe_rows}
    ) p
    WHERE {recheck}
    ORDER BY p.published_at DESC, p.post_id DESC
    LIMIT CAST(:limit AS int) + 1
)"""

# The posts whose title holds a term (the title's GIN index, once per term), at most `cap` rows:
# fewer means all of them. A post with several of the terms comes once per term.
_TITLES_SQL = """
t{n}_titles AS MATERIALIZED (
    SELECT p.post_id FROM unnest(string_to_array(CAST(:q AS text), ' ')) AS w(term)
    CROSS JOIN LATERAL (
        SELECT p.post_id FROM posts p
        WHERE p.status = 'published' {filters} {keyset} {gate}
          AND search_grams({title}) @> search_query_grams(w.term) AND {title_recheck}
    ) p
    LIMIT {cap}
)"""

_TITLES_ANSWER_SQL = """
    (SELECT p.post_id, p.published_at FROM posts p
     WHERE p.post_id IN (SELECT post_id FROM {titles}) AND (SELECT count(*) FROM {titles}) < {cap} AND {rest}
     ORDER BY p.published_at DESC, p.post_id DESC
     LIMIT CAST(:limit AS int) + 1)"""

_INDEX_SQL = """
    (SELECT p.post_id, p.published_at FROM posts p
     WHERE p.status = 'published' {filters} {keyset} {gate} AND {match}
     ORDER BY p.published_at DESC, p.post_id DESC
     LIMIT CAST(:limit AS int) + 1)"""


def _tier_sql(n: int, tiers: tuple[SearchTier, ...]) -> str:
    t = tiers[n - 1]
    # Tiers before the cursor's are done; the cursor's own continues after its
    # key; later tiers start from their top.
    tier = "CAST(:c_tier AS int)"
    keyset = (
        "AND ("
        + tier
        + " IS NULL OR "
        + tier
        + " < "
        + str(n)
        + " OR ("
        + tier
        + " = "
        + str(n)
        + " AND (p.published_at, p.post_id) < (CAST(:c_ts AS timestamptz), CAST(:c_id AS uuid))))"
    )
    # A tier runs only while the earlier ones left the page short (and when it can hold anything).
    earlier = " + ".join("(SELECT count(*) FROM t" + str(i) + ")" for i in range(1, n))
    gate = ("AND (" + earlier + ") <= CAST(:limit AS int)" if earlier else "") + (
        " AND " + t.only_if if t.only_if else ""
    )
    parts = dict(filters=_SEARCH_FILTERS, keyset=keyset)
    # The bounded reads, in order, each as (its CTE, its answer when conclusive, "it fell short").
    # Each runs only when every read before it fell short; the GIN branch when all of them did.
    reads: list[tuple[str, str, str]] = []

    def after_reads() -> str:
        return gate + "".join(" AND " + fell_short for _, _, fell_short in reads)

    limit = "CAST(:limit AS int)"
    for k, rows in enumerate(t.windows, 1):
        probe = "t" + str(n) + "_probe" + str(k)
        count = "(SELECT count(*) FROM " + probe + ")"
        cte = _PROBE_SQL.format(n=n, k=k, probe_rows=rows, recheck=t.recheck, gate=after_reads(), **parts)
        reads.append((cte, "    SELECT * FROM " + probe + " WHERE " + count + " > " + limit, count + " <= " + limit))
        if k == 1 and t.by_title is not None:  # the titles' read comes after the small window
            titles = "t" + str(n) + "_titles"
            count = "(SELECT count(*) FROM " + titles + ")"
            cap = str(TITLE_CANDIDATE_ROWS)
            title_recheck, rest = t.by_title
            cte = _TITLES_SQL.format(
                n=n, title=TITLE_TEXT, title_recheck=title_recheck, gate=after_reads(), cap=cap, **parts
            )
            answer = _TITLES_ANSWER_SQL.format(titles=titles, cap=cap, rest=rest)
            reads.append((cte, answer, count + " >= " + cap))
    answers = [answer for _, answer, _ in reads]
    answers.append(_INDEX_SQL.format(gate=after_reads(), match=t.match, **parts))
    ctes = [cte for cte, _, _ in reads]
    return ",".join(ctes) + ",\nt" + str(n) + " AS MATERIALIZED (\n" + "\n    UNION ALL\n".join(answers) + "\n)"


@lru_cache(maxsize=64)
def search_sql(sort: str, fields: frozenset[str]) -> str:
    """The ranked search statement for an allow-listed sort and field set (fixed fragments only)."""
    tiers = SEARCH_SORTS[sort].tiers
    ctes = [_tier_sql(n, tiers) for n in range(1, len(tiers) + 1)]
    item = "json_build_object(" + ", ".join(sql for name, sql in LIST_FIELDS.items() if name in fields) + ")"
    union = " UNION ALL ".join(
        "SELECT " + str(n) + " AS tier, t" + str(n) + ".* FROM t" + str(n) for n in range(1, len(tiers) + 1)
    )
    return (
        "WITH" + ",".join(ctes) + "\nSELECT " + item + " AS item, x.tier, x.published_at, x.post_id, p.score\n"
        "FROM (" + union + ") x\nJOIN (SELECT " + _SEARCH_COLUMNS + " FROM posts p) p ON p.post_id = x.post_id\n"
        "LEFT JOIN users u ON u.user_id = p.user_id\n"
        "ORDER BY x.tier, x.published_at DESC, x.post_id DESC\nLIMIT CAST(:limit AS int) + 1"
    )


def _cursor_values(sort: Sort, kind: CursorKind, cursor: str) -> tuple[Any, str]:
    first, post_id = decode_cursor(kind, cursor, 2)
    try:
        if sort.key[0] == "published_at":
            if not isinstance(first, datetime):
                raise ValueError
        else:
            first = str(Decimal(str(first)))
        post_id = str(uuid.UUID(str(post_id)))
    except (ValueError, InvalidOperation, TypeError):
        raise InvalidCursor() from None
    return first, post_id


def _search_cursor(kind: CursorKind, cursor: str, tiers: int) -> tuple[int, datetime, str]:
    """The key of a ranked page's cursor: a tier of the sort's (1..tiers), a timestamp, a post id."""
    tier, ts, post_id = decode_cursor(kind, cursor, 3)
    try:
        if isinstance(tier, bool) or not isinstance(tier, int) or not 1 <= tier <= tiers:
            raise ValueError
        if not isinstance(ts, datetime):
            raise ValueError
        return tier, ts, str(uuid.UUID(str(post_id)))
    except (ValueError, TypeError):
        raise InvalidCursor() from None


def list_kind(
    sort: str,
    *,
    author: str | None,
    tag: str | None,
    search: SearchTerms | None,
    after: datetime | None,
    before: datetime | None,
) -> CursorKind:
    """The kind of the cursors of one listing: its order and every filter, as the statement compares
    them (the author's id and the folded tag as given, the search's terms as SearchTerms.key, the
    bounds as instants). `fields` and `limit` change no row and no order, so they are not in it."""
    name = SEARCH_SORTS[sort].kind if search is not None and sort in SEARCH_SORTS else SORTS[sort].kind
    return cursor_kind(
        name,
        author=author,
        tag=tag,
        q=search.key if search is not None else None,
        published_after=after,
        published_before=before,
    )


def list_posts(
    *,
    sort: str,
    fields: frozenset[str],
    limit: int,
    cursor: str | None,
    author: str | None,
    tag: str | None,
    search: SearchTerms | None,
    after: datetime | None,
    before: datetime | None,
) -> str:
    """One page of published posts as the response JSON text. With a search and
    sort `relevance` or `published_at`, the ranked search statement answers."""
    params: dict[str, Any] = {
        "author": author,
        "tag": tag,
        "q": search.q if search else None,
        "like": search.like if search else None,
        "ilike": search.ilike if search else None,
        "after": after,
        "before": before,
        "limit": limit,
    }
    # A page's keyset means something only for its own order and filters: the cursor names them,
    # so a cursor of another sort, search, author, tag or time range is refused, never skips rows.
    kind = list_kind(sort, author=author, tag=tag, search=search, after=after, before=before)
    if search is not None and sort in SEARCH_SORTS:
        ranked = SEARCH_SORTS[sort]
        params["c_tier"] = params["c_ts"] = params["c_id"] = None
        if cursor is not None:
            params["c_tier"], params["c_ts"], params["c_id"] = _search_cursor(kind, cursor, len(ranked.tiers))
        rows = get_database().all(search_sql(sort, fields), **params)
        items, next_cursor = page(rows, limit, kind, SEARCH_KEY)
    else:
        s = SORTS[sort]
        if cursor is not None:
            params["c_1"], params["c_2"] = _cursor_values(s, kind, cursor)
        rows = get_database().all(list_sql(sort, fields, cursor is not None), **params)
        items, next_cursor = page(rows, limit, kind, s.key)
    return page_json(rows_json(items), next_cursor)


def popular_posts(days: int, limit: int) -> str:
    return str(get_database().value(SQL.popular_posts, days=days, limit=limit))


# -- reads -----------------------------------------------------------------------------
def warm_up_reads(any_id: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The hot read's statement with parameters that match no row (`any_id`: a UUID), for a new
    session to load its catalog caches and plan before the first request (shared.snapstart)."""
    return ((SQL.get_post, {"post_id": any_id, "caller": any_id, "is_admin": False}),)


def get_post(post_id: str, who: Identity) -> tuple[str, int]:
    row = get_database().one(SQL.get_post, post_id=post_id, caller=who.sub, is_admin=who.is_admin)
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"]


def get_published(post_id: str) -> tuple[str, int]:
    """A published post and its version; NotFound for any other status (public route)."""
    row = get_database().one(SQL.get_post, post_id=post_id, caller=None, is_admin=False)
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"]


def get_own_post(post_id: str, who: Identity) -> tuple[str, int]:
    """The caller's own post in any status; NotFound when it is someone else's."""
    row = get_database().one(SQL.get_own_post, post_id=post_id, caller=who.sub)
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"]


def get_published_by_slug(slug: str) -> tuple[str, int, str]:
    """A published post by its slug as requested: percent-encoded or not (slug_candidates)."""
    slugs = slug_candidates(slug)
    row = get_database().one(SQL.get_published_by_slug, slugs=slugs) if slugs else None
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"], row["slug"]


# One view per viewer and post in this many seconds (sliding from the view that counted).
VIEW_WINDOW_SECONDS = 3600

# -- writes ----------------------------------------------------------------------------
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7f4e-3b7a-5d2e-9c41-2f8a0c5d7e13")


@dataclass(frozen=True)
class Created:
    """A created post, or the one an earlier attempt created (`new` False: a retry)."""

    new: bool
    post_id: str
    body: str
    version: int
    published_slug: str | None = None  # the slug of a post created published


def post_id_for(data: PostCreate, who: Identity, idempotency_key: str | None) -> str:
    """The new post's id: the client's, one derived from its Idempotency-Key
    (per author, so two clients' keys never meet), or a fresh one."""
    if data.post_id is not None:
        return str(data.post_id)
    if idempotency_key is not None:
        return derived_id(IDEMPOTENCY_NAMESPACE, who.sub, idempotency_key)
    return str(uuid.uuid4())


def _slug_taken(exc: Conflict) -> bool:
    return any(d.get("field") == "slug" for d in exc.details)


def create_post(
    who: Identity, data: PostCreate, idempotency_key: str | None, fingerprint: str | None = None
) -> Created:
    """Create, or replay an earlier create of the same post_id. `fingerprint`
    (the request fingerprint the app computed) is stored with the post, and a retry whose fingerprint
    differs, under the same Idempotency-Key or client-chosen post_id, is refused with
    IdempotencyKeyReused instead of replayed."""
    post_id = post_id_for(data, who, idempotency_key)
    base = data.slug or slugify(data.title)
    if data.slug:
        slug, alt = data.slug, None  # the client chose it: a collision is a Conflict
    elif base:
        slug, alt = base, f"{base}-{secrets.token_hex(3)}"
    else:  # no letter or digit in the title (only symbols or emoji): a neutral unique slug
        base = "post"
        slug = alt = f"post-{secrets.token_hex(4)}"
    params: dict[str, Any] = {
        "user_id": who.sub,
        "post_id": post_id,
        "title": data.title,
        "content": data.content,
        "excerpt": data.excerpt,
        "slug": slug,
        "alt_slug": alt,
        "status": data.status,
        "tags": data.tags,
        "metadata": _json(data.metadata),
        "featured_image_url": data.featured_image_url,
        "fingerprint": fingerprint,
    }
    db = get_database()
    for attempt in range(3):
        try:
            # Resending is safe (the post_id makes the insert idempotent), so a
            # broken connection is retried like a read.
            row = db.read(lambda s: s.one(SQL.create_post, **params))
            break
        except Conflict as exc:
            if alt is None or not _slug_taken(exc) or attempt == 2:
                raise
            # Another create took the slug between the check and the insert.
            params["slug"] = f"{base}-{secrets.token_hex(4)}"
            params["alt_slug"] = None
    assert row is not None
    if not row["registered"]:
        raise NotRegistered()
    if not row["active"]:
        raise AccountInactive()
    if row["created"] is not None:
        return Created(True, post_id, row["created"], row["created_version"], row["created_published_slug"])
    owner = row["existing_author"]
    if owner is None:
        # The same post_id was inserted concurrently, after this statement's snapshot.
        found = db.one(SQL.read_post, post_id=post_id)
        if found is None:
            raise Conflict("the post could not be created; try again")
        owner = found["owner"]
        row = {
            "existing": found["body"],
            "existing_version": found["version"],
            "existing_fingerprint": found["fingerprint"],
        }
    if owner != who.sub:
        raise Conflict(
            "a post with this id already exists",
            [{"field": "post_id", "message": "already used by another author"}],
            code="duplicate_id",
        )
    stored = row["existing_fingerprint"]
    if fingerprint is not None and stored is not None and stored != fingerprint:
        raise IdempotencyKeyReused() if data.post_id is None else IdempotencyKeyReused("post_id", "body")
    return Created(False, post_id, row["existing"], row["existing_version"])


def _deny(owner: str, status: str, who: Identity) -> None:
    """Refuse a write by someone who is neither the author nor an admin. Drafts
    and archived posts of others are reported missing, as GET does."""
    if owner != who.sub and not who.is_admin:
        if status != "published":
            raise NotFound("post not found")
        raise Forbidden("only the author or an administrator can change this post")


def update_post(post_id: str, who: Identity, changes: dict[str, Any], expected: list[int] | None) -> tuple[str, int]:
    row = get_database().write_one(
        SQL.update_post,
        patch=_json(changes),
        post_id=post_id,
        caller=who.sub,
        is_admin=who.is_admin,
        expected=expected,
    )
    if row is None:
        raise NotFound("post not found")
    if row["body"] is not None:
        return row["body"], row["version"]
    _deny(row["owner"], row["status"], who)
    if not who.is_admin and not row["caller_active"]:
        # A deactivated account publishes and edits nothing, as it creates nothing.
        raise AccountInactive()
    if row["status"] == "archived":
        raise Conflict("the post is archived; archived posts cannot be edited", code="post_archived")
    raise StaleVersion("post")


def archive_post(post_id: str, who: Identity, expected: list[int] | None) -> None:
    row = get_database().write_one(
        SQL.archive_post, post_id=post_id, caller=who.sub, is_admin=who.is_admin, expected=expected
    )
    if row is None:
        raise NotFound("post not found")
    if row["archived"]:
        return
    _deny(row["owner"], row["status"], who)
    if row["status"] == "archived":
        return  # already archived: DELETE is idempotent
    raise StaleVersion("post")


def count_view(post_id: str, viewer: bytes) -> int:
    """The post's view count after this view; NotFound when it is not a published post.

    `viewer` is a 32-byte digest naming the viewer (see posts_app.viewer_key). A
    viewer's views of one post count once per VIEW_WINDOW_SECONDS; the others
    answer the current count without changing it.
    """
    # Not retried after a lost reply: it runs as a write, so it counts once or fails with ServiceUnavailable.
    row = get_database().write(
        lambda s: s.one(SQL.count_view, post_id=post_id, viewer=viewer, window_seconds=VIEW_WINDOW_SECONDS)
    )
    if row is None:
        raise NotFound("post not found")
    return int(row["view_count"])


def set_like(post_id: str, who: Identity, liked: bool) -> dict[str, Any]:
    db = get_database()
    # Both statements are idempotent per (post, user): safe to resend.
    if liked:
        row = db.read(lambda s: s.one(SQL.like_post, post_id=post_id, user_id=who.sub))
    else:
        row = db.read(lambda s: s.one(SQL.unlike_post, post_id=post_id, user_id=who.sub))
    assert row is not None
    if not row["found"]:
        raise NotFound("post not found")
    if liked and not row["registered"]:
        raise NotRegistered()
    if liked and not row["active"]:
        raise AccountInactive()
    return {"liked": liked, "like_count": int(row["like_count"])}


def transfer_post(post_id: str, new_author_id: str, admin: Identity) -> tuple[str, int]:
    """Move a post to another active author: one transaction, all or nothing."""
    with get_database().transaction() as tx:
        moved = tx.one(SQL.transfer_move, post_id=post_id, new_author_id=new_author_id)
        assert moved is not None
        if moved["from_user_id"] is None:
            raise NotFound("post not found")
        if moved["new_author_active"] is None:
            raise NotFound("user not found", [{"field": "new_author_id", "message": "no such user"}])
        if not moved["new_author_active"]:
            raise Unprocessable(
                "the new author's account is not active",
                [{"field": "new_author_id", "message": "inactive user"}],
            )
        if moved["moved"]:
            tx.execute(
                SQL.record_transfer,
                post_id=post_id,
                from_user_id=moved["from_user_id"],
                to_user_id=new_author_id,
                transferred_by=admin.sub,
            )
        row = tx.one(SQL.read_post, post_id=post_id)
    assert row is not None
    return row["body"], row["version"]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
