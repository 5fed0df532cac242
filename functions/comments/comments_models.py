"""Request bodies of the comments API, and the response shapes it documents.

Responses are built as JSON by PostgreSQL (see comments_queries) and pass
through untouched; the response models exist for the OpenAPI document only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.schemas import DOCS_ONLY, AuthorSummary
from shared.text import VISIBLE_RULE, is_blank

MAX_CONTENT_LENGTH = 10_000
MAX_DEPTH = 9  # depth 0..9: ten levels; the migration's trigger enforces the same limit


def _readable_text(value: str) -> str:
    if is_blank(value):
        raise ValueError("content cannot be empty or only whitespace or invisible characters")
    if "\x00" in value:
        raise ValueError("content cannot contain NUL characters")
    return value


Content = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CONTENT_LENGTH,
        description="The comment's text (1-10,000 characters). " + VISIBLE_RULE,
    ),
    AfterValidator(_readable_text),
]


class CommentCreate(BaseModel):
    """A new comment, or a reply when `parent_comment_id` is given."""

    model_config = ConfigDict(extra="forbid")

    content: Content
    parent_comment_id: UUID | None = Field(
        default=None, description="The comment this one replies to: an active comment of the same post."
    )
    comment_id: UUID | None = Field(
        default=None,
        description="Optional id chosen by the client: retrying with the same id returns the comment "
        "created the first time (200) instead of creating a duplicate.",
    )


class CommentUpdate(BaseModel):
    """An edit by the comment's author: only the text can change."""

    model_config = ConfigDict(extra="forbid")

    content: Content


class Comment(BaseModel):
    model_config = DOCS_ONLY

    comment_id: UUID
    post_id: UUID
    parent_comment_id: UUID | None = None
    depth: int = Field(description="0 for a top-level comment, parent's depth + 1 for a reply.")
    status: Literal["active", "hidden", "deleted"]
    content: str | None = Field(description="null for a deleted comment (kept as a placeholder for its replies).")
    author: AuthorSummary | None = Field(description="null for a deleted comment in the public thread.")
    like_count: int
    created_at: datetime
    updated_at: datetime | None = None


class CommentPage(BaseModel):
    model_config = DOCS_ONLY

    items: list[Comment] = Field(description="Comments in thread order: each reply right after its parent.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class LikeState(BaseModel):
    model_config = DOCS_ONLY

    liked: bool
    like_count: int
