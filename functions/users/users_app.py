"""UsersFunction's routes: registration, public user lists and views, self-service account and
profile changes, an author's posts (HTTP only: statuses, headers).

Each route parses and validates, then calls one function of users_queries (the data module,
statements in users.sql). The Cognito post-authentication trigger is users_cognito.py.
Identity comes only from the JWT authorizer's claims; on public routes there is none.
"""

from __future__ import annotations

from typing import Annotated, Any

import users_queries as queries
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from users_cognito import on_cognito_event
from users_models import (
    NAME_QUERY_PATTERN,
    AuthorPostList,
    ProfileIn,
    ProfileRecord,
    UserCreate,
    UserDetail,
    UserList,
    UserProfileView,
    UserRecord,
    UserStatistics,
    UserUpdate,
    search_query,
)

from shared import snapstart
from shared.errors import Unprocessable
from shared.http import (
    CursorQuery,
    create_app,
    json_response,
    make_handler,
    require_admin,
    require_identity,
    require_uuid,
)
from shared.schemas import error_docs, json_doc

app = create_app()


# -- routes ---------------------------------------------------------------------------
TAGS = ["users"]
Limit = Annotated[int, Query(ge=1, le=100, description="page size, 1-100")]


def _ok(model: type, description: str, status: int = 200, headers: tuple[str, ...] = ()) -> dict[int, Any]:
    return {status: json_doc(model, description, headers)}


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
        **_ok(UserRecord, "the new user", 201, ("Location",)),
        **_ok(UserRecord, "already registered by this same request (a retry after a lost reply)", 200, ("Location",)),
        **error_docs(400, 401, 409, 422),
    },
)
def post_user(body: UserCreate):
    who = require_identity(app)
    created = queries.register_user(who, body)
    return json_response(created.json, 201 if created.new else 200, {"Location": "/users/" + created.id})


@app.get(
    "/users",
    summary="List active users, newest first",
    tags=TAGS,
    operation_id="listUsers",
    responses={**_ok(UserList, "a page of users"), **error_docs(400, 422)},
)
def get_users(
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            # for the document: one line with at least one character that is not a space or a dot
            json_schema_extra={"pattern": NAME_QUERY_PATTERN},
            description=(
                "Names as people type them, in any script: family name, given name or both, with or without a "
                "space or a middle dot (`田中`, `田中 太郎`, `太郎`, `Taro Tanaka`, `ジョン・スミス`); or the start "
                "of a username (`jp_wr`)."
            ),
        ),
    ] = None,
    verified: Annotated[bool | None, Query(description="true: verified users only; false: unverified only")] = None,
    limit: Limit = 20,
    cursor: CursorQuery = None,
):
    try:
        search = search_query(q)
    except ValueError as exc:
        raise Unprocessable("the request is invalid", [{"field": "q", "in": "query", "message": str(exc)}]) from None
    return json_response(queries.list_users(verified, search, limit, cursor))


@app.get(
    "/admin/users/statistics",
    summary="User statistics (administrators)",
    tags=TAGS,
    operation_id="getUserStatistics",
    responses={**_ok(UserStatistics, "counts over active users"), **error_docs(401, 403)},
)
def get_statistics():
    require_admin(app)
    return json_response(queries.user_statistics())


@app.get(
    "/admin/users/by-email",
    summary="Find an active user by email (administrators)",
    tags=TAGS,
    operation_id="getUserByEmail",
    responses={**_ok(UserRecord, "the user"), **error_docs(401, 403, 404, 422)},
)
def get_by_email(email: Annotated[str, Query(min_length=3, max_length=255)]):
    require_admin(app)
    return json_response(queries.get_user_by_email(email.strip()))


@app.get(
    "/users/<user_id>",
    summary="A user's public page: names, avatar, profile and post statistics",
    description="Public: the same answer for every caller, never email, phone number or birth date. "
    "A user without a profile has `profile: null`. The signed-in caller's own record is `GET /me`.",
    tags=TAGS,
    operation_id="getUser",
    responses={**_ok(UserDetail, "the user"), **error_docs(404)},
)
def get_user_route(user_id: str):
    return json_response(queries.get_user(require_uuid(user_id, "user"), private=False))


