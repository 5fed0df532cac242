"""SQL of the posts API and the functions that run it.

Every statement is a named, parameterized constant. The list query is put
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

from shared.db import get_database
from shared.errors import (
    CONSTRAINT_MESSAGES,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from shared.http import Identity, key_reused
from shared.pagination import decode_cursor, page

CONSTRAINT_MESSAGES.update(
    {
        "posts_slug_key": ("slug", "another post already uses this slug"),
        "posts_published_has_date": ("status", "a published post needs a publication date"),
        "posts_counters_not_negative": ("like_count", "a counter cannot go below zero"),
        "post_transfers_other_author": ("new_author_id", "the post already belongs to this user"),
    }
)

# -- fragments ------------------------------------------------------------------------
# The author summary embedded in posts: never email, phone or birth date.
AUTHOR_JSON = (
    "json_build_object('user_id', u.user_id, 'username', u.username, 'first_name', u.first_name, "
    "'last_name', u.last_name, 'profile_image_url', u.profile_image_url)"
)

# A whole post (`p` = posts row, `u` = its author).
POST_JSON = (
    "json_build_object('post_id', p.post_id, 'user_id', p.user_id, 'title', p.title, 'slug', p.slug, "
    "'content', p.content, 'excerpt', p.excerpt, 'status', p.status, 'featured_image_url', p.featured_image_url, "
    "'tags', coalesce(p.tags, '{}'::text[]), 'metadata', coalesce(p.metadata, '{}'::jsonb), "
    "'view_count', p.view_count, 'like_count', p.like_count, 'comment_count', p.comment_count, "
    "'published_at', p.published_at, 'created_at', p.created_at, 'updated_at', p.updated_at, "
    "'author', " + AUTHOR_JSON + ")"
)

# Seed 004's popularity score.
SCORE = "(p.view_count * 0.1 + p.like_count * 2 + p.comment_count * 3)"

# Search (sql/migrations/0010): the grams of the indexed expressions narrow the
# candidates through GIN; ILIKE on the real text confirms every term. Each
# expression is spelled exactly as its index is, or the planner cannot use it.
TITLE_TEXT = "p.title"


# The recheck, appended to a text expression: caseless terms byte for byte, the
# others case-insensitively (posts_models.SearchTerms). An empty array is true.
def _recheck(text: str) -> str:
    return "(" + text + " LIKE ALL (CAST(:like AS text[])) AND " + text + " ILIKE ALL (CAST(:ilike AS text[])))"


DOCUMENT_TEXT = "(p.title || E'\\n' || coalesce(p.excerpt, '') || E'\\n' || p.content)"


def _match(text: str) -> str:
    """Every term of :q in `text`: the index condition, then the exact recheck."""
    return "(search_grams(" + text + ") @> search_query_grams(CAST(:q AS text)) AND " + _recheck(text) + ")"


# -- single posts -----------------------------------------------------------------------
# Published posts to any signed-in caller; drafts and archived posts only to
# their author or an administrator (others cannot tell them from missing ones).
GET_POST = (
    "SELECT " + POST_JSON + " AS body, p.version "
    "FROM posts p JOIN users u ON u.user_id = p.user_id "
    "WHERE p.post_id = CAST(:post_id AS uuid) "
    "AND (p.status = 'published' OR p.user_id = CAST(:caller AS uuid) OR CAST(:is_admin AS boolean))"
)

# The caller's own post, whatever its status (GET /me/posts/{post_id}).
GET_OWN_POST = (
    "SELECT " + POST_JSON + " AS body, p.version "
    "FROM posts p JOIN users u ON u.user_id = p.user_id "
    "WHERE p.post_id = CAST(:post_id AS uuid) AND p.user_id = CAST(:caller AS uuid)"
)

GET_PUBLISHED_BY_SLUG = (
    "SELECT " + POST_JSON + " AS body, p.version, p.slug "
    "FROM posts p JOIN users u ON u.user_id = p.user_id "
    "WHERE p.slug = ANY (CAST(:slugs AS text[])) AND p.status = 'published' "
    "ORDER BY array_position(CAST(:slugs AS text[]), CAST(p.slug AS text)) LIMIT 1"
)

# -- writes ---------------------------------------------------------------------------
# Create, idempotent by post_id. The author must be a registered, active user.
# A derived slug that is taken gets the random suffix the caller passed as
# alt_slug (a race between the check and the insert surfaces as posts_slug_key
# and is retried with a new suffix). A post_id that exists is not inserted
# again: the statement returns the existing post and its author instead.
CREATE_POST = (
    """
