"""Fixtures shared by the integration tests (the database fixtures live in tests/conftest.py).

* users, seeded, fully_seeded: the users function's module and the users seed (test_users_*).
* comments_handler, world: the comments function's handler and a small thread (test_comments_*).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.test_users_support import seed
from tests.support.factories import make_comment, make_post, make_user

# The post-authentication trigger gives its database work 2 s, then lets the sign-in go on
# and finishes in the background. On a loaded test machine that budget can pass before the
# work is done, and a test reading the row right after would see it unchanged; tests get a
# generous budget, and the ones about the budget itself set theirs.
SIGN_IN_BUDGET_IN_TESTS = 30.0


@pytest.fixture()
def users(db: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import users_cognito

    import users_app

    monkeypatch.setattr(users_cognito, "LOGIN_UPDATE_BUDGET_SECONDS", SIGN_IN_BUDGET_IN_TESTS)
    return users_app


@pytest.fixture()
def seeded(db: Any, owner_conn: Any) -> Any:
    seed(owner_conn)
    return owner_conn


@pytest.fixture()
def fully_seeded(db: Any, owner_conn: Any) -> Any:
    seed(owner_conn, everything=True)
    return owner_conn


@pytest.fixture()
def comments_handler(db: Any) -> Any:
    # Imported once the layer is configured: make_handler reads the settings.
    import comments_app

    return comments_app.handler


@pytest.fixture()
def world(db: Any, owner_conn: Any) -> dict[str, Any]:
    """Given: an admin, two users, a published post by `author` and a thread on it."""
    admin = make_user(owner_conn, username="admin_" + uuid.uuid4().hex[:6])
    author = make_user(owner_conn)
    reader = make_user(owner_conn)
    post = make_post(owner_conn, author["user_id"])
    top = make_comment(owner_conn, post["post_id"], reader["user_id"], content="first!")
    return {
        "admin": str(admin["user_id"]),
        "author": str(author["user_id"]),
        "reader": str(reader["user_id"]),
        "post": str(post["post_id"]),
        "comment": str(top["comment_id"]),
    }
