"""The one place that reads the environment.

Every other module asks `get_settings()` for a typed, frozen object. Values are
parsed and validated once per container; a bad value fails the cold start with a
message naming the variable instead of failing a request later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

AuthMode = Literal["secret", "iam"]
TlsMode = Literal["verify-full", "disable"]

DEFAULT_CA_BUNDLE = Path(__file__).with_name("certs") / "amazon-trust-services.pem"


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


DEFAULT_MAX_BODY_BYTES = 1536 * 1024


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    host: str
    port: int
    name: str
    auth: AuthMode
    secret_id: str | None
    user: str | None
    tls: TlsMode
    ca_bundle: Path
    connect_timeout: float
    query_timeout: float
    application_name: str

    def describe(self) -> str:
        """Where we connect, without credentials: safe for logs."""
        return f"{self.host}:{self.port}/{self.name} tls={self.tls} auth={self.auth}"


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str
    service: str
    metrics_namespace: str
    region: str
    db: DatabaseSettings
    reader_db: DatabaseSettings | None
    # The statistics function reads as the read-only role and records its
    # snapshot through the primary with this secret (WRITER_DB_SECRET_ID).
    writer_db: DatabaseSettings | None
    secret_max_age: int
    # The largest request body read (413 beyond). 1.5 MiB admits every body the models accept
    # however a client spells it: a post's 100,000-character content is up to 400,000 bytes of
    # UTF-8, but 1,200,000 when each character is sent as a \uXXXX surrogate pair (JSON allows
    # escaping any character; some serializers escape everything outside ASCII), plus title,
    # excerpt, tags and metadata. Well under Lambda's 6 MB synchronous payload and API Gateway's
    # 10 MB limits (AWS quotas pages).
    max_body_bytes: int
    migrations_dir: Path | None
    # Secrets of the application roles whose passwords the migrate function sets.
    role_secrets: dict[str, str]


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _require(env: Mapping[str, str], name: str) -> str:
    value = _get(env, name)
    if value is None:
        raise SettingsError(f"environment variable {name} is required")
    return value


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _get(env, name, default) or default
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _database(env: Mapping[str, str], prefix: str, fallback: DatabaseSettings | None) -> DatabaseSettings:
    def pick(suffix: str, default: str | None = None) -> str | None:
        return _get(env, prefix + suffix, default)

    if fallback is None:
        host = _require(env, prefix + "HOST")
        name = _get(env, prefix + "NAME", "postgres") or "postgres"
        port = int(_number(env, prefix + "PORT", 5432, int))
    else:
        host = _require(env, prefix + "HOST")
        name = pick("NAME", fallback.name) or fallback.name
        port = int(_number(env, prefix + "PORT", fallback.port, int))

    auth = _choice(env, prefix + "AUTH", fallback.auth if fallback else "secret", ("secret", "iam"))
    secret_id = pick("SECRET_ID", fallback.secret_id if fallback else None)
    user = pick("USER", fallback.user if fallback else None)
    if auth == "secret" and not secret_id:
        raise SettingsError(f"{prefix}SECRET_ID is required when {prefix}AUTH=secret")
    if auth == "iam" and not user:
        raise SettingsError(f"{prefix}USER is required when {prefix}AUTH=iam")

    tls = _choice(env, prefix + "TLS", fallback.tls if fallback else "verify-full", ("verify-full", "disable"))
    ca_raw = pick("CA_BUNDLE")
    ca_bundle = Path(ca_raw) if ca_raw else (fallback.ca_bundle if fallback else DEFAULT_CA_BUNDLE)
    if tls == "verify-full" and not ca_bundle.is_file():
        raise SettingsError(f"{prefix}CA_BUNDLE {str(ca_bundle)!r} is not a readable file")

    return DatabaseSettings(
        host=host,
        port=port,
        name=name,
        auth=auth,  # type: ignore[arg-type]
        secret_id=secret_id,
        user=user,
        tls=tls,  # type: ignore[arg-type]
        ca_bundle=ca_bundle,
        connect_timeout=_number(env, prefix + "CONNECT_TIMEOUT", fallback.connect_timeout if fallback else 5.0),
        query_timeout=_number(env, prefix + "QUERY_TIMEOUT", fallback.query_timeout if fallback else 15.0),
        application_name=_get(env, "POWERTOOLS_SERVICE_NAME", "blog") or "blog",
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse settings from `env` (the process environment by default)."""
    env = os.environ if env is None else env
    db = _database(env, "DB_", None)
    reader = _database(env, "DB_READER_", db) if _get(env, "DB_READER_HOST") else None
    # The writer is the primary endpoint with its own identity, in the same auth mode.
    writer_secret, writer_user = _get(env, "WRITER_DB_SECRET_ID"), _get(env, "WRITER_DB_USER")
    writer = None
    if (db.auth == "secret" and writer_secret) or (db.auth == "iam" and writer_user):
        writer = replace(db, secret_id=writer_secret, user=writer_user)
    migrations = _get(env, "MIGRATIONS_DIR")
    return Settings(
        stage=_get(env, "STAGE", "dev") or "dev",
        service=_get(env, "POWERTOOLS_SERVICE_NAME", "blog") or "blog",
        metrics_namespace=_get(env, "POWERTOOLS_METRICS_NAMESPACE", "Blog") or "Blog",
        region=_get(env, "AWS_REGION", _get(env, "AWS_DEFAULT_REGION", "us-east-1")) or "us-east-1",
        db=db,
        reader_db=reader,
        writer_db=writer,
        secret_max_age=int(_number(env, "SECRET_MAX_AGE", 300, int)),
        max_body_bytes=int(_number(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int)),
        migrations_dir=Path(migrations) if migrations else None,
        role_secrets={
            role: secret
            for role, secret in (
                ("blog_app", _get(env, "APP_DB_SECRET_ID")),
                ("blog_readonly", _get(env, "READONLY_DB_SECRET_ID")),
            )
            if secret
        },
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings, parsed once. Tests call `get_settings.cache_clear()`."""
    return load_settings()


def aws_credentials() -> tuple[str, str, str | None]:
    """The execution role's current credentials (read live: Lambda may refresh them)."""
    env = os.environ
    key_id, secret_key = _get(env, "AWS_ACCESS_KEY_ID"), _get(env, "AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret_key:
        raise SettingsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required for IAM database auth")
    return key_id, secret_key, _get(env, "AWS_SESSION_TOKEN")


def database_url() -> str | None:
    """DATABASE_URL, for the command-line tools (migrations, local stack, tests)."""
    return _get(os.environ, "DATABASE_URL")