WITH author AS (
    SELECT u.user_id, u.username, u.first_name, u.last_name, u.profile_image_url
    FROM users u
    WHERE u.user_id = CAST(:user_id AS uuid) AND u.is_active IS NOT FALSE
), existing AS (
    SELECT p.* FROM posts p WHERE p.post_id = CAST(:post_id AS uuid)
), ins AS (
    INSERT INTO posts (post_id, user_id, title, content, excerpt, slug, status, tags, metadata,
                       featured_image_url, published_at, idempotency_fingerprint)
    SELECT CAST(:post_id AS uuid), a.user_id, CAST(:title AS text), CAST(:content AS text), CAST(:excerpt AS text),
           CASE WHEN CAST(:alt_slug AS text) IS NOT NULL
                     AND EXISTS (SELECT 1 FROM posts s WHERE s.slug = CAST(:slug AS text))
                THEN CAST(:alt_slug AS text) ELSE CAST(:slug AS text) END,
           CAST(:status AS text), CAST(:tags AS text[]), CAST(:metadata AS jsonb), CAST(:featured_image_url AS text),
           CASE WHEN CAST(:status AS text) = 'published' THEN now() END, CAST(:fingerprint AS text)
    FROM author a
    WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (post_id) DO NOTHING
    RETURNING *
)
SELECT EXISTS (SELECT 1 FROM author) AS registered,
       (SELECT """
    + POST_JSON
    + """ FROM ins p CROSS JOIN author u) AS created,
       (SELECT p.version FROM ins p) AS created_version,
       (SELECT p.slug FROM ins p WHERE p.status = 'published') AS created_published_slug,
       (SELECT e.user_id::text FROM existing e) AS existing_author,
       (SELECT """
    + POST_JSON
    + """ FROM existing p JOIN users u ON u.user_id = p.user_id) AS existing,
       (SELECT e.version FROM existing e) AS existing_version,
       (SELECT e.idempotency_fingerprint FROM existing e) AS existing_fingerprint
"""
)

# PATCH: applies the JSON patch of the fields the client sent, in one statement.
# The conditions sit on the row being updated (p.*), so a concurrent update is
# re-checked against the newest row version: of two PATCHes holding the same
# ETag, exactly one matches. `target` tells a missing post from a refused one.
UPDATE_POST = (
    """
WITH patch AS (
    SELECT CAST(:patch AS jsonb) AS j
), target AS (
    SELECT p.post_id, p.user_id, p.status FROM posts p WHERE p.post_id = CAST(:post_id AS uuid)
), upd AS (
    UPDATE posts p SET
        title = CASE WHEN x.j ? 'title' THEN x.j ->> 'title' ELSE p.title END,
        content = CASE WHEN x.j ? 'content' THEN x.j ->> 'content' ELSE p.content END,
        excerpt = CASE WHEN x.j ? 'excerpt' THEN x.j ->> 'excerpt' ELSE p.excerpt END,
        featured_image_url = CASE WHEN x.j ? 'featured_image_url' THEN x.j ->> 'featured_image_url'
                                  ELSE p.featured_image_url END,
        tags = CASE WHEN x.j ? 'tags' THEN ARRAY(SELECT jsonb_array_elements_text(x.j -> 'tags')) ELSE p.tags END,
        metadata = CASE WHEN x.j ? 'metadata' THEN x.j -> 'metadata' ELSE p.metadata END,
        status = coalesce(x.j ->> 'status', p.status),
        published_at = CASE WHEN coalesce(x.j ->> 'status', p.status) = 'published'
                            THEN coalesce(p.published_at, now()) ELSE p.published_at END,
        version = p.version + 1
    FROM target t, patch x
    WHERE p.post_id = t.post_id
      AND (CAST(:is_admin AS boolean) OR (p.user_id = CAST(:caller AS uuid) AND EXISTS (
            SELECT 1 FROM users c WHERE c.user_id = CAST(:caller AS uuid) AND c.is_active)))
      AND p.status <> 'archived'
      AND (CAST(:expected AS int[]) IS NULL OR p.version = ANY (CAST(:expected AS int[])))
    RETURNING p.*
)
SELECT t.user_id::text AS owner, t.status,
       EXISTS (SELECT 1 FROM users c WHERE c.user_id = CAST(:caller AS uuid) AND c.is_active) AS caller_active,
       (SELECT """
    + POST_JSON
    + """ FROM upd p JOIN users u ON u.user_id = p.user_id) AS body,
       (SELECT p.version FROM upd p) AS version