@app.get(
    "/me",
    summary="Your own account, with its private fields",
    tags=TAGS,
    operation_id="getMe",
    responses={**_ok(UserDetail, "your account"), **error_docs(401, 404)},
)
def get_me():
    who = require_identity(app)
    return json_response(queries.get_user(who.sub, private=True))


@app.patch(
    "/me",
    summary="Change your own account",
    description="`is_verified` and `is_active` are for administrators only (403 for others).",
    tags=TAGS,
    operation_id="updateMe",
    responses={**_ok(UserRecord, "your changed account"), **error_docs(400, 401, 403, 404, 422)},
)
def patch_me(body: UserUpdate):
    who = require_identity(app)
    return json_response(queries.update_user(who, who.sub, body))


@app.get(
    "/me/posts",
    summary="Your own posts, drafts and archived ones included, newest first",
    tags=TAGS,
    operation_id="listMyPosts",
    responses={**_ok(AuthorPostList, "a page of posts"), **error_docs(400, 401, 404, 422)},
)
def get_my_posts(limit: Limit = 20, cursor: CursorQuery = None):
    who = require_identity(app)
    return json_response(queries.user_posts(who.sub, limit, cursor, all_statuses=True))


@app.patch(
    "/users/<user_id>",
    summary="Change a user (the user themself or an administrator)",
    description="`is_verified` and `is_active` are for administrators only (403 for others).",
    tags=TAGS,
    operation_id="updateUser",
    responses={**_ok(UserRecord, "the changed user"), **error_docs(400, 401, 403, 404, 422)},
)
def patch_user(user_id: str, body: UserUpdate):
    who = require_identity(app)
    return json_response(queries.update_user(who, require_uuid(user_id, "user"), body))


@app.delete(
    "/users/<user_id>",
    summary="Deactivate a user (the user themself or an administrator)",
    tags=TAGS,
    operation_id="deactivateUser",
    responses={204: {"description": "deactivated"}, **error_docs(401, 403, 404)},
)
def delete_user(user_id: str):
    who = require_identity(app)
    queries.deactivate_user(who, require_uuid(user_id, "user"))
    return Response(status_code=204)


@app.get(
    "/users/<user_id>/profile",
    summary="A user's public profile",
    tags=TAGS,
    operation_id="getUserProfile",
    responses={**_ok(UserProfileView, "the profile"), **error_docs(404)},
)
def get_profile_route(user_id: str):
    return json_response(queries.get_profile(require_uuid(user_id, "user")))


@app.put(
    "/users/<user_id>/profile",
    summary="Create or replace a profile (the user themself or an administrator)",
    tags=TAGS,
    operation_id="putUserProfile",
    responses={
        **_ok(ProfileRecord, "the replaced profile"),
        **_ok(ProfileRecord, "the new profile", 201),
        **error_docs(400, 401, 403, 404, 422),
    },
)
def put_profile_route(user_id: str, body: ProfileIn):
    who = require_identity(app)
    profile, created = queries.put_profile(who, require_uuid(user_id, "user"), body)
    return json_response(profile, 201 if created else 200)


@app.get(
    "/users/<user_id>/posts",
    summary="A user's published posts, newest first",
    description="Public: published posts only. The author's drafts are at `GET /me/posts`.",
    tags=TAGS,
    operation_id="listUserPosts",
    responses={**_ok(AuthorPostList, "a page of posts"), **error_docs(400, 404, 422)},
)
def get_user_posts(user_id: str, limit: Limit = 20, cursor: CursorQuery = None):
    return json_response(queries.user_posts(require_uuid(user_id, "user"), limit, cursor, all_statuses=False))


handler = make_handler(app, extra=on_cognito_event)
# SnapStart: primed before the snapshot; after a restore, the hot read warmed, a connection of its own
snapstart.register(
    app,
    warm=("GET /users/{user_id}",),
    statements=queries.warm_up_reads(snapstart.PLACEHOLDER_ID),
)
