"""SQL of the comments API and the functions that run it.

Every request is one statement (one round trip). Reads build the whole JSON
answer in PostgreSQL; writes change the comment, its counters and return the
comment in the same statement, so counters are exact without a transaction:

* posts.comment_count = number of the post's comments with status 'active'.
  Creating adds 1; hide/delete of an active comment subtract 1, unhide adds 1.
  Status changes lock the comment first (SELECT ... FOR UPDATE in a CTE), so
  the transition is computed from the status it really had: hiding twice, or
  a hide racing a delete, changes the count once.
* comments.like_count = rows in comment_likes; the like/unlike statements
  change it by the number of rows they really inserted/deleted.

Thread order is comments.thread_key (see sql/migrations/0005): one index range
scan per page. A cursor holds the id of the last comment of a page; the query
looks its thread_key up, so the cursor stays short however deep the thread.
"""

from __future__ import annotations

from typing import Any

from comments_models import MAX_DEPTH

from shared.db import get_database
from shared.errors import (
    CONSTRAINT_MESSAGES,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
)
from shared.http import UUID_RE, Identity, key_reused
from shared.pagination import decode_cursor, encode_cursor

CONSTRAINT_MESSAGES.update(
    {
        "comments_parent_same_post": ("parent_comment_id", "the parent comment belongs to another post"),
        "comments_depth_limit": ("parent_comment_id", f"replies can be nested at most {MAX_DEPTH + 1} levels deep"),
        "comments_parent_comment_id_fkey": ("parent_comment_id", "the parent comment does not exist"),
        "comments_content_length": ("content", "content must be 1 to 10,000 characters"),
        "comments_thread_position_fixed": ("parent_comment_id", "a comment cannot move to another thread"),
        "comments_pkey": ("comment_id", "this comment_id is already used"),
        "comment_likes_user_id_fkey": ("user_id", "register first: your user profile does not exist"),
    }
)

PUBLIC_KIND = "comments"
MODERATION_KIND = "comments-moderation"

# -- SQL ---------------------------------------------------------------------------
# The f-strings below only join this module's constant fragments when it is
# imported; every value a request supplies travels as a :name parameter.

# JSON fragments: `c` is a comments row, `u` its author.
_AUTHOR = """json_build_object(
        'user_id', u.user_id, 'username', u.username, 'first_name', u.first_name,
        'last_name', u.last_name, 'profile_image_url', u.profile_image_url)"""

# The public shape: a deleted comment is a placeholder without text or author.
COMMENT_JSON = f"""json_build_object(
    'comment_id', c.comment_id, 'post_id', c.post_id, 'parent_comment_id', c.parent_comment_id,
    'depth', c.depth, 'status', c.status,
    'content', CASE WHEN c.status <> 'deleted' THEN c.content END,
    'author', CASE WHEN c.status <> 'deleted' AND u.user_id IS NOT NULL THEN {_AUTHOR} END,
    'like_count', c.like_count, 'created_at', c.created_at, 'updated_at', c.updated_at)"""

# The moderation shape: hidden text is shown to moderators, and who wrote a
# deleted comment; deleted text is never served by the API.
MODERATION_COMMENT_JSON = f"""json_build_object(
    'comment_id', c.comment_id, 'post_id', c.post_id, 'parent_comment_id', c.parent_comment_id,
    'depth', c.depth, 'status', c.status,
    'content', CASE WHEN c.status <> 'deleted' THEN c.content END,
    'author', CASE WHEN u.user_id IS NOT NULL THEN {_AUTHOR} END,
    'like_count', c.like_count, 'created_at', c.created_at, 'updated_at', c.updated_at)"""

# Ancestors of `c` are the prefixes of its thread_key, 24 bytes per level.
# A hidden ancestor hides the whole subtree (probed on the small partial index
# idx_comments_post_thread_unlisted).
_NO_HIDDEN_ANCESTOR = """(c.depth = 0 OR NOT EXISTS (
            SELECT 1 FROM comments h
            WHERE h.post_id = c.post_id
              AND h.status = 'hidden'
              AND h.thread_key = ANY (ARRAY(
                  SELECT substring(c.thread_key FROM 1 FOR 24 * k) FROM generate_series(1, c.depth) AS k))))"""

