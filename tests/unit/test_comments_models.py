"""Request bodies and cursors of the comments API (no database)."""

from __future__ import annotations

import re
import uuid

import comments_queries as queries
import pytest
from comments_models import CommentCreate, CommentUpdate
from pydantic import ValidationError

from shared.errors import BadRequest
from shared.pagination import encode_cursor


@pytest.mark.parametrize("content", ["x", "  padded  ", "日本語のコメント", "y" * 10_000, "line\nbreak"])
def test_readable_content_is_accepted_as_written(content):
    assert CommentCreate(content=content).content == content
    assert CommentUpdate(content=content).content == content


@pytest.mark.parametrize("content", ["", " ", "\n\t\u3000", "z" * 10_001, "a\x00b"])
def test_empty_blank_oversized_or_nul_content_is_refused(content):
    with pytest.raises(ValidationError):
        CommentCreate(content=content)
    with pytest.raises(ValidationError):
        CommentUpdate(content=content)


@pytest.mark.parametrize("field", ["user_id", "status", "like_count", "post_id", "thread_key"])
def test_unknown_fields_are_refused_never_ignored(field):
    with pytest.raises(ValidationError) as err:
        CommentCreate.model_validate({"content": "hi", field: "x"})
    assert err.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        CommentUpdate.model_validate({"content": "hi", field: "x"})


def test_ids_are_parsed_as_uuids():
    parent, own = uuid.uuid4(), uuid.uuid4()
    body = CommentCreate.model_validate({"content": "hi", "parent_comment_id": str(parent), "comment_id": str(own)})
    assert body.parent_comment_id == parent and body.comment_id == own
    with pytest.raises(ValidationError):
        CommentCreate.model_validate({"content": "hi", "parent_comment_id": "1; DROP TABLE comments"})


def test_a_cursor_names_a_comment_of_its_own_list():
    comment_id, post_id, other_post = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    public = queries.thread_kind(queries.PUBLIC_KIND, post_id)
    assert queries._after_id(public, None) is None
    assert queries._after_id(public, encode_cursor(public, [comment_id])) == comment_id
    # The post's id in either case names the same thread
    assert queries.thread_kind(queries.PUBLIC_KIND, post_id.upper()) == public
    for bad in (
        encode_cursor(queries.thread_kind(queries.MODERATION_KIND, post_id), [comment_id]),
        encode_cursor(queries.thread_kind(queries.PUBLIC_KIND, other_post), [comment_id]),  # another post's thread
        encode_cursor(public, ["' OR 1=1 --"]),
        encode_cursor(public, [comment_id, comment_id]),
        "not-a-cursor",
    ):
        with pytest.raises(BadRequest):
            queries._after_id(public, bad)


def test_sql_takes_values_only_as_named_parameters():
    """The statements are fixed at import (comments.sql): input reaches them only through :name placeholders."""
    sql = {k: v for k, v in queries.SQL.items() if k.endswith(("_thread", "_comment"))}
    assert len(sql) == 8
    for name, text in sql.items():
        assert "{" not in text.replace("'{", ""), name  # no unformatted template left
        params = set(re.findall(r"(?<!:):([a-z_]+)", text))
        assert params, name
        assert params <= {
            "post_id", "after_id", "limit", "user_id", "parent_id", "comment_id", "content", "max_depth",
            "is_admin", "from_status", "to_status", "delta", "fingerprint",
        }, name  # fmt: skip
