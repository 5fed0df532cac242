"""The users data module: runs the statements of users.sql, raises typed errors and returns
domain values (JSON text built by PostgreSQL, `Created`); nothing here knows HTTP.

Every read is one statement; hot reads build their JSON in SQL (a `json` value comes back as
text and is sent as is).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from users_models import ProfileIn, UserCreate, UserSearch, UserUpdate

from shared import statements
from shared.db import get_database
from shared.errors import Conflict, Forbidden, InvalidCursor, NotFound, Unprocessable
from shared.idempotency import Created
from shared.identity import UUID_RE, Identity
from shared.pagination import CursorKind, cursor_kind, decode_cursor, page, page_json, rows_json
from shared.text import lower_key

_TAKEN_USERNAME = ("username", "this username is already taken")
_TAKEN_EMAIL = ("email", "this email address is already registered")
CONSTRAINTS: dict[str, tuple[str, str]] = {
    "users_pkey": ("user_id", "you are already registered; a user registers once"),
    "users_username_key": _TAKEN_USERNAME,
    "users_username_lower_key": _TAKEN_USERNAME,
    "users_email_key": _TAKEN_EMAIL,
    "users_email_lower_key": _TAKEN_EMAIL,
}
"""Readable messages for the constraints the statements may violate."""

SQL = statements.beside(__file__, "users.sql", CONSTRAINTS)
"""The statements, by name (users.sql)."""

USERS_CURSOR = "users"
POSTS_CURSOR = "user_posts"
UPDATABLE_FIELDS = (
    "first_name",
    "last_name",
    "phone_number",
    "profile_image_url",
    "date_of_birth",
    "is_verified",
    "is_active",
)
ADMIN_ONLY_FIELDS = frozenset({"is_verified", "is_active"})


def users_kind(verified: bool | None, search: UserSearch | None) -> CursorKind:
    """The kind of the cursors of one user listing: its filters as list_users compares them. The
    name is found through lower() in PostgreSQL and the username prefix is lowercased here, so
    `Taro` and `taro` are one search (shared.text.lower_key)."""
    return cursor_kind(USERS_CURSOR, verified=verified, q=lower_key(search.name) if search else None)


def user_posts_kind(user_id: str, all_statuses: bool) -> CursorKind:
    """The kind of the cursors of one author's posts: the author, and whether drafts are listed
    (`GET /me/posts`) or published posts only (`GET /users/{user_id}/posts`)."""
    return cursor_kind(POSTS_CURSOR, user_id=uuid.UUID(user_id), all_statuses=all_statuses)


def _keyset(kind: CursorKind, cursor: str | None) -> tuple[Any, str | None]:
    """(timestamp, uuid) of a keyset cursor, or (None, None) for the first page."""
    if cursor is None:
        return None, None
    ts, key = decode_cursor(kind, cursor, 2)
    if not isinstance(ts, datetime) or not isinstance(key, str) or not UUID_RE.match(key):
        raise InvalidCursor()
    return ts, key


def _page_json(rows: list[dict[str, Any]], limit: int, kind: CursorKind) -> str:
    """`{"items": [...], "next_cursor": ...}` from rows whose `item` is SQL-built JSON text."""
    items, next_cursor = page(rows, limit, kind, ("c_ts", "c_id"))
    return page_json(rows_json(items), next_cursor)


def _require_self_or_admin(who: Identity, user_id: str) -> None:
    if not who.can_act_for(user_id):
        raise Forbidden("you can only change your own account")


def register_user(who: Identity, body: UserCreate) -> Created:
    """The new user's record (`new`), or the record of this very registration made earlier (a
    retry after a lost reply); Conflict for any other conflict.

    The address is the token's verified e-mail (`who.email`), or none: an unverified
    `email` claim or an access token registers without one, and a body's `email`
    is accepted only when it repeats the verified claim (Unprocessable otherwise), so no one
    can claim an address they have not proved to own.
    """
    email = who.email
    if body.email is not None:
        if email is None:
            raise Unprocessable(
                "an email address is taken only from a verified sign-in (an ID token whose email_verified "
                "is true); leave email out: your verified address is added when you sign in",
                [{"field": "email", "message": "not accepted without a verified email claim"}],
            )
        if body.email.lower() != email.lower():
            raise Unprocessable(
                "the email differs from the one of your sign-in; leave it out to use that one",
                [{"field": "email", "message": "does not match the token's email"}],
            )
    database = get_database()
    try:
        # One round trip, one transaction: the address leaves any other row, then the user is
        # stored (a verified address is the account's that proved it last: release_email).
        _, rows = database.run_atomic(
            [
                (SQL.release_email, {"email": email, "user_id": who.sub}),
                (
                    SQL.register_user,
                    {
                        "user_id": who.sub,
                        "email": email,
                        "username": body.username,
                        "first_name": body.first_name,
                        "last_name": body.last_name,
                        "phone_number": body.phone_number,
                        "date_of_birth": body.date_of_birth,
                        "profile_image_url": body.profile_image_url,
                    },
                ),
            ]
        )
        row = rows[0]
    except Conflict as exc:
        if not any(d.get("field") == "user_id" for d in exc.details):
            raise
        earlier = database.one(SQL.registration_retry, user_id=who.sub, username=body.username, email=email)
        if earlier is None:
            raise
        return Created(who.sub, earlier["body"], new=False)
    return Created(who.sub, row["body"], new=True)


def list_users(verified: bool | None, search: UserSearch | None, limit: int, cursor: str | None) -> str:
    kind = users_kind(verified, search)
    c_ts, c_id = _keyset(kind, cursor)
    rows = get_database().all(
        SQL.list_users,
        verified=verified,
        name=search.name if search else None,
        username_prefix=search.username_prefix if search else None,
        c_ts=c_ts,
        c_id=c_id,
        limit=limit + 1,
    )
    return _page_json(rows, limit, kind)


def warm_up_reads(any_id: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The hot read's statement with a parameter that matches no row (`any_id`: a UUID), for a new
    session to load its catalog caches and plan before the first request (shared.snapstart)."""
    return ((SQL.get_user_public, {"user_id": any_id}),)


