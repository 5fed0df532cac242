"""The comments data module: runs the statements of comments.sql, raises typed errors and
returns domain values (JSON text built by PostgreSQL, `Created`); nothing here knows HTTP.

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

import uuid
from typing import Any

from comments_models import MAX_DEPTH

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
    Unprocessable,
)
from shared.idempotency import Created, derived_id
from shared.identity import UUID_RE, Identity
from shared.pagination import CursorKind, cursor_kind, decode_cursor, encode_cursor, page_json

CONSTRAINTS = {
    "comments_parent_same_post": ("parent_comment_id", "the parent comment belongs to another post"),
    "comments_depth_limit": ("parent_comment_id", f"replies can be nested at most {MAX_DEPTH + 1} levels deep"),
    "comments_parent_comment_id_fkey": ("parent_comment_id", "the parent comment does not exist"),
    "comments_content_length": ("content", "content must be 1 to 10,000 characters"),
    "comments_thread_position_fixed": ("parent_comment_id", "a comment cannot move to another thread"),
    "comments_pkey": ("comment_id", "this comment_id is already used"),
    "comment_likes_user_id_fkey": ("user_id", "register first: your user profile does not exist"),
}
"""Readable messages for the constraints the statements below may violate."""

SQL = statements.beside(__file__, "comments.sql", CONSTRAINTS)
"""The statements, by name (comments.sql)."""


PUBLIC_KIND = "comments"
MODERATION_KIND = "comments-moderation"


def thread_kind(name: str, post_id: str) -> CursorKind:
    """The kind of the cursors of one post's thread: a cursor of one post's comments does not
    page another's."""
    return cursor_kind(name, post_id=uuid.UUID(post_id))


# -- the work -----------------------------------------------------------------------
def _after_id(kind: CursorKind, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    (last_id,) = decode_cursor(kind, cursor, 1)
    if not isinstance(last_id, str) or not UUID_RE.match(last_id):
        raise InvalidCursor()
    return last_id


def _thread(sql: str, name: str, post_id: str, limit: int, cursor: str | None) -> str:
    kind = thread_kind(name, post_id)
    row = get_database().one(sql, post_id=post_id, after_id=_after_id(kind, cursor), limit=limit)
    assert row is not None  # the statement always returns one row
    if not row["post_found"]:
        raise NotFound("post not found")
    if not row["cursor_found"]:
        raise InvalidCursor()
    next_cursor = encode_cursor(kind, [row["last_id"]]) if row["has_more"] else None
    return page_json(row["items"], next_cursor)


def public_thread(post_id: str, limit: int, cursor: str | None) -> str:
    """One page of a published post's thread, as JSON text."""
    return _thread(SQL.public_thread, PUBLIC_KIND, post_id, limit, cursor)


def moderation_thread(post_id: str, limit: int, cursor: str | None) -> str:
    """One page of any post's thread including hidden comments, as JSON text."""
    return _thread(SQL.moderation_thread, MODERATION_KIND, post_id, limit, cursor)


def _parent_problem(message: str) -> Unprocessable:
    return Unprocessable(
        "the comment cannot be a reply to this comment",
        [{"field": "parent_comment_id", "in": "body", "message": message}],
    )


# Without a client-chosen comment_id, an Idempotency-Key names the comment: its id is derived
# from the author, the post and the key, so a retry finds it.
IDEMPOTENCY_NAMESPACE = uuid.UUID("3d6f2a8e-51c4-5b9f-8e27-c0a4b61d9f35")


def create_comment(
    who: Identity,
    post_id: str,
    content: str,
    parent_id: str | None,
    comment_id: str | None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Created:
    """The comment, `new` unless `comment_id` (or the id derived from `idempotency_key`) names
    one this author already made on this post (a retry).

    `fingerprint` (the request fingerprint the app computed) is stored with the comment; a retry under the
    same Idempotency-Key or client-chosen comment_id with another fingerprint raises
    IdempotencyKeyReused."""
    named_by_body = comment_id is not None
    if comment_id is None and idempotency_key is not None:
        comment_id = derived_id(IDEMPOTENCY_NAMESPACE, who.sub, idempotency_key, post_id)
    row = get_database().write_one(
        SQL.create_comment,
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
                raise IdempotencyKeyReused("comment_id", "body") if named_by_body else IdempotencyKeyReused()
            return Created(str(comment_id), row["existing"], new=False)
        raise Conflict(
            "this comment_id is already used by another comment",
            [{"field": "comment_id", "in": "body", "message": "choose a new id"}],
        )
    if row["created"] is not None:
        return Created(str(row["created_id"]), row["created"], new=True)
    if row["author_active"] is None:
        raise NotRegistered()
    if not row["author_active"]:
        raise AccountInactive()
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
    row = get_database().write_one(SQL.update_comment, comment_id=comment_id, user_id=who.sub, content=content)
    if row is None:
        raise NotFound("comment not found")
    if str(row["user_id"]) != who.sub:
        raise Forbidden("only the author can edit a comment")
    if row["comment"] is None:
        if not row["author_active"]:
            raise AccountInactive()
        raise _not_editable(row["status"])
    return row["comment"]


def delete_comment(who: Identity, comment_id: str) -> None:
    """Soft delete by the author or an administrator; deleting twice is fine."""
    row = get_database().write_one(SQL.delete_comment, comment_id=comment_id, user_id=who.sub, is_admin=who.is_admin)
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
        SQL.moderate_comment, comment_id=comment_id, from_status=from_status, to_status=to_status, delta=delta
    )
    if row is None:
        raise NotFound("comment not found")
    if row["previous_status"] == "deleted":
        raise Conflict("the comment was deleted: it can be neither hidden nor unhidden", code="comment_deleted")
    return row["comment"]


def like_comment(who: Identity, comment_id: str) -> dict[str, Any]:
    row = get_database().write_one(SQL.like_comment, comment_id=comment_id, user_id=who.sub)
    assert row is not None
    if row["liker_active"] is None:
        raise NotRegistered()
    if not row["liker_active"]:
        raise AccountInactive()
    if row["status"] is None:
        raise NotFound("comment not found")
    if row["status"] != "active":
        raise Conflict(f"only active comments can be liked; this one is {row['status']}", code="comment_not_active")
    return {"liked": True, "like_count": row["like_count"]}


def unlike_comment(who: Identity, comment_id: str) -> dict[str, Any]:
    row = get_database().write_one(SQL.unlike_comment, comment_id=comment_id, user_id=who.sub)
    if row is None:
        raise NotFound("comment not found")
    return {"liked": False, "like_count": row["like_count"]}