FROM target t
"""
)

# DELETE archives: the row and everything hanging off it stay.
ARCHIVE_POST = """
WITH target AS (
    SELECT p.post_id, p.user_id, p.status FROM posts p WHERE p.post_id = CAST(:post_id AS uuid)
), upd AS (
    UPDATE posts p SET status = 'archived', version = p.version + 1
    FROM target t
    WHERE p.post_id = t.post_id
      AND (p.user_id = CAST(:caller AS uuid) OR CAST(:is_admin AS boolean))
      AND p.status <> 'archived'
      AND (CAST(:expected AS int[]) IS NULL OR p.version = ANY (CAST(:expected AS int[])))
    RETURNING p.post_id
)
SELECT t.user_id::text AS owner, t.status, EXISTS (SELECT 1 FROM upd) AS archived
FROM target t
"""

# A view of a published post, counted at most once per viewer and window, in one
# statement. `mark` records (post, viewer) or, when a mark exists, moves it only if it
# is older than the window; a concurrent duplicate waits on the primary key and then
# finds the fresh mark, so it does not count. `sweep` deletes a few expired marks
# (never the one `mark` touches: a statement may not change a row twice), enough to
# keep the table at about one window of views. view_count is the new count, or the
# unchanged one; NULL when the post is not published.
COUNT_VIEW = """
WITH target AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), mark AS (
    INSERT INTO post_view_marks AS m (post_id, viewer, counted_at)
    SELECT t.post_id, :viewer, now() FROM target t
    ON CONFLICT (post_id, viewer) DO UPDATE SET counted_at = EXCLUDED.counted_at
        WHERE m.counted_at <= now() - make_interval(secs => :window_seconds)
    RETURNING m.post_id
), sweep AS (
    DELETE FROM post_view_marks d
    WHERE (d.post_id, d.viewer) IN (
        SELECT e.post_id, e.viewer FROM post_view_marks e
        WHERE e.counted_at <= now() - make_interval(secs => :window_seconds)
          AND NOT (e.post_id = CAST(:post_id AS uuid) AND e.viewer = :viewer)
        ORDER BY e.counted_at
        LIMIT 4
        FOR UPDATE SKIP LOCKED
    )
), counted AS (
    UPDATE posts p SET view_count = p.view_count + 1 FROM mark WHERE p.post_id = mark.post_id
    RETURNING p.view_count
)
SELECT coalesce((SELECT view_count FROM counted), p.view_count) AS view_count,
       EXISTS (SELECT 1 FROM counted) AS counted