# A deleted comment is listed (as a placeholder) only if a reply below it is
# listed: an active descendant with no hidden comment between the two. (The
# OR keeps each probe a per-row index lookup instead of an anti join that
# compares every descendant with every hidden comment of the post.)
_HAS_LISTED_REPLY = """EXISTS (
            SELECT 1 FROM comments d
            WHERE d.post_id = c.post_id
              AND d.thread_key > c.thread_key AND d.thread_key < c.thread_key || '\\xff'::bytea
              AND d.status = 'active'
              AND (d.depth = c.depth + 1 OR NOT EXISTS (
                  SELECT 1 FROM comments h
                  WHERE h.post_id = d.post_id
                    AND h.status = 'hidden'
                    AND h.thread_key = ANY (ARRAY(
                        SELECT substring(d.thread_key FROM 1 FOR 24 * k)
                        FROM generate_series(c.depth + 2, d.depth) AS k)))))"""

_PAGE_RESULT = """
SELECT
    EXISTS (SELECT 1 FROM post) AS post_found,
    (:after_id::uuid IS NULL OR EXISTS (SELECT 1 FROM after)) AS cursor_found,
    (SELECT count(*) FROM page) > :limit::int AS has_more,
    (SELECT p.comment_id FROM page p ORDER BY p.thread_key OFFSET :limit::int - 1 LIMIT 1) AS last_id,
    (SELECT COALESCE(json_agg(x.item ORDER BY x.thread_key), '[]'::json)
     FROM (SELECT p.item, p.thread_key FROM page p ORDER BY p.thread_key LIMIT :limit::int) x) AS items
"""

# Public thread of a published post: active comments, deleted placeholders
# that have listed replies, nothing of a hidden subtree.
PUBLIC_THREAD = f"""
WITH post AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = :post_id::uuid AND p.status = 'published'
), after AS (
    SELECT a.thread_key FROM comments a WHERE a.comment_id = :after_id::uuid AND a.post_id = :post_id::uuid
), page AS (
    SELECT c.comment_id, c.thread_key, {COMMENT_JSON} AS item
    FROM comments c
    LEFT JOIN users u ON u.user_id = c.user_id
    WHERE c.post_id = (SELECT post_id FROM post)
      AND c.thread_key > COALESCE((SELECT thread_key FROM after), '\\x'::bytea)
      AND (c.status = 'active' OR (c.status = 'deleted' AND {_HAS_LISTED_REPLY}))
      AND {_NO_HIDDEN_ANCESTOR}
    ORDER BY c.thread_key
    LIMIT :limit::int + 1
){_PAGE_RESULT}"""

# Moderation view: every comment of any post, with its status.
MODERATION_THREAD = f"""
WITH post AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = :post_id::uuid
), after AS (
    SELECT a.thread_key FROM comments a WHERE a.comment_id = :after_id::uuid AND a.post_id = :post_id::uuid
), page AS (
    SELECT c.comment_id, c.thread_key, {MODERATION_COMMENT_JSON} AS item
    FROM comments c
    LEFT JOIN users u ON u.user_id = c.user_id
    WHERE c.post_id = (SELECT post_id FROM post)
      AND c.thread_key > COALESCE((SELECT thread_key FROM after), '\\x'::bytea)
    ORDER BY c.thread_key
    LIMIT :limit::int + 1
){_PAGE_RESULT}"""

# Create: checks, insert and counter in one statement. A client-chosen
# comment_id that already exists is answered from `existing` (idempotent retry).
CREATE_COMMENT = f"""
WITH author AS (
    SELECT a.user_id, a.is_active IS NOT FALSE AS active FROM users a WHERE a.user_id = :user_id::uuid
), post AS (
    SELECT p.post_id FROM posts p WHERE p.post_id = :post_id::uuid AND p.status = 'published'
), parent AS (
    SELECT r.post_id, r.status, r.depth FROM comments r WHERE r.comment_id = :parent_id::uuid
), existing AS (
    SELECT e.* FROM comments e WHERE e.comment_id = :comment_id::uuid
), ins AS (
    INSERT INTO comments (comment_id, post_id, user_id, parent_comment_id, content, idempotency_fingerprint)
    SELECT COALESCE(:comment_id::uuid, gen_random_uuid()), post.post_id, author.user_id,
           :parent_id::uuid, :content::text, :fingerprint::text
    FROM post, author
    WHERE author.active
      AND NOT EXISTS (SELECT 1 FROM existing)
      AND (:parent_id::uuid IS NULL OR EXISTS (
            SELECT 1 FROM parent
            WHERE parent.post_id = post.post_id AND parent.status = 'active' AND parent.depth < :max_depth::int))
    ON CONFLICT (comment_id) DO NOTHING
    RETURNING *
), counted AS (
    UPDATE posts p SET comment_count = COALESCE(p.comment_count, 0) + 1
    FROM ins
    WHERE p.post_id = ins.post_id
    RETURNING p.post_id
)
SELECT
    (SELECT active FROM author) AS author_active,
    EXISTS (SELECT 1 FROM post) AS post_found,
    (SELECT post_id FROM parent) AS parent_post_id,
    (SELECT status FROM parent) AS parent_status,
    (SELECT depth FROM parent) AS parent_depth,
    (SELECT comment_id FROM ins) AS created_id,
    (SELECT {COMMENT_JSON} FROM ins c LEFT JOIN users u ON u.user_id = c.user_id) AS created,
    (SELECT user_id FROM existing) AS existing_user_id,
    (SELECT post_id FROM existing) AS existing_post_id,
    (SELECT idempotency_fingerprint FROM existing) AS existing_fingerprint,
    (SELECT {COMMENT_JSON} FROM existing c LEFT JOIN users u ON u.user_id = c.user_id) AS existing
"""

