"""Item 12, secrets never logged.

Everything the functions printed during this suite — the worker processes of the local
HTTP API (run at POWERTOOLS_LOG_LEVEL=DEBUG) and the handlers called in-process — is in
`LOGS` (tests/reliability/conftest.py). This module first drives the paths that log the
most (a wrong database password, a malformed secret, database errors, refused tokens,
bad input), then asserts that no role password, secret string or token handed out during
the suite appears in any line, and that nothing shaped like a JWT or a password field does.
The conftest moves these tests to the end of the session, after every other test.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from typing import Any

import pytest

from testing.events import http_event
from tests.conftest import REGION
from tests.reliability.conftest import LOGS, SECRETS_SEEN, TALLY, LocalApiClient
from tests.support.api import call
from tests.support.auth import password_is_checked

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
PASSWORD_FIELD = re.compile(r"""["']?password["']?\s*[:=]\s*["']?(?!\*\*\*)[^\s"',}]{4,}""", re.IGNORECASE)


def _put_secret(aws: dict[str, Any], name: str, value: str) -> None:
    import boto3

    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=aws["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
    try:
        client.create_secret(Name=name, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=value)
    SECRETS_SEEN.add(value)


@pytest.mark.parametrize("shape", ["wrong password", "malformed secret", "no password key"])
def test_credential_failures_log_no_secret(db: Any, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, shape: str):
    if shape == "wrong password" and not password_is_checked(db):
        pytest.skip("the server behind DATABASE_URL does not check passwords (trust auth)")
    from aws_lambda_powertools.utilities import parameters

    import users_app
    from shared.db import reset_databases
    from shared.settings import get_settings

    password = "Pw-" + secrets.token_urlsafe(16)
    value = {
        "wrong password": json.dumps({"username": "blog_app", "password": password, "host": db.host, "port": db.port}),
        "malformed secret": '{"username": "blog_app", "password": "' + password + '", ',
        "no password key": json.dumps({"username": "blog_app", "pass": password}),
    }[shape]
    SECRETS_SEEN.add(password)
    name = "blog/test/broken-" + uuid.uuid4().hex[:6]
    _put_secret(aws, name, value)
    monkeypatch.setenv("DB_SECRET_ID", name)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    get_settings.cache_clear()
    reset_databases()
    parameters.clear_caches()
    reply = call(users_app.handler, http_event("GET", "/users"))
    assert reply.status == 503, reply.body
    assert password not in json.dumps(reply.body)
    assert password not in LOGS.text()
    TALLY["secrets: credential failures provoked"] += 1


def test_errors_and_refusals_log_no_token(local_api: LocalApiClient):
    # Requests that make the functions log: refused tokens, bad input, conflicts, 404s, public routes with a token
    sub, token = local_api.register(prefix="logs")
    sent = [
        ("GET", "/posts?limit=1", token, None),
        ("GET", f"/users/{sub}/profile", token, None),
        ("POST", "/users", token, {"username": f"logs_{sub[:8]}"}),  # 409: already registered
        ("POST", "/posts", token, {"title": "t", "content": "c", "password": "hunter2-" + sub}),  # 422
        ("PATCH", f"/users/{sub}", token, {"phone_number": "not a phone"}),
        ("GET", "/admin/users/statistics", token, None),  # 403
        ("GET", f"/users/{uuid.uuid4()}", token, None),  # 404
        ("GET", "/me", "x" + token, None),  # 401 at the authorizer
    ]
    for method, path, who, body in sent:
        reply = local_api.request(method, path, token=who, body=body)
        assert reply.status < 500, (path, reply.body)
    TALLY["secrets: requests made to provoke logging"] += len(sent)


def test_no_secret_in_any_log_line(local_api: LocalApiClient, database: Any):
    text = LOGS.text()
    lines = text.splitlines()
    assert len(lines) > 20, "the suite captured almost nothing: is the log capture wired?"
    values = {v for v in SECRETS_SEEN | set(database.passwords.values()) if v and len(v) >= 8}
    leaked = sorted(v[:12] + "…" for v in values if v in text)
    assert leaked == [], f"secret values found in the logs: {leaked}"
    jwt_like = [line[:160] for line in lines if JWT_SHAPE.search(line)]
    assert jwt_like == [], jwt_like
    password_fields = [line[:200] for line in lines if PASSWORD_FIELD.search(line)]
    assert password_fields == [], password_fields
    assert "authorization" not in text.lower() or "bearer ey" not in text.lower()
    TALLY["secrets: log lines searched"] = len(lines)
    TALLY["secrets: secret values searched for"] = len(values)
    TALLY["secrets: leaks"] = len(leaked) + len(jwt_like) + len(password_fields)
