"""CloudFormation custom resource that applies sql/migrations on deploy.

Create and Update apply pending migrations, then set the application roles'
passwords from their secrets. Delete keeps the data and succeeds. Whatever
happens (bad input, a failing migration, a database that does not answer),
CloudFormation gets SUCCESS or FAILED with a reason before the function's own
timeout; a stack never waits an hour for a reply that will not come.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from shared import migrations
from shared.db import Database
from shared.errors import AppError, ServiceUnavailable, is_auth_failure
from shared.observability import logger
from shared.secrets import Credentials, get_secret_json
from shared.settings import DatabaseSettings, get_settings

PHYSICAL_ID = "schema-migrations"
SAFETY_MARGIN_MS = 10_000
REQUIRED_KEYS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId")


def migrations_dir() -> Path:
    configured = get_settings().migrations_dir
    if configured is not None:
        return configured
    bundled = Path(__file__).with_name("migrations")  # copied in by `sam build`
    return bundled if bundled.is_dir() else migrations.default_directory()


def send_response(event: dict[str, Any], status: str, reason: str, data: dict[str, Any] | None = None) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3500],  # CloudFormation caps the whole response at 4 KB
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
            "StackId": event.get("StackId", ""),
            "RequestId": event.get("RequestId", ""),
            "LogicalResourceId": event.get("LogicalResourceId", ""),
            "NoEcho": False,
            "Data": data or {},
        }
    ).encode()
    # The ResponseURL is a presigned S3 URL from CloudFormation.
    headers = {"Content-Type": "", "Content-Length": str(len(body))}
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def connect_with_retry(database: Database, deadline: float) -> Any:
    """On a first deploy the proxy's target may still be registering: keep trying
    (with backoff) until shortly before the answer to CloudFormation is due."""
    delay = 1.0
    while True:
        try:
            return database.connection()
        except AppError:
            if time.monotonic() + delay >= deadline:
                raise
            logger.info("database not reachable yet; retrying", extra={"retry_in_s": delay})
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


def pending_password(secret_id: str, current_password: str) -> str | None:
    """AWSPENDING's password while it differs from AWSCURRENT's: from a rotation's createSecret
    until its finishSecret, or left behind by a rotation that failed in between. Once a rotation
    finishes, AWSPENDING is on the AWSCURRENT version or on none (Secrets Manager User Guide,
    "Rotation by Lambda function": staging labels). None otherwise."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        pending = get_secret_json(secret_id, max_age=0, force=True, version_stage="AWSPENDING")
    except (GetParameterError, AppError):
        return None
    password = str(pending.get("password"))
    return None if password == current_password else password


def logs_in(db: DatabaseSettings, user: str, password: str) -> bool:
    """Whether `user` can log in to `db` with `password` (a test login, closed at once).
    False for an authentication failure; other failures raise ServiceUnavailable."""
    probe = Database(
        db, credentials=lambda _s, force=False: Credentials(user, password), pending_credentials=lambda _s: None
    )
    try:
        probe.connection()
        return True
    except ServiceUnavailable as exc:
        if isinstance(exc.__cause__, BaseException) and is_auth_failure(exc.__cause__):
            return False
        raise
    finally:
        probe.close()


def run_migrations(deadline: float) -> dict[str, Any]:
    settings = get_settings()
    database = Database(settings.db)
    try:
        conn = connect_with_retry(database, deadline)
        found = migrations.load(migrations_dir())
        applied = migrations.apply(conn, found, log=logger.info)
        for role, secret_id in settings.role_secrets.items():
            password = str(get_secret_json(secret_id, max_age=0, force=True)["password"])
            pending = pending_password(secret_id, password)
            if pending is not None:
                if logs_in(settings.db, role, pending):
                    # A rotation is past setSecret: putting AWSCURRENT's password back would lock
                    # the role out once finishSecret makes AWSPENDING current. It is the rotation's.
                    logger.info("a rotation is under way; the role's password is left to it", extra={"role": role})
                    continue
                # Before setSecret, or a rotation that failed and left AWSPENDING behind (on a
                # replaced or restored instance the role would otherwise keep no known password).
                # AWSCURRENT's password is safe: setSecret logs in with it to set AWSPENDING's.
                logger.warning(
                    "AWSPENDING exists but the database does not hold its password; setting AWSCURRENT's",
                    extra={"role": role},
                )
            migrations.set_role_password(conn, role, password)
        version = found[-1].version if found else 0
        return {"Applied": len(applied), "Version": version}
    finally:
        database.close()


def _work(event: dict[str, Any], deadline: float) -> tuple[str, str, dict[str, Any]]:
    missing = [k for k in REQUIRED_KEYS if not event.get(k)]
    if missing:
        return "FAILED", f"invalid custom resource request: missing {', '.join(missing)}", {}
    kind = event["RequestType"]
    if kind == "Delete":
        return "SUCCESS", "migrations are forward-only; data is kept on delete", {}
    if kind not in ("Create", "Update"):
        return "FAILED", f"unknown RequestType {kind!r}: expected Create, Update or Delete", {}
    props = event.get("ResourceProperties")
    if not isinstance(props, dict) or not props.get("MigrationsHash"):
        return "FAILED", "ResourceProperties.MigrationsHash is required (a hash of sql/migrations)", {}
    try:
        data = run_migrations(deadline)
    except migrations.MigrationError as exc:
        return "FAILED", str(exc), {}
    except AppError as exc:
        return "FAILED", f"database error: {exc.message}", {}
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always hear back
        logger.exception("migration failed")
        return "FAILED", f"{type(exc).__name__}: {exc}", {}
    return "SUCCESS", f"{data['Applied']} migration(s) applied; schema version {data['Version']}", data


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or not event.get("ResponseURL"):
        # Without a ResponseURL nobody can be answered: fail the invocation loudly.
        raise ValueError("not a CloudFormation custom resource event (no ResponseURL)")
    result: list[tuple[str, str, dict[str, Any]]] = []
    budget_ms = max(context.get_remaining_time_in_millis() - SAFETY_MARGIN_MS, 1000)
    # Connection retries stop a little before the budget, to answer with their reason.
    deadline = time.monotonic() + budget_ms / 1000 * 0.8
    worker = threading.Thread(target=lambda: result.append(_work(event, deadline)), daemon=True)
    worker.start()
    worker.join(budget_ms / 1000)
    status, reason, data = (
        result[0]
        if result
        else (
            "FAILED",
            f"migrations did not finish within {budget_ms // 1000}s; the next deploy resumes them",
            {},
        )
    )
    logger.info("custom resource answered", extra={"status": status, "reason": reason})
    send_response(event, status, reason, data)
    return {"Status": status, "Reason": reason}
