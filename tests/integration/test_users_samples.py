"""Every sample event in events/users/ against the seeded development data.

Naming convention: `<action>_<status>.json` must answer exactly <status>;
any other name must answer a 2xx. Each sample runs on a freshly seeded
database, as `make invoke` would run it.
"""

from __future__ import annotations

import json

import pytest

from testing.events import load_event
from tests.conftest import LambdaContext
from tests.integration.test_users_support import USER1, expected_status, row, sample_names
from tests.support.api import call

# Fixtures shared by the users tests.

HTTP_SAMPLES = [n for n in sample_names() if n != "post_authentication"]


def test_every_route_has_samples():
    # Given the route table of the function
    routes = {load_event(f"users/{n}.json")["routeKey"] for n in HTTP_SAMPLES}
    # Then each route has at least one sample
    assert routes == {
        "POST /users",
        "GET /users",
        "GET /admin/users/statistics",
        "GET /admin/users/by-email",
        "GET /users/{user_id}",
        "PATCH /users/{user_id}",
        "DELETE /users/{user_id}",
        "GET /users/{user_id}/profile",
        "PUT /users/{user_id}/profile",
        "GET /users/{user_id}/posts",
        "GET /me",
        "PATCH /me",
        "GET /me/posts",
    }
    # and protected routes have an authorized and an anonymous sample
    public = {"GET /users", "GET /users/{user_id}", "GET /users/{user_id}/profile", "GET /users/{user_id}/posts"}
    for route in routes - public:
        names = [n for n in HTTP_SAMPLES if load_event(f"users/{n}.json")["routeKey"] == route]
        with_claims = [n for n in names if "authorizer" in load_event(f"users/{n}.json")["requestContext"]]
        assert with_claims and len(with_claims) < len(names), route


@pytest.mark.parametrize("name", HTTP_SAMPLES)
def test_sample_answers_its_status(name, users, fully_seeded):
    # Given the whole development seed, as `make dev` loads it
    event = load_event(f"users/{name}.json")
    # When API Gateway delivers the sample
    reply = call(users.handler, event)
    # Then the status is the one the file name promises
    wanted = expected_status(name)
    if wanted is None:
        assert 200 <= reply.status < 300, (reply.status, reply.body)
    else:
        assert reply.status == wanted, (reply.status, reply.body)
    # and every error has the one error shape
    if reply.status >= 400:
        assert set(reply.body) == {"error"}
        assert {"code", "message", "details"} <= set(reply.body["error"])
    else:
        assert "password_hash" not in json.dumps(reply.body)


def test_post_authentication_sample(users, fully_seeded):
    # Given user1 has never signed in
    fully_seeded.run("UPDATE users SET last_login_at = NULL")
    event = load_event("users/post_authentication.json")
    # When Cognito calls the trigger
    result = users.handler(event, LambdaContext())
    # Then the event comes back unchanged and the sign-in time is recorded
    assert result == load_event("users/post_authentication.json")
    got = row(fully_seeded, "SELECT last_login_at FROM users WHERE user_id = :u", u=USER1)
    assert got["last_login_at"] is not None


def test_openapi_document_builds_with_every_route(users):
    doc = json.loads(users.app.get_openapi_json_schema(title="Users", version="1"))
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert documented == {
        ("POST", "/users"),
        ("GET", "/users"),
        ("GET", "/admin/users/statistics"),
        ("GET", "/admin/users/by-email"),
        ("GET", "/users/{user_id}"),
        ("PATCH", "/users/{user_id}"),
        ("DELETE", "/users/{user_id}"),
        ("GET", "/users/{user_id}/profile"),
        ("PUT", "/users/{user_id}/profile"),
        ("GET", "/users/{user_id}/posts"),
        ("GET", "/me"),
        ("PATCH", "/me"),
        ("GET", "/me/posts"),
    }
    assert set(doc["paths"]["/users"]["post"]["responses"]) == {"200", "201", "400", "401", "409", "422"}
    assert set(doc["paths"]["/users/{user_id}"]["patch"]["responses"]) == {"200", "400", "401", "403", "404", "422"}
    # errors are documented with the one error shape, not Powertools' default
    schema = doc["paths"]["/users/{user_id}"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorBody"}