# Edit: the author's own active comment only.
UPDATE_COMMENT = f"""
WITH target AS (
    SELECT t.user_id, t.status FROM comments t WHERE t.comment_id = :comment_id::uuid
), upd AS (
    UPDATE comments c SET content = :content::text
    WHERE c.comment_id = :comment_id::uuid AND c.user_id = :user_id::uuid AND c.status = 'active'
      AND EXISTS (SELECT 1 FROM users a WHERE a.user_id = :user_id::uuid AND a.is_active)
    RETURNING c.*
)
SELECT t.user_id, t.status,
       EXISTS (SELECT 1 FROM users a WHERE a.user_id = :user_id::uuid AND a.is_active) AS author_active,
       (SELECT {COMMENT_JSON} FROM upd c LEFT JOIN users u ON u.user_id = c.user_id) AS comment
FROM target t
"""

# Soft delete by the author or an administrator; idempotent.
DELETE_COMMENT = """
WITH target AS (
    SELECT t.comment_id, t.post_id, t.user_id, t.status
    FROM comments t WHERE t.comment_id = :comment_id::uuid
    FOR UPDATE
), upd AS (
    UPDATE comments c SET status = 'deleted'
    FROM target t
    WHERE c.comment_id = t.comment_id
      AND t.status <> 'deleted'
      AND (t.user_id = :user_id::uuid OR :is_admin::boolean)
    RETURNING t.status AS was, t.post_id
), counted AS (
    UPDATE posts p SET comment_count = COALESCE(p.comment_count, 0) - 1
    FROM upd
    WHERE p.post_id = upd.post_id AND upd.was = 'active'
    RETURNING p.post_id
)
SELECT t.user_id, t.status FROM target t
"""

# Moderation: move a comment from one status to another (hidden <-> active)
# and adjust the count by `delta`; a comment already in the target status is
# left alone (idempotent) and returned as it is.
MODERATE_COMMENT = f"""
WITH target AS (
    SELECT t.* FROM comments t WHERE t.comment_id = :comment_id::uuid FOR UPDATE
), upd AS (
    UPDATE comments c SET status = :to_status::text
    FROM target t
    WHERE c.comment_id = t.comment_id AND t.status = :from_status::text
    RETURNING c.*
), counted AS (
    UPDATE posts p SET comment_count = COALESCE(p.comment_count, 0) + :delta::int
    FROM upd
    WHERE p.post_id = upd.post_id
    RETURNING p.post_id
)
SELECT t.status AS previous_status,
       COALESCE(
           (SELECT {MODERATION_COMMENT_JSON} FROM upd c LEFT JOIN users u ON u.user_id = c.user_id),
           (SELECT {MODERATION_COMMENT_JSON} FROM target c LEFT JOIN users u ON u.user_id = c.user_id)
       ) AS comment
FROM target t
"""

