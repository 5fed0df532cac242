"""CommentsFunction: threaded comments of published posts, likes, moderation.

Routes and HTTP only: parse and validate, call one function of comments_queries (the data
module), and answer with statuses and headers.
Identity comes only from the JWT authorizer's claims; the public list never
reads one.
"""

from __future__ import annotations

from typing import Annotated

import comments_queries as queries
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from comments_models import Comment, CommentCreate, CommentPage, CommentUpdate, LikeState

from shared import snapstart
from shared.http import (
    CursorQuery,
    create_app,
    idempotency_key,
    json_response,
    make_handler,
    one_request_name,
    request_fingerprint,
    require_admin,
    require_identity,
    require_uuid,
)
from shared.schemas import error_docs, json_doc, reads_headers

app = create_app()

TAGS = ["comments"]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]


@app.get(
    "/posts/<post_id>/comments",
    summary="List a published post's comments in thread order",
    description="Replies follow their parent (depth-first, oldest first). Hidden comments and their replies are "
    "left out; a deleted comment appears as a placeholder only when replies below it are listed.",
    tags=TAGS,
    operation_id="listComments",
    responses={200: json_doc(CommentPage, "A page of the thread."), **error_docs(400, 404, 422)},
)
def list_comments(post_id: str, limit: Limit = 20, cursor: CursorQuery = None):
    post_id = require_uuid(post_id, "post")
    return json_response(queries.public_thread(post_id, limit, cursor))


@app.get(
    "/admin/posts/<post_id>/comments",
    summary="Moderation view of a post's thread (administrators)",
    description="Every comment of the post in thread order, hidden ones included, with its status.",
    tags=[*TAGS, "moderation"],
    operation_id="listCommentsForModeration",
    responses={200: json_doc(CommentPage, "A page of the thread."), **error_docs(400, 401, 403, 404, 422)},
)
def list_comments_for_moderation(post_id: str, limit: Limit = 20, cursor: CursorQuery = None):
    require_admin(app)
    post_id = require_uuid(post_id, "post")
    return json_response(queries.moderation_thread(post_id, limit, cursor))


@app.post(
    "/posts/<post_id>/comments",
    summary="Comment on a published post, or reply to a comment",
    description=(
        "Idempotent with a client-chosen `comment_id` or an `Idempotency-Key` header (1-200 printable ASCII "
        "characters), not both: a retry by the same author returns the existing comment with 200. The same "
        "Idempotency-Key or `comment_id` with a different body answers 422 `idempotency_key_reused`."
    ),
    tags=TAGS,
    operation_id="createComment",
    openapi_extensions=reads_headers("Idempotency-Key"),
    responses={
        201: json_doc(Comment, "Created", headers=("Location",)),
        200: json_doc(
            Comment,
            "The comment created earlier with the same comment_id or Idempotency-Key (a retry).",
            headers=("Location",),
        ),
        **error_docs(401, 403, 404, 409, 422),
    },
)
def create_comment(post_id: str, body: Annotated[CommentCreate, Body()]):
    who = require_identity(app)
    post_id = require_uuid(post_id, "post")
    key = idempotency_key(app)
    one_request_name(key, body.comment_id, "comment_id")
    created = queries.create_comment(
        who,
        post_id,
        body.content,
        str(body.parent_comment_id) if body.parent_comment_id else None,
        str(body.comment_id) if body.comment_id else None,
        key,
        request_fingerprint(app, body, post_id),
    )
    return json_response(created.json, 201 if created.new else 200, {"Location": f"/comments/{created.id}"})


@app.patch(
    "/comments/<comment_id>",
    summary="Edit your comment's text",
    description="Only the author edits, and only an active comment: hidden and deleted comments answer 409.",
    tags=TAGS,
    operation_id="updateComment",
    responses={200: json_doc(Comment, "The edited comment."), **error_docs(401, 403, 404, 409, 422)},
)
def update_comment(comment_id: str, body: Annotated[CommentUpdate, Body()]):
    who = require_identity(app)
    comment_id = require_uuid(comment_id, "comment")
    return json_response(queries.update_comment(who, comment_id, body.content))


@app.delete(
    "/comments/<comment_id>",
    summary="Delete a comment (author or administrator)",
    description="The comment becomes a placeholder; deleting again also answers 204.",
    tags=TAGS,
    operation_id="deleteComment",
    responses={204: {"description": "Deleted."}, **error_docs(401, 403, 404)},
)
def delete_comment(comment_id: str):
    who = require_identity(app)
    comment_id = require_uuid(comment_id, "comment")
    queries.delete_comment(who, comment_id)
    return Response(status_code=204)


@app.post(
    "/comments/<comment_id>/hide",
    summary="Hide a comment and its replies (administrators)",
    tags=[*TAGS, "moderation"],
    operation_id="hideComment",
    responses={200: json_doc(Comment, "The comment, hidden."), **error_docs(401, 403, 404, 409)},
)
def hide_comment(comment_id: str):
    require_admin(app)
    comment_id = require_uuid(comment_id, "comment")
    return json_response(queries.moderate_comment(comment_id, "hide"))


@app.post(
    "/comments/<comment_id>/unhide",
    summary="Show a hidden comment again (administrators)",
    tags=[*TAGS, "moderation"],
    operation_id="unhideComment",
    responses={200: json_doc(Comment, "The comment, active again."), **error_docs(401, 403, 404, 409)},
)
def unhide_comment(comment_id: str):
    require_admin(app)
    comment_id = require_uuid(comment_id, "comment")
    return json_response(queries.moderate_comment(comment_id, "unhide"))


@app.put(
    "/comments/<comment_id>/like",
    summary="Like a comment (idempotent)",
    tags=TAGS,
    operation_id="likeComment",
    responses={200: json_doc(LikeState, "Liked."), **error_docs(401, 403, 404, 409)},
)
def like_comment(comment_id: str):
    who = require_identity(app)
    comment_id = require_uuid(comment_id, "comment")
    return json_response(queries.like_comment(who, comment_id))


@app.delete(
    "/comments/<comment_id>/like",
    summary="Remove your like (idempotent)",
    tags=TAGS,
    operation_id="unlikeComment",
    responses={200: json_doc(LikeState, "Not liked."), **error_docs(401, 404)},
)
def unlike_comment(comment_id: str):
    who = require_identity(app)
    comment_id = require_uuid(comment_id, "comment")
    return json_response(queries.unlike_comment(who, comment_id))


handler = make_handler(app)
# SnapStart: primed before the snapshot; after a restore, the hot read warmed, a connection of its own
snapstart.register(app, warm=("GET /posts/{post_id}/comments",))