FROM target t JOIN posts p ON p.post_id = t.post_id
"""
# One view per viewer and post in this many seconds (sliding from the view that counted).
VIEW_WINDOW_SECONDS = 3600

# Likes: posts.like_count moves by the rows this statement really inserted or
# deleted, and the UPDATE reads the newest like_count under the row lock, so the
# count stays exact under any concurrency; a repeated like or unlike writes nothing.
LIKE_POST = """
WITH target AS (
    SELECT p.post_id, p.like_count FROM posts p
    WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), liker AS (
    SELECT u.user_id FROM users u WHERE u.user_id = CAST(:user_id AS uuid) AND u.is_active IS NOT FALSE
), ins AS (
    INSERT INTO post_likes (post_id, user_id)
    SELECT t.post_id, l.user_id FROM target t CROSS JOIN liker l
    ON CONFLICT (post_id, user_id) DO NOTHING
    RETURNING post_id
), bump AS (
    UPDATE posts p SET like_count = p.like_count + 1
    FROM ins WHERE p.post_id = ins.post_id
    RETURNING p.like_count
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       EXISTS (SELECT 1 FROM liker) AS registered,
       coalesce((SELECT like_count FROM bump), (SELECT like_count FROM target)) AS like_count
"""

UNLIKE_POST = """
WITH target AS (
    SELECT p.post_id, p.like_count FROM posts p
    WHERE p.post_id = CAST(:post_id AS uuid) AND p.status = 'published'
), del AS (
    DELETE FROM post_likes l USING target t
    WHERE l.post_id = t.post_id AND l.user_id = CAST(:user_id AS uuid)
    RETURNING l.post_id
), dec AS (
    UPDATE posts p SET like_count = p.like_count - 1
    FROM del WHERE p.post_id = del.post_id
    RETURNING p.like_count
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       coalesce((SELECT like_count FROM dec), (SELECT like_count FROM target)) AS like_count
"""

# Transfer (seed 004's transferPost), statement 1 of its transaction: lock the
# post and the new author (who then cannot be deactivated before COMMIT), and
# move the post when the new author is active and differs from the current one.
TRANSFER_MOVE = """
WITH target AS (
    SELECT p.post_id, p.user_id FROM posts p WHERE p.post_id = CAST(:post_id AS uuid) FOR UPDATE
), new_author AS (
    SELECT u.user_id, u.is_active IS NOT FALSE AS active
    FROM users u WHERE u.user_id = CAST(:new_author_id AS uuid) FOR SHARE
), moved AS (
    UPDATE posts p SET user_id = n.user_id, version = p.version + 1
    FROM target t, new_author n
    WHERE p.post_id = t.post_id AND n.active AND p.user_id <> n.user_id
    RETURNING p.post_id
)
SELECT (SELECT t.user_id::text FROM target t) AS from_user_id,
       (SELECT n.active FROM new_author n) AS new_author_active,
       EXISTS (SELECT 1 FROM moved) AS moved
"""

# Statement 2: the audit record. If it fails, the move of statement 1 is rolled back.
RECORD_TRANSFER = """
INSERT INTO post_transfers (post_id, from_user_id, to_user_id, transferred_by)
VALUES (CAST(:post_id AS uuid), CAST(:from_user_id AS uuid), CAST(:to_user_id AS uuid), CAST(:transferred_by AS uuid))
"""

# Any post by id, whatever its status (after a write by its author or an admin).
READ_POST = (
    "SELECT " + POST_JSON + " AS body, p.version, p.user_id::text AS owner, "
    "p.idempotency_fingerprint AS fingerprint "
    "FROM posts p JOIN users u ON u.user_id = p.user_id WHERE p.post_id = CAST(:post_id AS uuid)"
)

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
    kind: str  # the cursor's kind: a cursor of one sort is refused by the other
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
# Relevance is a tier: 1 = every term in the title, 2 = every term somewhere in
# title, excerpt and content (not all in the title). Within a tier, newest first.
# The keyset is (tier, published_at, post_id).
#
# Each tier is answered one of three ways, decided per request inside the one
# statement. A probe reads the newest posts after the cursor through the feed
# index (a fixed window) and rechecks them: when the window holds more than a
# page of matches, those are exactly the first ones in the tier's order (every
# match outside the window is older). A small window serves common words; a
# larger one, run only when the small one fell short, serves words in a few
# percent of the posts. Otherwise the GIN index finds all of the tier's matches
# and a top-N sort picks the page (rare words: few rows to fetch). One-time
# filters on the probes' counts make PostgreSQL run only what it needs; a tier
# runs only while the earlier tiers left the page short.
# Measured: BENCHMARKS.md, "Search" (bench/search.py).
TITLE_PROBE_ROWS = (1000,)
DOCUMENT_PROBE_ROWS = (300, 3000)

_SEARCH_FILTERS = """
      AND (CAST(:author AS uuid) IS NULL OR p.user_id = CAST(:author AS uuid))
      AND (CAST(:tag AS text) IS NULL OR p.tags @> ARRAY[CAST(:tag AS text)])
      AND (CAST(:after AS timestamptz) IS NULL OR p.published_at >= CAST(:after AS timestamptz))
      AND (CAST(:before AS timestamptz) IS NULL OR p.published_at < CAST(:before AS timestamptz))"""

_SEARCH_COLUMNS = (
    "p.post_id, p.user_id, p.title, p.slug, p.excerpt, p.featured_image_url, p.tags, p.metadata, "
    "p.view_count, p.like_count, p.comment_count, p.published_at, p.updated_at, " + SCORE + " AS score"
)


_PROBE_SQL = """
t{n}_probe{k} AS MATERIALIZED (
    SELECT {columns} FROM (
        SELECT p.* FROM posts p
        WHERE p.status = 'published' {filters} {keyset} {gate}
        ORDER BY p.published_at DESC, p.post_id DESC
        LIMIT {probe_rows}
    ) p
    WHERE {recheck} {exclude}
    ORDER BY p.published_at DESC, p.post_id DESC
    LIMIT CAST(:limit AS int) + 1
)"""

_INDEX_SQL = """
    (SELECT {columns} FROM posts p
     WHERE p.status = 'published' {filters} {keyset} {gate} AND {match} {exclude}
     ORDER BY p.published_at DESC, p.post_id DESC
     LIMIT CAST(:limit AS int) + 1)"""


@dataclass(frozen=True)
class SearchSort:
    kind: str
    tiers: tuple[tuple[str, tuple[int, ...]], ...]  # (searched text, probe windows), best tier first


SEARCH_SORTS: dict[str, SearchSort] = {
    "relevance": SearchSort(
        "posts:search:relevance", ((TITLE_TEXT, TITLE_PROBE_ROWS), (DOCUMENT_TEXT, DOCUMENT_PROBE_ROWS))
    ),
    "published_at": SearchSort("posts:search:published_at", ((DOCUMENT_TEXT, DOCUMENT_PROBE_ROWS),)),
}
SEARCH_KEY = ("tier", "published_at", "post_id")


def _tier_sql(n: int, tiers: tuple[tuple[str, tuple[int, ...]], ...]) -> str:
    text, windows = tiers[n - 1]
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
    # A tier runs only while the earlier ones left the page short.
    earlier = " + ".join("(SELECT count(*) FROM t" + str(i) + ")" for i in range(1, n))
    gate = "AND (" + earlier + ") <= CAST(:limit AS int)" if earlier else ""
    # A match of an earlier tier belongs to that tier only.
    exclude = "".join("AND NOT " + _recheck(t) + " " for t, _ in tiers[: n - 1])
    parts = dict(columns=_SEARCH_COLUMNS, filters=_SEARCH_FILTERS, keyset=keyset, exclude=exclude)
    probes = ["t" + str(n) + "_probe" + str(k) for k in range(1, len(windows) + 1)]

    def short(names: list[str]) -> str:  # every named probe found at most a page
        return "".join(" AND (SELECT count(*) FROM " + p + ") <= CAST(:limit AS int)" for p in names)

    ctes = [
        _PROBE_SQL.format(
            n=n, k=k, probe_rows=rows, recheck=_recheck(text), gate=gate + short(probes[: k - 1]), **parts
        )
        for k, rows in enumerate(windows, 1)
    ]
    answers = [
        "    SELECT * FROM " + p + " WHERE (SELECT count(*) FROM " + p + ") > CAST(:limit AS int)" for p in probes
    ]
    answers.append(_INDEX_SQL.format(gate=gate + short(probes), match=_match(text), **parts))
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
        "WITH" + ",".join(ctes) + "\nSELECT " + item + " AS item, p.tier, p.published_at, p.post_id, p.score\n"
        "FROM (" + union + ") p\nLEFT JOIN users u ON u.user_id = p.user_id\n"
        "ORDER BY p.tier, p.published_at DESC, p.post_id DESC\nLIMIT CAST(:limit AS int) + 1"
    )


def parse_fields(raw: str | None, sort: str) -> frozenset[str]:
    """`fields=a,b` against the allow-list; unknown names are a 422."""
    if raw is None or not raw.strip():
        return DEFAULT_LIST_FIELDS | ({"score"} if sort == "popular" else set())
    names = {f.strip() for f in raw.split(",") if f.strip()}
    unknown = sorted(names - LIST_FIELDS.keys())
    if unknown:
        raise Unprocessable(
            "unknown fields requested",
            [
                {
                    "field": "fields",
                    "in": "query",
                    "message": f"unknown: {', '.join(unknown)}; allowed: {', '.join(LIST_FIELDS)}",
                }
            ],
        )
    return frozenset(names | {"post_id"})


def _cursor_values(sort: Sort, cursor: str) -> tuple[Any, str]:
    first, post_id = decode_cursor(sort.kind, cursor, 2)
    try:
        if sort.key[0] == "published_at":
            if not isinstance(first, datetime):
                raise ValueError
        else:
            first = str(Decimal(str(first)))
        post_id = str(uuid.UUID(str(post_id)))
    except (ValueError, InvalidOperation, TypeError):
        raise BadRequest(
            "the cursor is invalid or belongs to another list; start again without it",
            [{"field": "cursor", "message": "invalid cursor"}],
            code="invalid_cursor",
        ) from None
    return first, post_id


def _search_cursor(kind: str, cursor: str) -> tuple[int, datetime, str]:
    tier, ts, post_id = decode_cursor(kind, cursor, 3)
    try:
        if not isinstance(tier, int) or isinstance(tier, bool) or not 1 <= tier <= 2 or not isinstance(ts, datetime):
            raise ValueError
        return tier, ts, str(uuid.UUID(str(post_id)))
    except (ValueError, TypeError):
        raise BadRequest(
            "the cursor is invalid or belongs to another list; start again without it",
            [{"field": "cursor", "message": "invalid cursor"}],
            code="invalid_cursor",
        ) from None


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
    if search is not None and sort in SEARCH_SORTS:
        kind = SEARCH_SORTS[sort].kind
        params["c_tier"] = params["c_ts"] = params["c_id"] = None
        if cursor is not None:
            params["c_tier"], params["c_ts"], params["c_id"] = _search_cursor(kind, cursor)
        rows = get_database().all(search_sql(sort, fields), **params)
        items, next_cursor = page(rows, limit, kind, SEARCH_KEY)
    else:
        s = SORTS[sort]
        if cursor is not None:
            params["c_1"], params["c_2"] = _cursor_values(s, cursor)
        rows = get_database().all(list_sql(sort, fields, cursor is not None), **params)
        items, next_cursor = page(rows, limit, s.kind, s.key)
    tail = '"' + next_cursor + '"' if next_cursor else "null"
    return '{"items":[' + ",".join(r["item"] for r in items) + '],"next_cursor":' + tail + "}"


# Top posts of the last `days` days by score, without reading the whole window. The window
# splits into disjoint published_at ranges (sql/migrations/0012), each giving its top `limit`:
#   S1 [since, first_day)                   the partial first UTC day D. If at least `limit` of D's
#                                           ranked posts (its top 50) fall inside, its top `limit` is
#                                           among them (any other post of D scored lower than all 50):
#                                           read from the ranking. Otherwise live, idx_posts_published_feed.
#   S2 [first_day, ranked_through)          complete days: popular_post_days, read best-first through
#                                           idx_popular_post_days_rank (the table holds no later day)
#   S3 [max(first_day, ranked_through), today)  days the ranking has not reached yet: live; empty
#                                           unless the refresh is late (then skipped by a one-time filter)
#   S4 [today, now]                         today (UTC): live
# The bounds are expressions of now() and :days, so the planner sees the real ranges. Days are 24
# hours of UTC. Order and ties: (score DESC, post_id DESC) everywhere. Ranked rows carry their
# score as ranked (at most one refresh period old).
_SINCE = "(now() - make_interval(days => CAST(:days AS int)))"
_FIRST_DAY = "(date_trunc('day', " + _SINCE + " AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '24 hours')"
_BOUNDARY_DAY = "CAST((" + _FIRST_DAY + " - interval '24 hours') AT TIME ZONE 'UTC' AS date)"
_TODAY = "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
_RANKED = "coalesce((SELECT ranked_through FROM popular_ranking_state), '-infinity')"


def _live(where: str) -> str:
    return (
        "(SELECT p.post_id, " + SCORE + " AS score FROM posts p WHERE p.status = 'published' AND " + where + " "
        "ORDER BY score DESC, p.post_id DESC LIMIT CAST(:limit AS int))"
    )


def _ranked(where: str) -> str:
    return (
        "(SELECT r.post_id, r.score FROM popular_post_days r JOIN posts p ON p.post_id = r.post_id "
        "WHERE p.status = 'published' AND "
        + where
        + " ORDER BY r.score DESC, r.post_id DESC LIMIT CAST(:limit AS int))"
    )


POPULAR_POSTS = (
    """
WITH boundary AS (
    SELECT count(*) >= CAST(:limit AS int) AS ranked
    FROM popular_post_days r JOIN posts p ON p.post_id = r.post_id
    WHERE p.status = 'published' AND r.day = """
    + _BOUNDARY_DAY
    + " AND r.published_at >= "
    + _SINCE
    + """
), top AS (
    """
    + _ranked("(SELECT ranked FROM boundary) AND r.day = " + _BOUNDARY_DAY + " AND r.published_at >= " + _SINCE)
    + "\n    UNION ALL "
    + _live("NOT (SELECT ranked FROM boundary) AND p.published_at >= " + _SINCE + " AND p.published_at < " + _FIRST_DAY)
    + "\n    UNION ALL "
    + _ranked("r.day >= CAST(" + _FIRST_DAY + " AT TIME ZONE 'UTC' AS date)")
    + "\n    UNION ALL "
    + _live(
        _RANKED
        + " < "
        + _TODAY
        + " AND p.published_at >= greatest("
        + _FIRST_DAY
        + ", "
        + _RANKED
        + ") AND p.published_at < "
        + _TODAY
    )
    + "\n    UNION ALL "
    + _live("p.published_at >= " + _TODAY)
    + """
)
SELECT json_build_object('items', coalesce(json_agg(json_build_object(
           'post_id', p.post_id, 'title', p.title, 'slug', p.slug, 'excerpt', p.excerpt,
           'featured_image_url', p.featured_image_url, 'tags', coalesce(p.tags, '{}'::text[]),
           'view_count', p.view_count, 'like_count', p.like_count, 'comment_count', p.comment_count,
           'score', t.score, 'published_at', p.published_at, 'author', """
    + AUTHOR_JSON
    + """
       ) ORDER BY t.score DESC, t.post_id DESC), '[]'::json)) AS body
FROM (SELECT post_id, score FROM top ORDER BY score DESC, post_id DESC LIMIT CAST(:limit AS int)) t
JOIN posts p ON p.post_id = t.post_id
JOIN users u ON u.user_id = p.user_id
"""
)


def popular_posts(days: int, limit: int) -> str:
    return str(get_database().value(POPULAR_POSTS, days=days, limit=limit))


# -- reads -----------------------------------------------------------------------------
def get_post(post_id: str, who: Identity) -> tuple[str, int]:
    row = get_database().one(GET_POST, post_id=post_id, caller=who.sub, is_admin=who.is_admin)
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"]


def get_published(post_id: str) -> tuple[str, int]:
    """A published post and its version; NotFound for any other status (public route)."""
    row = get_database().one(GET_POST, post_id=post_id, caller=None, is_admin=False)
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"]


def get_own_post(post_id: str, who: Identity) -> tuple[str, int]:
    """The caller's own post in any status; NotFound when it is someone else's."""
    row = get_database().one(GET_OWN_POST, post_id=post_id, caller=who.sub)
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"]


def get_published_by_slug(slug: str) -> tuple[str, int, str]:
    """A published post by its slug as requested: percent-encoded or not (slug_candidates)."""
    slugs = slug_candidates(slug)
    row = get_database().one(GET_PUBLISHED_BY_SLUG, slugs=slugs) if slugs else None
    if row is None:
        raise NotFound("post not found")
    return row["body"], row["version"], row["slug"]


# -- writes ----------------------------------------------------------------------------
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7f4e-3b7a-5d2e-9c41-2f8a0c5d7e13")


@dataclass(frozen=True)
class Created:
    status: int  # 201 first time, 200 for a retry
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
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, who.sub + "\n" + idempotency_key))
    return str(uuid.uuid4())


def _slug_taken(exc: Conflict) -> bool:
    return any(d.get("field") == "slug" for d in exc.details)


def create_post(
    who: Identity, data: PostCreate, idempotency_key: str | None, fingerprint: str | None = None
) -> Created:
    """Create, or replay an earlier create of the same post_id. `fingerprint`
    (shared.http.request_fingerprint) is stored with the post, and a retry whose fingerprint
    differs, under the same Idempotency-Key or client-chosen post_id, is refused with 422
    idempotency_key_reused instead of replayed."""
    post_id = post_id_for(data, who, idempotency_key)
    base = data.slug or slugify(data.title)
    if data.slug:
        slug, alt = data.slug, None  # the client chose it: a collision is a 409
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
            row = db.read(lambda s: s.one(CREATE_POST, **params))
            break
        except Conflict as exc:
            if alt is None or not _slug_taken(exc) or attempt == 2:
                raise
            # Another create took the slug between the check and the insert.
            params["slug"] = f"{base}-{secrets.token_hex(4)}"
            params["alt_slug"] = None
    assert row is not None
    if not row["registered"]:
        raise Forbidden("register first: your account has no active user profile", code="not_registered")
    if row["created"] is not None:
        return Created(201, post_id, row["created"], row["created_version"], row["created_published_slug"])
    owner = row["existing_author"]
    if owner is None:
        # The same post_id was inserted concurrently, after this statement's snapshot.
        found = db.one(READ_POST, post_id=post_id)
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
        raise key_reused() if data.post_id is None else key_reused("post_id", "body")
    return Created(200, post_id, row["existing"], row["existing_version"])


def _deny(owner: str, status: str, who: Identity) -> None:
    """Refuse a write by someone who is neither the author nor an admin. Drafts
    and archived posts of others are reported missing, as GET does."""
    if owner != who.sub and not who.is_admin:
        if status != "published":
            raise NotFound("post not found")
        raise Forbidden("only the author or an administrator can change this post")


def update_post(post_id: str, who: Identity, changes: dict[str, Any], expected: list[int] | None) -> tuple[str, int]:
    row = get_database().write_one(
        UPDATE_POST,
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
        raise Forbidden("your account is deactivated", code="account_inactive")
    if row["status"] == "archived":
        raise Conflict("the post is archived; archived posts cannot be edited", code="post_archived")
    raise _stale()


def archive_post(post_id: str, who: Identity, expected: list[int] | None) -> None:
    row = get_database().write_one(
        ARCHIVE_POST, post_id=post_id, caller=who.sub, is_admin=who.is_admin, expected=expected
    )
    if row is None:
        raise NotFound("post not found")
    if row["archived"]:
        return
    _deny(row["owner"], row["status"], who)
    if row["status"] == "archived":
        return  # already archived: DELETE is idempotent
    raise _stale()


def count_view(post_id: str, viewer: bytes) -> int:
    """The post's view count after this view; 404 when it is not a published post.

    `viewer` is a 32-byte digest naming the viewer (see posts_app.viewer_key). A
    viewer's views of one post count once per VIEW_WINDOW_SECONDS; the others
    answer the current count without changing it.
    """
    # Not retried after a lost reply: it runs as a write, so it counts once or answers 503.
    row = get_database().write(
        lambda s: s.one(COUNT_VIEW, post_id=post_id, viewer=viewer, window_seconds=VIEW_WINDOW_SECONDS)
    )
    if row is None:
        raise NotFound("post not found")
    return int(row["view_count"])


def set_like(post_id: str, who: Identity, liked: bool) -> dict[str, Any]:
    db = get_database()
    # Both statements are idempotent per (post, user): safe to resend.
    if liked:
        row = db.read(lambda s: s.one(LIKE_POST, post_id=post_id, user_id=who.sub))
    else:
        row = db.read(lambda s: s.one(UNLIKE_POST, post_id=post_id, user_id=who.sub))
    assert row is not None
    if not row["found"]:
        raise NotFound("post not found")
    if liked and not row["registered"]:
        raise Forbidden("register first: your account has no active user profile", code="not_registered")
    return {"liked": liked, "like_count": int(row["like_count"])}


def transfer_post(post_id: str, new_author_id: str, admin: Identity) -> tuple[str, int]:
    """Move a post to another active author: one transaction, all or nothing."""
    with get_database().transaction() as tx:
        moved = tx.one(TRANSFER_MOVE, post_id=post_id, new_author_id=new_author_id)
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
                RECORD_TRANSFER,
                post_id=post_id,
                from_user_id=moved["from_user_id"],
                to_user_id=new_author_id,
                transferred_by=admin.sub,
            )
        row = tx.one(READ_POST, post_id=post_id)
    assert row is not None
    return row["body"], row["version"]


def _stale() -> PreconditionFailed:
    return PreconditionFailed(
        "the post changed since you read it; fetch it again and retry",
        [{"field": "If-Match", "message": "stale ETag"}],
    )


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