def get_user(user_id: str, *, private: bool) -> str:
    """The user with profile and post statistics; private fields only when `private` (GET /me)."""
    query = SQL.get_user_private if private else SQL.get_user_public
    row = get_database().one(query, user_id=user_id)
    if row is None:
        raise NotFound("user not found")
    return row["body"]


def get_user_by_email(email: str) -> str:
    row = get_database().one(SQL.get_user_by_email, email=email)
    if row is None:
        raise NotFound("no active user has this email address")
    return row["body"]


def user_statistics() -> str:
    return get_database().value(SQL.user_statistics)  # type: ignore[no-any-return]


def update_user(who: Identity, user_id: str, body: UserUpdate) -> str:
    _require_self_or_admin(who, user_id)
    sent = body.model_fields_set
    if not sent:
        raise Unprocessable("send at least one field to change", [{"field": "body", "message": "no fields"}])
    reserved = sorted(sent & ADMIN_ONLY_FIELDS)
    if reserved and not who.is_admin:
        raise Forbidden(
            "only administrators can change " + " or ".join(reserved),
            [{"field": f, "message": "administrators only"} for f in reserved],
        )
    params: dict[str, Any] = {}
    for field in UPDATABLE_FIELDS:
        params["set_" + field] = field in sent
        params[field] = getattr(body, field)
    row = get_database().write_one(SQL.update_user, user_id=user_id, as_admin=who.is_admin, **params)
    if row is None:
        raise NotFound("user not found")
    return row["body"]


def deactivate_user(who: Identity, user_id: str) -> None:
    _require_self_or_admin(who, user_id)
    if get_database().write_one(SQL.deactivate_user, user_id=user_id) is None:
        raise NotFound("user not found")


def get_profile(user_id: str) -> str:
    row = get_database().one(SQL.get_profile, user_id=user_id)
    if row is None:
        raise NotFound("user not found")
    if not row["has_profile"]:
        raise NotFound("this user has no profile yet", code="profile_not_found")
    return row["body"]


def put_profile(who: Identity, user_id: str, body: ProfileIn) -> tuple[str, bool]:
    _require_self_or_admin(who, user_id)
    row = get_database().write_one(
        SQL.upsert_profile,
        user_id=user_id,
        bio=body.bio,
        location=body.location,
        website_url=body.website_url,
        social_links=None if body.social_links is None else json.dumps(body.social_links, ensure_ascii=False),
        preferences=None if body.preferences is None else json.dumps(body.preferences, ensure_ascii=False),
    )
    if row is None:
        raise NotFound("user not found")
    return row["body"], bool(row["created"])


def user_posts(user_id: str, limit: int, cursor: str | None, *, all_statuses: bool) -> str:
    """A page of the user's posts: published ones only unless `all_statuses` (the author's own view)."""
    kind = user_posts_kind(user_id, all_statuses)
    c_ts, c_id = _keyset(kind, cursor)
    rows = get_database().all(
        SQL.user_posts,
        user_id=user_id,
        all_statuses=all_statuses,
        c_ts=c_ts,
        c_id=c_id,
        limit=limit + 1,
    )
    if not rows:
        raise NotFound("user not found")
    return _page_json([r for r in rows if r["item"] is not None], limit, kind)


def record_login(user_id: str, email: str | None = None) -> None:
    """Set last_login_at and, when Cognito vouches for it, the user's current address.

    `email` is None unless the user pool says `email_verified` is "true". A verified address
    is this account's from now on: another row that still holds it gives it up (release_email),
    and that account gets its own current address at its next sign-in. Nothing happens for a
    sub that is not registered."""
    get_database().run_atomic(
        [
            (SQL.release_email_of_registered, {"email": email, "user_id": user_id}),
            (SQL.update_last_login, {"user_id": user_id, "email": email}),
        ]
    )
