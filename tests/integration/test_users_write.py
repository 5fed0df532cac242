"""Changing users: PATCH /users/{id} and DELETE /users/{id} (deactivation)."""

from __future__ import annotations

import pytest

from tests.integration.test_users_support import MISSING, USER1, USER2, admin_claims, row, send
from tests.support.api import StatementCounter

# Fixtures shared by the users tests.

USER_COLUMNS = (
    "first_name, last_name, phone_number, profile_image_url, date_of_birth, is_verified, is_active, email, username"
)


def stored(conn, user_id: str = USER1) -> dict:
    return row(conn, f"SELECT {USER_COLUMNS} FROM users WHERE user_id = :u", u=user_id)  # type: ignore[return-value]


# -- PATCH ----------------------------------------------------------------------------
def test_owner_changes_sent_fields_and_keeps_the_others(users, seeded):
    # Given user1 with a profile image and a last name
    seeded.run(
        "UPDATE users SET profile_image_url = 'https://img.example.com/a.png', date_of_birth = '1990-01-02' "
        "WHERE user_id = :u",
        u=USER1,
    )
    before = stored(seeded)
    # When user1 sends first_name, phone_number and profile_image_url = null
    with StatementCounter() as counter:
        reply = send(users, "update")
    # Then those change (null clears), everything else is kept, in one statement
    assert reply.status == 200, reply.body
    assert counter.count == 1
    after = stored(seeded)
    assert after["first_name"] == "Taro"
    assert after["phone_number"] == "+81 3 1234 5678"
    assert after["profile_image_url"] is None
    for kept in ("last_name", "date_of_birth", "is_verified", "is_active", "email", "username"):
        assert after[kept] == before[kept], kept
    assert reply.body["first_name"] == "Taro" and reply.body["email"] == "user1@example.com"
    assert "password_hash" not in reply.body


def test_admin_may_set_flags_and_reactivate(users, seeded):
    # Given an inactive user2
    seeded.run("UPDATE users SET is_active = false WHERE user_id = :u", u=USER2)
    # When an admin verifies and reactivates them
    reply = send(users, "update_admin_verify", body={"is_verified": True, "is_active": True})
    # Then both flags are written
    assert reply.status == 200, reply.body
    assert stored(seeded, USER2)["is_verified"] is True
    assert stored(seeded, USER2)["is_active"] is True


def test_admin_changes_another_users_name(users, seeded):
    reply = send(users, "update", claims=admin_claims(), body={"last_name": "Suzuki"})
    assert reply.status == 200
    assert stored(seeded)["last_name"] == "Suzuki"


@pytest.mark.parametrize("field", ["is_verified", "is_active"])
def test_non_admin_sending_admin_fields_is_403_and_nothing_changes(users, seeded, field):
    """403, not 422: the request is well formed (administrators send exactly
    this), the caller is just not allowed to change these fields."""
    before = stored(seeded)
    reply = send(users, "update_admin_field_403", body={field: not before[field], "first_name": "Sneaky"})
    assert reply.status == 403
    assert reply.body["error"]["details"] == [{"field": field, "message": "administrators only"}]
    assert stored(seeded) == before


def test_other_user_is_403(users, seeded):
    before = stored(seeded)
    assert send(users, "update_other_403").status == 403
    assert stored(seeded) == before


def test_anonymous_is_401(users, seeded):
    before = stored(seeded)
    assert send(users, "update_anonymous_401").status == 401
    assert stored(seeded) == before


@pytest.mark.parametrize(
    "body",
    [
        {"email": "stolen@example.com"},
        {"username": "root"},
        {"user_id": MISSING},
        {"password_hash": "$2b$12$x"},
        {"created_at": "2000-01-01T00:00:00Z"},
        {"first_name": "Ok", "last_login_at": None},
    ],
)
def test_unknown_fields_are_422_and_never_written(users, seeded, body):
    before = stored(seeded)
    reply = send(users, "update", body=body)
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["message"] == "unknown field: it cannot be set here"
    assert stored(seeded) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"first_name": "x" * 101},
        {"first_name": ""},
        {"phone_number": "not a phone"},
        {"profile_image_url": "ftp://example.com/a.png"},
        {"profile_image_url": "/relative.png"},
        {"date_of_birth": "2999-12-31"},
        {"date_of_birth": "1850-01-01"},
        {"is_verified": None},
        {"is_verified": "yes"},
    ],
)
def test_invalid_values_are_422(users, seeded, body):
    before = stored(seeded)
    reply = send(users, "update", claims=admin_claims(), body=body)
    assert reply.status == 422, reply.body
    assert stored(seeded) == before


@pytest.mark.parametrize("user_id", [MISSING, "not-a-uuid"])
def test_unknown_user_is_404(users, seeded, user_id):
    assert send(users, "update_not_found_404", path_params={"user_id": user_id}).status == 404


def test_deactivated_owner_cannot_patch_themself(users, seeded):
    seeded.run("UPDATE users SET is_active = false WHERE user_id = :u", u=USER1)
    assert send(users, "update").status == 404
    assert stored(seeded)["first_name"] == "田中"


def test_values_are_data_not_sql(users, seeded):
    nasty = "Robert'); DROP TABLE users; --"
    reply = send(users, "update", body={"last_name": nasty})
    assert reply.status == 200
    assert stored(seeded)["last_name"] == nasty


# -- DELETE ---------------------------------------------------------------------------
def test_owner_deactivates_themself_and_disappears(users, seeded):
    # When user2 deletes their account
    reply = send(users, "delete")
    # Then 204 without a body, the row stays but inactive
    assert reply.status == 204
    assert not reply.body
    assert stored(seeded, USER2)["is_active"] is False
    # and user2 is gone from lists and look-ups
    listed = {u["user_id"] for u in send(users, "list").body["items"]}
    assert USER2 not in listed and USER1 in listed
    assert send(users, "get", path_params={"user_id": USER2}).status == 404
    assert send(users, "by_email", query={"email": "user2@example.com"}).status == 404
    assert send(users, "get_profile", path_params={"user_id": USER2}).status == 404
    assert send(users, "posts", path_params={"user_id": USER2}).status == 404
    assert send(users, "list", query={"q": "user2"}).body["items"] == []
    # and a second delete finds nothing
    assert send(users, "delete").status == 404


def test_admin_deactivates_a_user(users, seeded):
    assert send(users, "delete_admin").status == 204
    assert stored(seeded)["is_active"] is False


@pytest.mark.parametrize(("sample", "status"), [("delete_other_403", 403), ("delete_anonymous_401", 401)])
def test_delete_refused(users, seeded, sample, status):
    assert send(users, sample).status == status
    assert stored(seeded)["is_active"] is True


def test_delete_unknown_is_404(users, seeded):
    assert send(users, "delete_not_found_404").status == 404
    assert send(users, "delete_not_found_404", path_params={"user_id": "nope"}).status == 404