# Like: active comments of published posts, by registered active users.
LIKE_COMMENT = """
WITH liker AS (
    SELECT u.user_id, u.is_active IS NOT FALSE AS active FROM users u WHERE u.user_id = :user_id::uuid
), target AS (
    SELECT t.comment_id, t.status, t.like_count
    FROM comments t
    JOIN posts p ON p.post_id = t.post_id AND p.status = 'published'
    WHERE t.comment_id = :comment_id::uuid
), ins AS (
    INSERT INTO comment_likes (comment_id, user_id)
    SELECT target.comment_id, liker.user_id
    FROM target, liker
    WHERE target.status = 'active' AND liker.active
    ON CONFLICT DO NOTHING
    RETURNING comment_id
), counted AS (
    UPDATE comments c SET like_count = c.like_count + (SELECT count(*) FROM ins)
    WHERE c.comment_id = (SELECT comment_id FROM ins)
    RETURNING c.like_count
)
SELECT
    (SELECT active FROM liker) AS liker_active,
    (SELECT status FROM target) AS status,
    COALESCE((SELECT like_count FROM counted), (SELECT like_count FROM target)) AS like_count
"""

# Unlike: always allowed on an existing comment; a like that is not there is a no-op.
UNLIKE_COMMENT = """
WITH del AS (
    DELETE FROM comment_likes l
    WHERE l.comment_id = :comment_id::uuid AND l.user_id = :user_id::uuid
    RETURNING l.comment_id
), counted AS (
    UPDATE comments c SET like_count = c.like_count - (SELECT count(*) FROM del)
    WHERE c.comment_id = (SELECT comment_id FROM del)
    RETURNING c.like_count
)
SELECT COALESCE((SELECT like_count FROM counted), t.like_count) AS like_count
FROM comments t
WHERE t.comment_id = :comment_id::uuid
"""


