"""Only an address the identity provider verified binds an account (e-mail squatting).

Every route and trigger that writes or looks up an e-mail, with each kind of token:
a Cognito ID token (`aud`, `email`, `email_verified`, `cognito:username`) whose
address is verified or not, and an access token (`client_id`, `scope`, no e-mail).
Claims arrive as strings, as API Gateway's HTTP API passes them.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from testing.events import access_claims, claims, http_event, load_event
from tests.conftest import LambdaContext
from tests.integration.test_users_support import row, send
from tests.support.api import call
from tests.support.factories import make_user


def new_sub() -> str:
    return str(uuid.uuid4())


def victim_address() -> str:
    return f"victim-{uuid.uuid4().hex[:8]}@example.com"


def stored_email(conn: Any, sub: str) -> Any:
    found = row(conn, "SELECT email FROM users WHERE user_id = :u", u=sub)
    return "no row" if found is None else found["email"]


def holders(conn: Any, email: str) -> list[str]:
    return [r[0] for r in conn.run("SELECT user_id::text FROM users WHERE lower(email) = lower(:e)", e=email)]


def token_of(kind: str, sub: str, email: str, groups: list[str] | None = None) -> dict[str, str]:
    if kind == "access":
        return access_claims(sub, groups=groups)
    return claims(sub, email=email, groups=groups, email_verified=kind == "id, verified")


KINDS = ("id, verified", "id, unverified", "access")


# -- POST /users ------------------------------------------------------------------------
def test_unverified_email_does_not_bind_and_the_owner_registers_later(users, owner_conn):
    address = victim_address()
    squatter, owner = new_sub(), new_sub()
    # Given someone registers with a token that claims the victim's address, unverified
    first = send(
        users,
        "create",
        claims=claims(squatter, email=address, email_verified=False),
        body={"username": "sq" + squatter[:8]},
    )
    # Then they are registered, without an address
    assert first.status == 201, first.body
    assert first.body["email"] is None
    assert holders(owner_conn, address) == []
    # When the address's owner registers with a verified token
    second = send(users, "create", claims=claims(owner, email=address), body={"username": "ow" + owner[:8]})
    # Then it is theirs: 201, not 409
    assert second.status == 201, second.body
    assert second.body["email"] == address
    assert holders(owner_conn, address) == [owner]


def test_access_token_with_the_email_in_the_body_binds_nothing(users, owner_conn):
    address = victim_address()
    squatter, owner = new_sub(), new_sub()
    # Given an access token (no e-mail claim) and the victim's address in the body
    first = send(
        users, "create", claims=access_claims(squatter), body={"username": "ac" + squatter[:8], "email": address}
    )
    # Then nothing is registered and the address is free
    assert first.status == 422, first.body
    assert first.body["error"]["details"][0]["field"] == "email"
    assert stored_email(owner_conn, squatter) == "no row"
    # And the owner registers with it
    second = send(users, "create", claims=claims(owner, email=address), body={"username": "ow" + owner[:8]})
    assert second.status == 201, second.body
    assert holders(owner_conn, address) == [owner]


def test_unverified_claim_repeated_in_the_body_is_still_refused(users, owner_conn):
    address = victim_address()
    sub = new_sub()
    token = claims(sub, email=address, email_verified=False)
    reply = send(users, "create", claims=token, body={"username": "rp" + sub[:8], "email": address})
    assert reply.status == 422, reply.body
    assert holders(owner_conn, address) == []


@pytest.mark.parametrize("verified", ["true", "TRUE", "True"])
def test_the_string_true_is_a_verified_address(users, owner_conn, verified):
    address, sub = victim_address(), new_sub()
    token = dict(claims(sub, email=address), email_verified=verified)
    reply = send(users, "create", claims=token, body={"username": "vt" + sub[:8]})
    assert reply.status == 201 and reply.body["email"] == address


@pytest.mark.parametrize("verified", ["false", "", "1", "yes", None])
def test_anything_but_true_is_unverified(users, owner_conn, verified):
    address, sub = victim_address(), new_sub()
    token = claims(sub, email=address)
    if verified is None:
        del token["email_verified"]
    else:
        token["email_verified"] = verified
    reply = send(users, "create", claims=token, body={"username": "uv" + sub[:8]})
    assert reply.status == 201, reply.body
    assert reply.body["email"] is None and holders(owner_conn, address) == []


def test_access_token_carrying_email_claims_binds_nothing(users, owner_conn):
    """An access token never binds an address, even one whose issuer adds e-mail claims to it."""
    address, sub = victim_address(), new_sub()
    token = dict(access_claims(sub), email=address, email_verified="true")
    reply = send(users, "create", claims=token, body={"username": "ae" + sub[:8]})
    assert reply.status == 201, reply.body
    assert reply.body["email"] is None and holders(owner_conn, address) == []


@pytest.mark.parametrize(
    ("kind", "body_email", "status", "bound"),
    [
        ("id, verified", False, 201, True),
        ("id, verified", True, 201, True),
        ("id, unverified", False, 201, False),
        ("id, unverified", True, 422, False),
        ("access", False, 201, False),
        ("access", True, 422, False),
    ],
)
def test_registration_matrix(users, owner_conn, kind, body_email, status, bound):
    address, sub = victim_address(), new_sub()
    body: dict[str, Any] = {"username": "mx" + sub[:8]}
    if body_email:
        body["email"] = address
    reply = send(users, "create", claims=token_of(kind, sub, address), body=body)
    assert reply.status == status, reply.body
    assert holders(owner_conn, address) == ([sub] if bound else [])


# -- PATCH /users/{id} -------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_patch_never_writes_an_email(users, owner_conn, kind):
    user = make_user(owner_conn)
    address = victim_address()
    token = token_of(kind, str(user["user_id"]), address)
    event = http_event(
        "PATCH",
        "/users/{user_id}",
        path_params={"user_id": str(user["user_id"])},
        claims=token,
        body={"email": address},
    )
    assert call(users.handler, event).status == 422
    # A change of other fields leaves the stored address as it was, whatever the token says
    event = http_event(
        "PATCH",
        "/users/{user_id}",
        path_params={"user_id": str(user["user_id"])},
        claims=token,
        body={"first_name": "Renamed"},
    )
    reply = call(users.handler, event)
    assert reply.status == 200, reply.body
    assert stored_email(owner_conn, str(user["user_id"])) == user["email"]
    assert holders(owner_conn, address) == []


# -- GET /admin/users/by-email (administrators) ------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_admin_look_up_accepts_both_token_types_and_finds_only_verified_addresses(users, owner_conn, kind):
    address = victim_address()
    squatter = new_sub()
    assert (
        send(
            users,
            "create",
            claims=claims(squatter, email=address, email_verified=False),
            body={"username": "lk" + squatter[:8]},
        ).status
        == 201
    )
    admin = make_user(owner_conn)
    token = token_of(kind, str(admin["user_id"]), admin["email"], groups=["admin"])
    look_up = http_event("GET", "/admin/users/by-email", query={"email": address}, claims=token)
    # The unverified claim bound nothing: nobody has the address
    assert call(users.handler, look_up).status == 404
    owner = new_sub()
    assert send(users, "create", claims=claims(owner, email=address), body={"username": "lo" + owner[:8]}).status == 201
    found = call(users.handler, look_up)
    assert found.status == 200 and found.body["user_id"] == owner


@pytest.mark.parametrize("kind", KINDS)
def test_admin_look_up_by_a_non_admin_is_403_with_either_token(users, owner_conn, kind):
    user = make_user(owner_conn)
    token = token_of(kind, str(user["user_id"]), user["email"])
    look_up = http_event("GET", "/admin/users/by-email", query={"email": user["email"]}, claims=token)
    assert call(users.handler, look_up).status == 403


# -- the post-authentication trigger -----------------------------------------------------
def sign_in(users: Any, sub: str, email: str, verified: str = "true") -> dict:
    event = load_event("users/post_authentication.json")
    event["userName"] = sub
    event["request"]["userAttributes"].update(sub=sub, email=email, email_verified=verified)
    return users.handler(event, LambdaContext())


def test_a_verified_address_change_reaches_the_database_at_sign_in(users, owner_conn):
    user = make_user(owner_conn)
    new_address = victim_address()
    sign_in(users, str(user["user_id"]), new_address)
    assert stored_email(owner_conn, str(user["user_id"])) == new_address


def test_sign_in_fills_the_address_of_an_account_registered_without_one(users, owner_conn):
    sub, address = new_sub(), victim_address()
    assert send(users, "create", claims=access_claims(sub), body={"username": "fl" + sub[:8]}).status == 201
    assert stored_email(owner_conn, sub) is None
    sign_in(users, sub, address)
    assert stored_email(owner_conn, sub) == address


def test_an_unverified_address_at_sign_in_changes_nothing(users, owner_conn):
    user = make_user(owner_conn)
    owner_conn.run("UPDATE users SET last_login_at = NULL WHERE user_id = :u", u=str(user["user_id"]))
    sign_in(users, str(user["user_id"]), victim_address(), verified="false")
    after = row(owner_conn, "SELECT email, last_login_at FROM users WHERE user_id = :u", u=str(user["user_id"]))
    assert after["email"] == user["email"] and after["last_login_at"] is not None


def test_a_verified_address_another_account_holds_moves_to_the_one_signing_in(users, owner_conn):
    """The holder moved to another address in the user pool and has not signed in since: the
    person who proves the address now gets it at sign-in; the holder gets its own current address
    at its next sign-in."""
    holder, other = make_user(owner_conn), make_user(owner_conn)
    owner_conn.run("UPDATE users SET last_login_at = NULL WHERE user_id = :u", u=str(other["user_id"]))
    event_back = sign_in(users, str(other["user_id"]), holder["email"].upper())
    assert event_back["triggerSource"] == "PostAuthentication_Authentication"
    assert holders(owner_conn, holder["email"]) == [str(other["user_id"])]
    after = row(owner_conn, "SELECT email, last_login_at FROM users WHERE user_id = :u", u=str(other["user_id"]))
    assert after["email"] == holder["email"].upper() and after["last_login_at"] is not None
    gone = row(owner_conn, "SELECT email FROM users WHERE user_id = :u", u=str(holder["user_id"]))
    assert gone["email"] is None
