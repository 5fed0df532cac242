"""Database credentials: a cached Secrets Manager secret, or an IAM auth token.

Secrets are fetched through Powertools' parameters utility with `max_age`
caching, so a warm container does not call Secrets Manager per request. After
a rotation the cached password is stale: `db` sees SQLSTATE class 28 and asks
again with `force=True`, which bypasses the cache once.

Single-user rotation changes the database password (setSecret) before the new
version becomes AWSCURRENT (finishSecret). In between, AWSCURRENT no longer
logs in and the new password is only in AWSPENDING: `pending_database_credentials`
reads that version, never from the cache and never into it (max_age=0).

Powertools (and with it boto3) is imported on the first fetch, not at module
import: a container pays for it once, inside its first connect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import ServiceUnavailable
from .settings import DatabaseSettings, aws_credentials, get_settings


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log line
        return f"Credentials(user={self.user!r}, password='***')"


# Secrets Manager calls fail within seconds, not boto3's default 60 s connect and read timeouts
# with retries: a request (15 s function timeout), a Cognito trigger (5 s) and a SnapStart restore
# (10 s for the runtime and its hooks) all wait on them.
SECRETS_CONNECT_TIMEOUT = 2.0
SECRETS_READ_TIMEOUT = 3.0


def _install_provider() -> None:
    """Powertools' secrets provider, with the timeouts above: installed where `get_secret` looks
    for it (`parameters.clear_caches()` empties that, and this puts a fresh one back)."""
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from botocore.config import Config

        DEFAULT_PROVIDERS["secrets"] = SecretsProvider(
            boto_config=Config(
                connect_timeout=SECRETS_CONNECT_TIMEOUT,
                read_timeout=SECRETS_READ_TIMEOUT,
                retries={"max_attempts": 2, "mode": "standard"},
            )
        )


def get_secret_json(
    secret_id: str, *, max_age: int, force: bool = False, version_stage: str | None = None
) -> dict[str, Any]:
    """The secret's JSON: AWSCURRENT (GetSecretValue's default), or `version_stage`.
    Powertools caches by name only: read another stage with max_age=0, which never caches."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    _install_provider()
    try:
        if version_stage:
            value = parameters.get_secret(secret_id, max_age=max_age, force_fetch=force, VersionStage=version_stage)
        else:
            value = parameters.get_secret(secret_id, max_age=max_age, force_fetch=force)
    except GetParameterError as exc:
        # Secrets Manager unreachable, slow, or refusing: the database cannot be reached either.
        raise ServiceUnavailable(
            "database credentials are unavailable; try again", code="database_unavailable"
        ) from exc
    if isinstance(value, bytes):
        value = value.decode()
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise ServiceUnavailable("database credentials are misconfigured") from None
    if not isinstance(data, dict):
        raise ServiceUnavailable("database credentials are misconfigured")
    return data


def database_credentials(db: DatabaseSettings, *, force: bool = False) -> Credentials:
    if db.auth == "iam":
        from .iam_auth import generate_auth_token

        assert db.user is not None
        key_id, secret_key, token = aws_credentials()
        return Credentials(
            db.user,
            generate_auth_token(
                host=db.host,
                port=db.port,
                user=db.user,
                region=get_settings().region,
                access_key=key_id,
                secret_key=secret_key,
                session_token=token,
            ),
        )
    assert db.secret_id is not None
    data = get_secret_json(db.secret_id, max_age=get_settings().secret_max_age, force=force)
    try:
        return Credentials(str(data["username"]), str(data["password"]))
    except KeyError:
        raise ServiceUnavailable("database credentials are misconfigured") from None


def pending_database_credentials(db: DatabaseSettings) -> Credentials | None:
    """The AWSPENDING version of the database secret, or None when there is none.

    Only during a rotation does the secret have an AWSPENDING version; any other
    time (and for IAM authentication) this is None, and so is a pending version
    that cannot be read or parsed: the caller then reports its original failure.
    """
    if db.auth != "secret" or db.secret_id is None:
        return None
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        data = get_secret_json(db.secret_id, max_age=0, force=True, version_stage="AWSPENDING")
        return Credentials(str(data["username"]), str(data["password"]))
    except (GetParameterError, ServiceUnavailable, KeyError):
        return None
