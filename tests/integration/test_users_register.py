"""POST /users: registering the signed-in caller."""

from __future__ import annotations

import threading
import uuid

from tests.integration import test_users_support as support
from tests.integration.test_users_support import USER1, as_user, row, send
from tests.support.api import per_thread_connections
from tests.support.events import claims
from tests.support.factories import make_user

# Fixtures shared by the users tests.
seeded = support.seeded
users = support.users


def new_sub() -> str:
    return str(uuid.uuid4())


def test_registers_the_caller_from_the_token(users, owner_conn):
    # Given a signed-in caller without a user row
    sub = new_sub()
    # When they register
    reply = send(users, "create", claims=claims(sub, email="Reader@Example.com"))
    # Then the row is keyed by the token's sub and takes the token's email
    assert reply.status == 201, reply.body
    assert reply.headers["location"] == f"/users/{sub}"
    assert reply.body["user_id"] == sub
    assert reply.body["email"] == "Reader@Example.com"
    assert reply.body["username"] == "newcomer"
    assert reply.body["phone_number"] == "+81 90 1234 5678"
    assert reply.body["date_of_birth"] == "1990-04-01"
    assert reply.body["is_active"] is True and reply.body["is_verified"] is False
    assert "password_hash" not in reply.body
    stored = row(owner_conn, "SELECT email, username, password_hash FROM users WHERE user_id = :u", u=sub)
    assert stored == {"email": "Reader@Example.com", "username": "newcomer", "password_hash": None}


def test_email_in_the_body_without_a_verified_claim_is_422_and_binds_nothing(users, owner_conn):
    # Given a token without an e-mail claim (as an access token)
    sub = new_sub()
    token = claims(sub)
    del token["email"], token["email_verified"]
    # When the body names an address
    reply = send(users, "create", claims=token, body={"username": "bodymail", "email": "body@example.com"})
    # Then nothing is registered: nobody proved to own that address
    assert reply.status == 422, reply.body
    assert reply.body["error"]["details"][0]["field"] == "email"
    assert row(owner_conn, "SELECT 1 AS x FROM users WHERE lower(email) = 'body@example.com'") is None


def test_no_email_anywhere_registers_without_an_address(users, owner_conn):
    sub = new_sub()
    token = claims(sub)
    del token["email"], token["email_verified"]
    reply = send(users, "create", claims=token, body={"username": "nomail"})
    assert reply.status == 201, reply.body
    assert reply.body["email"] is None
    assert row(owner_conn, "SELECT email FROM users WHERE user_id = :u", u=sub) == {"email": None}


def test_body_email_differing_from_the_token_is_422(users, owner_conn):
    sub = new_sub()
    reply = send(
        users,
        "create",
        claims=claims(sub, email="me@example.com"),
        body={"username": "twomails", "email": "other@example.com"},
    )
    assert reply.status == 422
    assert row(owner_conn, "SELECT 1 AS x FROM users WHERE user_id = :u", u=sub) is None


def test_anonymous_is_401(users, owner_conn):
    reply = send(users, "create_anonymous_401")
    assert reply.status == 401
    assert reply.error_code == "unauthorized"
    assert owner_conn.run("SELECT count(*) FROM users")[0][0] == 0


def test_unknown_fields_are_refused_not_written(users, owner_conn):
    # Given a body that tries to set what registration must not
    sub = new_sub()
    for field, value in (
        ("user_id", str(uuid.uuid4())),
        ("password_hash", "x"),
        ("is_verified", True),
        ("is_active", False),
    ):
        reply = send(users, "create", claims=claims(sub), body={"username": "sneaky", field: value})
        # Then it is a 422 naming the field, and nothing is stored
        assert reply.status == 422, field
        assert any(d["field"] == field for d in reply.body["error"]["details"]), reply.body
    assert owner_conn.run("SELECT count(*) FROM users")[0][0] == 0


def test_invalid_values_are_422(users):
    sub = new_sub()
    for body in (
        {"username": "ab"},
        {"username": "x" * 51},
        {"username": "has space"},
        {"username": "dash-ed"},
        {"username": "ok_name", "date_of_birth": "2999-01-01"},
        {"username": "ok_name", "date_of_birth": "not a date"},
        {"username": "ok_name", "phone_number": "call me"},
        {"username": "ok_name", "first_name": "x" * 101},
        {"username": "ok_name", "profile_image_url": "javascript:alert(1)"},
        {},
        [],
    ):
        reply = send(users, "create", claims=claims(sub), body=body)
        assert reply.status == 422, (body, reply.body)
        assert reply.error_code == "validation_error"


