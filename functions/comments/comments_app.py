"""CommentsFunction: threaded comments of published posts, likes, moderation.

Routes parse and validate, call one function of comments_queries, and answer.
Identity comes only from the JWT authorizer's claims; the public list never
reads one.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import comments_queries as queries
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from comments_models import Comment, CommentCreate, CommentPage, CommentUpdate, LikeState

from shared import snapstart
from shared.http import (
    ErrorBody,
    create_app,
    idempotency_key,
    json_doc,
    json_response,
    make_handler,
    request_fingerprint,
    require_admin,
    require_identity,
    require_uuid,
)
from shared.pagination import CURSOR_DESCRIPTION, CURSOR_PATTERN

app = create_app()

TAGS = ["comments"]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]
Cursor = Annotated[
    str | None, Query(min_length=1, max_length=512, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
]


def _errors(*codes: int) -> dict[int, dict[str, Any]]:
    text = {
        400: "Invalid cursor or malformed JSON.",
        401: "No verified identity.",
        403: "Not allowed (not the author, not an administrator, or not registered).",
        404: "No such post or comment.",
        409: "The comment's state does not allow this.",
        422: "Invalid input.",
    }
    return {code: json_doc(ErrorBody, text[code]) for code in codes}


@app.get(
    "/posts/<post_id>/comments",
    summary="List a published post's comments in thread order",
    description="Replies follow their parent (depth-first, oldest first). Hidden comments and their replies are "
    "left out; a deleted comment appears as a placeholder only when replies below it are listed.",
    tags=TAGS,
    operation_id="listComments",
    responses={200: json_doc(CommentPage, "A page of the thread."), **_errors(400, 404, 422)},
)
def list_comments(post_id: str, limit: Limit = 20, cursor: Cursor = None):
    post_id = require_uuid(post_id, "post")
    return json_response(queries.public_thread(post_id, limit, cursor))


@app.get(
    "/admin/posts/<post_id>/comments",
    summary="Moderation view of a post's thread (administrators)",
    description="Every comment of the post in thread order, hidden ones included, with its status.",
    tags=[*TAGS, "moderation"],
    operation_id="listCommentsForModeration",
    responses={200: json_doc(CommentPage, "A page of the thread."), **_errors(400, 401, 403, 404, 422)},
)
def list_comments_for_moderation(post_id: str, limit: Limit = 20, cursor: Cursor = None):
    require_admin(app)
    post_id = require_uuid(post_id, "post")
    return json_response(queries.moderation_thread(post_id, limit, cursor))


# Without a client-chosen comment_id, an Idempotency-Key header names the comment:
# its id is derived from the author, the post and the key, so a retry finds it (200).
IDEMPOTENCY_NAMESPACE = uuid.UUID("3d6f2a8e-51c4-5b9f-8e27-c0a4b61d9f35")


def _comment_id_from_idempotency_key(sub: str, post_id: str) -> str | None:
    key = idempotency_key(app)
    if key is None:
        return None
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, sub + "\n" + post_id + "\n" + key))


@app.post(
    "/posts/<post_id>/comments",
    summary="Comment on a published post, or reply to a comment",
    description=(
        "Idempotent with a client-chosen `comment_id` or an `Idempotency-Key` header (1-200 printable ASCII "
        "characters): a retry by the same author returns the existing comment with 200. The same Idempotency-Key "
        "or `comment_id` with a different body answers 422 `idempotency_key_reused`."
    ),
    tags=TAGS,
    operation_id="createComment",
    responses={
        201: json_doc(Comment, "Created; Location names the comment."),
        200: json_doc(Comment, "The comment created earlier with the same comment_id or Idempotency-Key (a retry)."),
        **_errors(401, 403, 404, 409, 422),
    },
)
def create_comment(post_id: str, body: Annotated[CommentCreate, Body()]):
    who = require_identity(app)
    post_id = require_uuid(post_id, "post")
    status, comment_id, comment = queries.create_comment(
        who,
        post_id,
        body.content,
        str(body.parent_comment_id) if body.parent_comment_id else None,
        str(body.comment_id) if body.comment_id else _comment_id_from_idempotency_key(who.sub, post_id),
        request_fingerprint(app),
        named_by_body=body.comment_id is not None,
    )
    return json_response(comment, status, {"Location": f"/comments/{comment_id}"})


@app.patch(
    "/comments/<comment_id>",
    summary="Edit your comment's text",
    description="Only the author edits, and only an active comment: hidden and deleted comments answer 409.",
    tags=TAGS,
    operation_id="updateComment",
    responses={200: json_doc(Comment, "The edited comment."), **_errors(401, 403, 404, 409, 422)},
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
    responses={204: {"description": "Deleted."}, **_errors(401, 403, 404)},
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
    responses={200: json_doc(Comment, "The comment, hidden."), **_errors(401, 403, 404, 409)},
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
    responses={200: json_doc(Comment, "The comment, active again."), **_errors(401, 403, 404, 409)},
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
    responses={200: json_doc(LikeState, "Liked."), **_errors(401, 403, 404, 409)},
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
    responses={200: json_doc(LikeState, "Not liked."), **_errors(401, 404)},
)
def unlike_comment(comment_id: str):
    who = require_identity(app)
    comment_id = require_uuid(comment_id, "comment")
    return json_response(queries.unlike_comment(who, comment_id))


handler = make_handler(app)
snapstart.register(app)  # SnapStart: primed before the snapshot, reset after a restore
