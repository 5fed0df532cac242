"""The Cognito post-authentication trigger: record last_login_at, never block sign-in."""

from __future__ import annotations

import copy
import socket
import time

import pytest
import users_cognito

from testing.events import load_event
from tests.conftest import LambdaContext
from tests.integration.test_users_support import USER1, USER2, row

# Fixtures shared by the users tests.


def sample(**request_changes) -> dict:
    event = load_event("users/post_authentication.json")
    event["request"]["userAttributes"].update(request_changes)
    return event


def last_login(conn, user_id: str):
    return row(conn, "SELECT last_login_at FROM users WHERE user_id = :u", u=user_id)["last_login_at"]


def point_layer_at(monkeypatch, port: int, **env: str) -> None:
    """Reconfigure the layer's primary database (as a redeploy with new settings would)."""
    from shared.db import reset_databases
    from shared.settings import get_settings

    monkeypatch.setenv("DB_PORT", str(port))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    reset_databases()


def test_records_the_sign_in_and_returns_the_event_unchanged(users, seeded):
    # Given user1 and user2 have never signed in
    seeded.run("UPDATE users SET last_login_at = NULL")
    event = sample()
    original = copy.deepcopy(event)
    # When Cognito reports user1's sign-in
    result = users.handler(event, LambdaContext())
    # Then the same event comes back and only user1's time is set, to about now
    assert result == original
    seen = last_login(seeded, USER1)
    assert seen is not None
    assert abs(time.time() - seen.timestamp()) < 60
    assert last_login(seeded, USER2) is None


def logins(conn) -> list:
    return conn.run("SELECT user_id, last_login_at FROM users ORDER BY user_id")


def test_sign_in_of_an_unregistered_user_is_fine(users, seeded):
    before = logins(seeded)
    event = sample(sub="00000000-0000-4000-8000-0000000000ee")
    assert users.handler(copy.deepcopy(event), LambdaContext()) == event
    assert logins(seeded) == before


@pytest.mark.parametrize("sub", ["", "not-a-uuid", None])
def test_event_without_a_usable_sub_passes_through(users, seeded, sub):
    event = sample()
    if sub is None:
        del event["request"]["userAttributes"]["sub"]
    else:
        event["request"]["userAttributes"]["sub"] = sub
    before = logins(seeded)
    assert users.handler(copy.deepcopy(event), LambdaContext()) == event
    assert logins(seeded) == before


def test_other_cognito_triggers_pass_through_untouched(users, seeded):
    event = sample()
    event["triggerSource"] = "PreTokenGeneration_Authentication"
    before = logins(seeded)
    assert users.handler(copy.deepcopy(event), LambdaContext()) == event
    assert logins(seeded) == before


def test_database_down_does_not_block_sign_in(users, seeded, monkeypatch, free_tcp_port):
    # Given nothing listens where the database should be, and the trigger's own budget (2 s)
    point_layer_at(monkeypatch, free_tcp_port)
    monkeypatch.setattr(users_cognito, "LOGIN_UPDATE_BUDGET_SECONDS", 2.0)
    event = sample()
    # When Cognito calls the trigger
    started = time.monotonic()
    result = users.handler(copy.deepcopy(event), LambdaContext())
    # Then sign-in proceeds: the event comes back within Cognito's 5 s
    assert result == event
    assert time.monotonic() - started < 5


def test_hanging_database_does_not_hold_sign_in_past_the_budget(users, seeded, monkeypatch):
    # Given a "database" that accepts connections and never answers
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    point_layer_at(monkeypatch, listener.getsockname()[1], DB_CONNECT_TIMEOUT="3", DB_QUERY_TIMEOUT="3")
    monkeypatch.setattr(users_cognito, "LOGIN_UPDATE_BUDGET_SECONDS", 0.3)
    event = sample()
    try:
        # When Cognito calls the trigger
        started = time.monotonic()
        result = users.handler(copy.deepcopy(event), LambdaContext())
        elapsed = time.monotonic() - started
        # Then it answers within the budget (Cognito gives a trigger 5 s in all)
        assert result == event
        assert elapsed < 1.5, elapsed
    finally:
        listener.close()
        time.sleep(0.2)  # let the helper thread's connect fail and release the layer's lock