def test_malformed_json_is_400(users):
    reply = send(users, "create_malformed_json_400")
    assert reply.status == 400
    assert reply.error_code == "malformed_json"


def test_taken_username_is_409_regardless_of_case(users, owner_conn):
    make_user(owner_conn, username="Alice")
    reply = send(users, "create", claims=claims(new_sub()), body={"username": "aLiCe"})
    assert reply.status == 409
    assert reply.body["error"]["details"] == [{"field": "username", "message": "this username is already taken"}]


def test_a_verified_address_moves_to_the_account_that_proved_it_last(users, owner_conn):
    """A verified address held by another row (a deactivated account, or one whose owner moved to
    another address and has not signed in since) never locks out the person who proves it now:
    the new registration gets it, whatever its case, and the other row gives it up."""
    # Given a deactivated account that still holds an address
    old = make_user(owner_conn, email="taken@example.com")
    owner_conn.run("UPDATE users SET is_active = false WHERE user_id = :u", u=str(old["user_id"]))
    # When someone registers with that address verified, in another case
    sub = new_sub()
    reply = send(users, "create", claims=claims(sub, email="TAKEN@example.com"), body={"username": "fresh"})
    # Then they are registered with it, and the old row no longer holds it
    assert reply.status == 201, reply.body
    assert reply.body["email"] == "TAKEN@example.com"
    holders = owner_conn.run("SELECT user_id::text FROM users WHERE lower(email) = 'taken@example.com'")
    assert holders == [[sub]]


def test_registering_twice_is_409_with_a_clear_message(users, seeded):
    # Given user1 is registered
    # When the same sub registers again, even with another username and email
    reply = send(users, "create_already_registered_409", claims=claims(USER1, email="elsewhere@example.com"))
    # Then it is a conflict that says so
    assert reply.status == 409
    assert reply.body["error"]["details"] == [
        {"field": "user_id", "message": "you are already registered; a user registers once"}
    ]


def test_the_same_registration_sent_again_is_200_with_the_record(users, owner_conn):
    """A retry after a lost reply: the client learns its registration went through; no second row."""
    sub = new_sub()
    first = send(users, "create", claims=as_user(sub))
    again = send(users, "create", claims=as_user(sub))
    assert (first.status, again.status) == (201, 200)
    assert again.body == first.body
    assert owner_conn.run("SELECT count(*) FROM users WHERE user_id = :u", u=sub) == [[1]]


def test_registration_is_one_statement(users):
    from tests.support.api import StatementCounter

    with StatementCounter() as counter:
        reply = send(users, "create", claims=as_user(new_sub()))
    assert reply.status == 201
    assert counter.count == 1


def test_concurrent_registrations_of_one_username(users, owner_conn):
    """Two containers register the same username at the same moment: the unique
    index decides, exactly one wins, the other gets a 409 (never a 500)."""
    # Given two different callers and a barrier so both requests overlap
    subs = [new_sub(), new_sub()]
    barrier = threading.Barrier(2)
    replies: dict[str, object] = {}

    def register(sub: str) -> None:
        barrier.wait()
        replies[sub] = send(users, "create", claims=claims(sub), body={"username": "race_winner"})

    # When both register in their own connections
    with per_thread_connections():
        threads = [threading.Thread(target=register, args=(s,)) for s in subs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    # Then exactly one 201 and one 409, and one row
    statuses = sorted(r.status for r in replies.values())  # type: ignore[attr-defined]
    assert statuses == [201, 409]
    assert owner_conn.run("SELECT count(*) FROM users WHERE lower(username) = 'race_winner'")[0][0] == 1


def test_concurrent_registrations_differing_only_in_case(users, owner_conn):
    subs = [new_sub(), new_sub()]
    names = ["Race_Case", "race_case"]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def register(sub: str, name: str) -> None:
        barrier.wait()
        statuses.append(send(users, "create", claims=claims(sub), body={"username": name}).status)

    with per_thread_connections():
        threads = [threading.Thread(target=register, args=a) for a in zip(subs, names, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(statuses) == [201, 409]
