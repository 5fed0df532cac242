"""UsersFunction: registration, public user lists and views, self-service
account and profile changes, an author's posts, and the Cognito
post-authentication trigger (last_login_at).

Routes parse and validate, then call one function below that does the work
with one SQL statement from users_queries. Identity comes only from the JWT
authorizer's claims; on public routes there is none.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Annotated, Any

import users_queries as sql
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from users_models import (
    VISIBLE_LINE_PATTERN,
    AuthorPostList,
    ProfileIn,
    ProfileRecord,
    UserCreate,
    UserDetail,
    UserList,
    UserProfileView,
    UserRecord,
    UserSearch,
    UserStatistics,
    UserUpdate,
    search_query,
)

from shared import snapstart
from shared.db import get_database
from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from shared.http import (
    UUID_RE,
    ErrorBody,
    Identity,
    create_app,
    json_doc,
    json_response,
    make_handler,
    require_admin,
    require_identity,
    require_uuid,
    to_json,
    verified_email,
)
from shared.observability import MetricUnit, logger, metrics
from shared.pagination import CURSOR_DESCRIPTION, CURSOR_PATTERN, decode_cursor, page

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
# Cognito waits 5 s for a trigger and fails the sign-in after that; the
# last_login_at update gets this long, then sign-in proceeds without it.
LOGIN_UPDATE_BUDGET_SECONDS = 2.0
app = create_app()


# -- work -----------------------------------------------------------------------------
def _keyset(kind: str, cursor: str | None) -> tuple[Any, str | None]:
    """(timestamp, uuid) of a keyset cursor, or (None, None) for the first page."""
    if cursor is None:
        return None, None
    ts, key = decode_cursor(kind, cursor, 2)
    if not isinstance(ts, datetime) or not isinstance(key, str) or not UUID_RE.match(key):
        raise BadRequest(
            "the cursor is invalid; start again without it",
            [{"field": "cursor", "message": "invalid cursor"}],
            code="invalid_cursor",
        )
    return ts, key


def _page_json(rows: list[dict[str, Any]], limit: int, kind: str) -> str:
    """`{"items": [...], "next_cursor": ...}` from rows whose `item` is SQL-built JSON text."""
    items, next_cursor = page(rows, limit, kind, ("c_ts", "c_id"))
    return '{"items":[' + ",".join(r["item"] for r in items) + '],"next_cursor":' + to_json(next_cursor) + "}"


def _require_self_or_admin(who: Identity, user_id: str) -> None:
    if not who.can_act_for(user_id):
        raise Forbidden("you can only change your own account")


def register_user(who: Identity, body: UserCreate) -> tuple[str, int]:
    """The new user's record and 201; 200 with the record when this very registration was
    already made (a retry after a lost reply); 409 for any other conflict.

    The address is the token's verified e-mail (`who.email`), or none: an unverified
    `email` claim or an access token registers without one, and a body's `email`
    is accepted only when it repeats the verified claim (422 otherwise), so no one
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
        # stored (a verified address is the account's that proved it last: RELEASE_EMAIL).
        _, rows = database.run_atomic(
            [
                (sql.RELEASE_EMAIL, {"email": email, "user_id": who.sub}),
                (
                    sql.REGISTER_USER,
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
        earlier = database.one(sql.REGISTRATION_RETRY, user_id=who.sub, username=body.username, email=email)
        if earlier is None:
            raise
        return earlier["body"], 200
    return row["body"], 201


def list_users(verified: bool | None, search: UserSearch | None, limit: int, cursor: str | None) -> str:
    c_ts, c_id = _keyset(USERS_CURSOR, cursor)
    rows = get_database().all(
        sql.LIST_USERS,
        verified=verified,
        name=search.name if search else None,
        username_prefix=search.username_prefix if search else None,
        c_ts=c_ts,
        c_id=c_id,
        limit=limit + 1,
    )
    return _page_json(rows, limit, USERS_CURSOR)


def get_user(user_id: str, *, private: bool) -> str:
    """The user with profile and post statistics; private fields only when `private`."""
    query = sql.GET_USER_PRIVATE if private else sql.GET_USER_PUBLIC
    row = get_database().one(query, user_id=user_id)
    if row is None:
        raise NotFound("user not found")
    return row["body"]


def get_user_by_email(email: str) -> str:
    row = get_database().one(sql.GET_USER_BY_EMAIL, email=email)
    if row is None:
        raise NotFound("no active user has this email address")
    return row["body"]


def user_statistics() -> str:
    return get_database().value(sql.USER_STATISTICS)  # type: ignore[no-any-return]


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
    row = get_database().write_one(sql.UPDATE_USER, user_id=user_id, as_admin=who.is_admin, **params)
    if row is None:
        raise NotFound("user not found")
    return row["body"]


def deactivate_user(who: Identity, user_id: str) -> None:
    _require_self_or_admin(who, user_id)
    if get_database().write_one(sql.DEACTIVATE_USER, user_id=user_id) is None:
        raise NotFound("user not found")


def get_profile(user_id: str) -> str:
    row = get_database().one(sql.GET_PROFILE, user_id=user_id)
    if row is None:
        raise NotFound("user not found")
    if not row["has_profile"]:
        raise NotFound("this user has no profile yet", code="profile_not_found")
    return row["body"]


def put_profile(who: Identity, user_id: str, body: ProfileIn) -> tuple[str, bool]:
    _require_self_or_admin(who, user_id)
    row = get_database().write_one(
        sql.UPSERT_PROFILE,
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
    c_ts, c_id = _keyset(POSTS_CURSOR, cursor)
    rows = get_database().all(
        sql.USER_POSTS,
        user_id=user_id,
        all_statuses=all_statuses,
        c_ts=c_ts,
        c_id=c_id,
        limit=limit + 1,
    )
    if not rows:
        raise NotFound("user not found")
    return _page_json([r for r in rows if r["item"] is not None], limit, POSTS_CURSOR)


def record_login(user_id: str, email: str | None = None) -> None:
    """Set last_login_at and, when Cognito vouches for it, the user's current address.

    `email` is None unless the user pool says `email_verified` is "true". A verified address
    is this account's from now on: another row that still holds it gives it up (RELEASE_EMAIL),
    and that account gets its own current address at its next sign-in. Nothing happens for a
    sub that is not registered."""
    get_database().run_atomic(
        [
            (sql.RELEASE_EMAIL_OF_REGISTERED, {"email": email, "user_id": user_id}),
            (sql.UPDATE_LAST_LOGIN, {"user_id": user_id, "email": email}),
        ]
    )


# -- routes ---------------------------------------------------------------------------
TAGS = ["users"]
Limit = Annotated[int, Query(ge=1, le=100, description="page size, 1-100")]
Cursor = Annotated[
    str | None, Query(min_length=1, max_length=512, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
]


def _ok(model: type, description: str, status: int = 200) -> dict[int, Any]:
    return {status: json_doc(model, description)}


def _errors(*statuses: int) -> dict[int, Any]:
    text = {
        400: "malformed JSON or an invalid cursor",
        401: "no verified identity",
        403: "not allowed for this caller",
        404: "not found (also for a malformed id)",
        409: "conflicts with an existing record",
        422: "invalid input",
    }
    # 422 always: it replaces Powertools' default 422, whose body shape is not ours.
    return {s: json_doc(ErrorBody, text[s]) for s in sorted({*statuses, 422})}


@app.post(
    "/users",
    summary="Register the signed-in caller",
    description=(
        "The user id is the token's `sub`; the email is the token's `email` claim when `email_verified` is "
        '"true" (an ID token), otherwise none: a body\'s `email` must repeat the verified claim (422 otherwise). '
        "Retry-safe: the same registration sent again answers 200 with the record; a different one, 409."
    ),
    tags=TAGS,
    operation_id="registerUser",
    responses={
        **_ok(UserRecord, "the new user", 201),
        **_ok(UserRecord, "already registered by this same request (a retry after a lost reply)", 200),
        **_errors(400, 401, 409, 422),
    },
)
def post_user(body: UserCreate):
    who = require_identity(app)
    record, status = register_user(who, body)
    return json_response(record, status, {"Location": "/users/" + who.sub})


@app.get(
    "/users",
    summary="List active users, newest first",
    tags=TAGS,
    operation_id="listUsers",
    responses={**_ok(UserList, "a page of users"), **_errors(400, 422)},
)
def get_users(
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            # for the document: one line with at least one character that is not a space
            json_schema_extra={"pattern": VISIBLE_LINE_PATTERN},
            description=(
                "Names as people type them, in any script: family name, given name or both, with or without a "
                "space (`田中`, `田中 太郎`, `太郎`, `Taro Tanaka`); or the start of a username (`jp_wr`)."
            ),
        ),
    ] = None,
    verified: Annotated[bool | None, Query(description="true: verified users only; false: unverified only")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
):
    try:
        search = search_query(q)
    except ValueError as exc:
        raise Unprocessable("the request is invalid", [{"field": "q", "in": "query", "message": str(exc)}]) from None
    return json_response(list_users(verified, search, limit, cursor))


@app.get(
    "/admin/users/statistics",
    summary="User statistics (administrators)",
    tags=TAGS,
    operation_id="getUserStatistics",
    responses={**_ok(UserStatistics, "counts over active users"), **_errors(401, 403)},
)
def get_statistics():
    require_admin(app)
    return json_response(user_statistics())


@app.get(
    "/admin/users/by-email",
    summary="Find an active user by email (administrators)",
    tags=TAGS,
    operation_id="getUserByEmail",
    responses={**_ok(UserRecord, "the user"), **_errors(401, 403, 404, 422)},
)
def get_by_email(email: Annotated[str, Query(min_length=3, max_length=255)]):
    require_admin(app)
    return json_response(get_user_by_email(email.strip()))


@app.get(
    "/users/<user_id>",
    summary="A user's public page: names, avatar, profile and post statistics",
    description="Public: the same answer for every caller, never email, phone number or birth date. "
    "A user without a profile has `profile: null`. The signed-in caller's own record is `GET /me`.",
    tags=TAGS,
    operation_id="getUser",
    responses={**_ok(UserDetail, "the user"), **_errors(404)},
)
def get_user_route(user_id: str):
    return json_response(get_user(require_uuid(user_id, "user"), private=False))


@app.get(
    "/me",
    summary="Your own account, with its private fields",
    tags=TAGS,
    operation_id="getMe",
    responses={**_ok(UserDetail, "your account"), **_errors(401, 404)},
)
def get_me():
    who = require_identity(app)
    return json_response(get_user(who.sub, private=True))


@app.patch(
    "/me",
    summary="Change your own account",
    description="`is_verified` and `is_active` are for administrators only (403 for others).",
    tags=TAGS,
    operation_id="updateMe",
    responses={**_ok(UserRecord, "your changed account"), **_errors(400, 401, 403, 404, 422)},
)
def patch_me(body: UserUpdate):
    who = require_identity(app)
    return json_response(update_user(who, who.sub, body))


@app.get(
    "/me/posts",
    summary="Your own posts, drafts and archived ones included, newest first",
    tags=TAGS,
    operation_id="listMyPosts",
    responses={**_ok(AuthorPostList, "a page of posts"), **_errors(400, 401, 404, 422)},
)
def get_my_posts(limit: Limit = 20, cursor: Cursor = None):
    who = require_identity(app)
    return json_response(user_posts(who.sub, limit, cursor, all_statuses=True))


@app.patch(
    "/users/<user_id>",
    summary="Change a user (the user themself or an administrator)",
    description="`is_verified` and `is_active` are for administrators only (403 for others).",
    tags=TAGS,
    operation_id="updateUser",
    responses={**_ok(UserRecord, "the changed user"), **_errors(400, 401, 403, 404, 422)},
)
def patch_user(user_id: str, body: UserUpdate):
    who = require_identity(app)
    return json_response(update_user(who, require_uuid(user_id, "user"), body))


@app.delete(
    "/users/<user_id>",
    summary="Deactivate a user (the user themself or an administrator)",
    tags=TAGS,
    operation_id="deactivateUser",
    responses={204: {"description": "deactivated"}, **_errors(401, 403, 404)},
)
def delete_user(user_id: str):
    who = require_identity(app)
    deactivate_user(who, require_uuid(user_id, "user"))
    return Response(status_code=204)


@app.get(
    "/users/<user_id>/profile",
    summary="A user's public profile",
    tags=TAGS,
    operation_id="getUserProfile",
    responses={**_ok(UserProfileView, "the profile"), **_errors(404)},
)
def get_profile_route(user_id: str):
    return json_response(get_profile(require_uuid(user_id, "user")))


@app.put(
    "/users/<user_id>/profile",
    summary="Create or replace a profile (the user themself or an administrator)",
    tags=TAGS,
    operation_id="putUserProfile",
    responses={
        **_ok(ProfileRecord, "the replaced profile"),
        **_ok(ProfileRecord, "the new profile", 201),
        **_errors(400, 401, 403, 404, 422),
    },
)
def put_profile_route(user_id: str, body: ProfileIn):
    who = require_identity(app)
    profile, created = put_profile(who, require_uuid(user_id, "user"), body)
    return json_response(profile, 201 if created else 200)


@app.get(
    "/users/<user_id>/posts",
    summary="A user's published posts, newest first",
    description="Public: published posts only. The author's drafts are at `GET /me/posts`.",
    tags=TAGS,
    operation_id="listUserPosts",
    responses={**_ok(AuthorPostList, "a page of posts"), **_errors(400, 404, 422)},
)
def get_user_posts(user_id: str, limit: Limit = 20, cursor: Cursor = None):
    return json_response(user_posts(require_uuid(user_id, "user"), limit, cursor, all_statuses=False))


# -- Cognito post-authentication trigger ----------------------------------------------
def _run_bounded(work: Any, arg: str, budget: float) -> str:
    """Run work(arg) on a helper thread for at most `budget` seconds.

    Returns "ok", "failed" or "timeout". A hung database must not hold the
    sign-in past Cognito's 5 s limit; the helper thread finishes (or fails on
    its socket timeout) on its own.
    """
    outcome = ["timeout"]
    done = threading.Event()

    def run() -> None:
        try:
            work(arg)
            outcome[0] = "ok"
        except Exception:  # noqa: BLE001 - sign-in must never fail because of this
            outcome[0] = "failed"
            logger.exception("could not record the sign-in time", extra={"user_id": arg})
        finally:
            done.set()

    threading.Thread(target=run, name="record-login", daemon=True).start()
    done.wait(budget)
    return outcome[0]


def on_cognito_event(event: dict[str, Any], context: Any) -> Any:
    """Post-authentication: set last_login_at and the verified address, then hand the event back unchanged.

    User attributes are strings here as in HTTP API claims: `email_verified` is "true"
    once the user proved the address. With AttributesRequireVerificationBeforeUpdate
    the pool keeps the old address until the new one is verified, so a changed
    address reaches the database at the first sign-in after its verification.
    """
    trigger = event.get("triggerSource")
    if not isinstance(trigger, str):
        return NotImplemented
    if not trigger.startswith("PostAuthentication_"):
        logger.warning("ignoring an unexpected Cognito trigger", extra={"trigger": trigger})
        return event
    attributes = (event.get("request") or {}).get("userAttributes") or {}
    sub = attributes.get("sub")
    if not isinstance(sub, str) or not UUID_RE.match(sub):
        logger.warning("post-authentication event without a usable sub; last_login_at not updated")
        return event
    remaining = (
        context.get_remaining_time_in_millis() / 1000 - 0.5 if context is not None else LOGIN_UPDATE_BUDGET_SECONDS
    )
    email = verified_email(attributes)
    outcome = _run_bounded(
        lambda user_id: record_login(user_id, email),
        sub.lower(),
        max(0.1, min(LOGIN_UPDATE_BUDGET_SECONDS, remaining)),
    )
    if outcome != "ok":
        metrics.add_metric(name="LastLoginNotRecorded", unit=MetricUnit.Count, value=1)
        if outcome == "timeout":
            logger.warning("recording the sign-in time took too long; sign-in continues", extra={"user_id": sub})
    return event


handler = make_handler(app, extra=on_cognito_event)
# SnapStart: primed before the snapshot; after a restore, a connection of its own, warmed by a read
snapstart.register(app, warm=[(sql.GET_USER_PUBLIC, {"user_id": snapstart.PLACEHOLDER_ID})])