# -- the work -----------------------------------------------------------------------
def _after_id(kind: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    (last_id,) = decode_cursor(kind, cursor, 1)
    if not isinstance(last_id, str) or not UUID_RE.match(last_id):
        raise _invalid_cursor()
    return last_id


def _invalid_cursor() -> BadRequest:
    return BadRequest(
        "the cursor is invalid or belongs to another list; start again without it",
        [{"field": "cursor", "message": "invalid cursor"}],
        code="invalid_cursor",
    )


def _thread(sql: str, kind: str, post_id: str, limit: int, cursor: str | None) -> str:
    row = get_database().one(sql, post_id=post_id, after_id=_after_id(kind, cursor), limit=limit)
    assert row is not None  # the statement always returns one row
    if not row["post_found"]:
        raise NotFound("post not found")
    if not row["cursor_found"]:
        raise _invalid_cursor()
    next_cursor = encode_cursor(kind, [row["last_id"]]) if row["has_more"] else None
    # The cursor is base64url: no characters to escape inside a JSON string.
    tail = '"' + next_cursor + '"' if next_cursor else "null"
    return '{"items":' + row["items"] + ',"next_cursor":' + tail + "}"


def public_thread(post_id: str, limit: int, cursor: str | None) -> str:
    """One page of a published post's thread, as JSON text."""
    return _thread(PUBLIC_THREAD, PUBLIC_KIND, post_id, limit, cursor)


def moderation_thread(post_id: str, limit: int, cursor: str | None) -> str:
    """One page of any post's thread including hidden comments, as JSON text."""
    return _thread(MODERATION_THREAD, MODERATION_KIND, post_id, limit, cursor)


def _not_registered() -> Forbidden:
    return Forbidden("register first: your user profile does not exist yet", code="registration_required")


def _inactive() -> Forbidden:
    return Forbidden("your account is deactivated", code="account_inactive")


def _parent_problem(message: str) -> Unprocessable:
    return Unprocessable(
        "the comment cannot be a reply to this comment",
        [{"field": "parent_comment_id", "in": "body", "message": message}],
    )


def create_comment(
    who: Identity,
    post_id: str,
    content: str,
    parent_id: str | None,
    comment_id: str | None,
    fingerprint: str | None = None,
    *,
    named_by_body: bool = False,
) -> tuple[int, str, str]:
    """(status, comment_id, comment JSON): 201 when created, 200 for a retried comment_id.

    `fingerprint` (shared.http.request_fingerprint) is stored with the comment; a retry under the
    same Idempotency-Key or client-chosen comment_id (`named_by_body`) with another fingerprint is
    a 422 idempotency_key_reused."""
    row = get_database().write_one(
        CREATE_COMMENT,
        user_id=who.sub,
        post_id=post_id,
        parent_id=parent_id,
        comment_id=comment_id,
        content=content,
        max_depth=MAX_DEPTH,
        fingerprint=fingerprint,
    )
    assert row is not None
    if row["existing"] is not None:
        if str(row["existing_user_id"]) == who.sub and str(row["existing_post_id"]) == post_id:
            stored = row["existing_fingerprint"]
            if fingerprint is not None and stored is not None and stored != fingerprint:
                raise key_reused("comment_id", "body") if named_by_body else key_reused()
            return 200, str(comment_id), row["existing"]
        raise Conflict(
            "this comment_id is already used by another comment",
            [{"field": "comment_id", "in": "body", "message": "choose a new id"}],
        )
    if row["created"] is not None:
        return 201, str(row["created_id"]), row["created"]
    if row["author_active"] is None:
        raise _not_registered()
    if not row["author_active"]:
        raise _inactive()
    if not row["post_found"]:
        raise NotFound("post not found")
    if parent_id is not None:
        if row["parent_status"] is None:
            raise _parent_problem("no such comment")
        if str(row["parent_post_id"]) != post_id:
            raise _parent_problem("the parent comment belongs to another post")
        if row["parent_status"] != "active":
            raise _parent_problem(f"the parent comment is {row['parent_status']}: only active comments can get replies")
        if row["parent_depth"] >= MAX_DEPTH:
            raise _parent_problem(f"replies can be nested at most {MAX_DEPTH + 1} levels deep")
    # Nothing inserted and no reason found: another request created this id meanwhile.
    raise Conflict(
        "a comment with this comment_id is being created by another request; retry",
        [{"field": "comment_id", "in": "body", "message": "created concurrently"}],
    )


def _not_editable(status: str) -> Conflict:
    reason = {
        "hidden": "it was hidden by a moderator; its text stays as the moderator saw it",
        "deleted": "it was deleted",
    }.get(status, "it changed meanwhile; fetch it again")
    return Conflict(f"the comment cannot be edited: {reason}", code="comment_not_editable")


def update_comment(who: Identity, comment_id: str, content: str) -> str:
    """The edited comment as JSON; only its author edits, and only while it is active."""
    row = get_database().write_one(UPDATE_COMMENT, comment_id=comment_id, user_id=who.sub, content=content)
    if row is None:
        raise NotFound("comment not found")
    if str(row["user_id"]) != who.sub:
        raise Forbidden("only the author can edit a comment")
    if row["comment"] is None:
        if not row["author_active"]:
            raise _inactive()
        raise _not_editable(row["status"])
    return row["comment"]


def delete_comment(who: Identity, comment_id: str) -> None:
    """Soft delete by the author or an administrator; deleting twice is fine."""
    row = get_database().write_one(DELETE_COMMENT, comment_id=comment_id, user_id=who.sub, is_admin=who.is_admin)
    if row is None:
        raise NotFound("comment not found")
    if str(row["user_id"]) != who.sub and not who.is_admin:
        raise Forbidden("only the author or an administrator can delete a comment")


_MODERATION = {
    # action: (from status, to status, change of posts.comment_count)
    "hide": ("active", "hidden", -1),
    "unhide": ("hidden", "active", 1),
}


def moderate_comment(comment_id: str, action: str) -> str:
    """Hide or unhide (idempotent); the comment in its moderation shape as JSON."""
    from_status, to_status, delta = _MODERATION[action]
    row = get_database().write_one(
        MODERATE_COMMENT, comment_id=comment_id, from_status=from_status, to_status=to_status, delta=delta
    )
    if row is None:
        raise NotFound("comment not found")
    if row["previous_status"] == "deleted":
        raise Conflict("the comment was deleted: it can be neither hidden nor unhidden", code="comment_deleted")
    return row["comment"]


def like_comment(who: Identity, comment_id: str) -> dict[str, Any]:
    row = get_database().write_one(LIKE_COMMENT, comment_id=comment_id, user_id=who.sub)
    assert row is not None
    if row["liker_active"] is None:
        raise _not_registered()
    if not row["liker_active"]:
        raise _inactive()
    if row["status"] is None:
        raise NotFound("comment not found")
    if row["status"] != "active":
        raise Conflict(f"only active comments can be liked; this one is {row['status']}", code="comment_not_active")
    return {"liked": True, "like_count": row["like_count"]}


def unlike_comment(who: Identity, comment_id: str) -> dict[str, Any]:
    row = get_database().write_one(UNLIKE_COMMENT, comment_id=comment_id, user_id=who.sub)
    if row is None:
        raise NotFound("comment not found")
    return {"liked": False, "like_count": row["like_count"]}
