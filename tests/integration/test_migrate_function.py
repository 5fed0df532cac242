"""MigrateFunction as CloudFormation drives it: the sample events, a local
HTTP endpoint standing in for the presigned S3 ResponseURL, real PostgreSQL."""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import migrate_app
from devstack import provision
from shared.migrations import connect_url
from testing.events import load_event
from tests.conftest import MIGRATIONS, LambdaContext, layer_env


class ResponseCatcher:
    """Receives the PUT CloudFormation would receive."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                catcher.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response?X-Amz-Signature=abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture()
def catcher():
    c = ResponseCatcher()
    yield c
    c.close()


@pytest.fixture()
def fresh(scratch_database, aws, monkeypatch):
    """A fresh database, its owner/app/readonly secrets, and the function's environment."""
    from aws_lambda_powertools.utilities import parameters

    from shared.settings import get_settings

    client = aws["client"]
    names = {}
    for role in (provision.OWNER, provision.APP, provision.READONLY):
        name = f"{scratch_database.name}/{role}"
        client.create_secret(Name=name, SecretString=scratch_database.secret(role))
        names[role] = name
    env = layer_env(
        scratch_database,
        DB_SECRET_ID=names[provision.OWNER],
        APP_DB_SECRET_ID=names[provision.APP],
        READONLY_DB_SECRET_ID=names[provision.READONLY],
        MIGRATIONS_DIR=str(MIGRATIONS),
    )
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    parameters.clear_caches()
    yield scratch_database
    get_settings.cache_clear()
    parameters.clear_caches()


def invoke(event_file: str, catcher: ResponseCatcher, remaining_ms: int = 60_000, **changes) -> dict:
    event = load_event(event_file)
    event["ResponseURL"] = catcher.url
    event.update(changes)
    result = migrate_app.handler(event, LambdaContext(remaining_ms))
    assert len(catcher.bodies) == 1, "CloudFormation must hear back exactly once"
    body = catcher.bodies.pop()
    assert body["Status"] == result["Status"]
    assert body["RequestId"] == event["RequestId"] and body["LogicalResourceId"] == event["LogicalResourceId"]
    return body


def test_create_applies_migrations_and_sets_role_passwords(fresh, catcher):
    body = invoke("migrate/create.json", catcher)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == "schema-migrations"
    assert body["Data"]["Applied"] == len(list(MIGRATIONS.glob("*.sql")))
    # the application roles can now log in with the passwords from their secrets
    for role in (provision.APP, provision.READONLY):
        conn = fresh.connect(role)
        assert conn.run("SELECT current_user") == [[role]]
        conn.close()


def test_update_is_idempotent_and_delete_keeps_data(fresh, catcher):
    assert invoke("migrate/create.json", catcher)["Status"] == "SUCCESS"
    owner = fresh.connect(provision.OWNER)
    owner.run("INSERT INTO users (email, username, password_hash) VALUES ('keep@example.com', 'keep_me', 'x')")
    update = invoke("migrate/update.json", catcher)
    assert update["Status"] == "SUCCESS" and update["Data"]["Applied"] == 0
    delete = invoke("migrate/delete.json", catcher)
    assert delete["Status"] == "SUCCESS" and "kept" in delete["Reason"]
    assert owner.run("SELECT count(*) FROM users WHERE username = 'keep_me'") == [[1]]
    owner.close()


@pytest.mark.parametrize(
    ("event_file", "reason"),
    [
        ("migrate/unknown_request_type_fails.json", "unknown RequestType 'Upgrade'"),
        ("migrate/missing_hash_fails.json", "MigrationsHash is required"),
    ],
)
def test_bad_requests_answer_failed_with_a_reason(fresh, catcher, event_file, reason):
    body = invoke(event_file, catcher)
    assert body["Status"] == "FAILED"
    assert reason in body["Reason"]


def test_missing_keys_answer_failed(fresh, catcher):
    event = load_event("migrate/create.json")
    del event["StackId"]
    event["ResponseURL"] = catcher.url
    migrate_app.handler(event, LambdaContext())
    assert catcher.bodies[0]["Status"] == "FAILED"
    assert "missing StackId" in catcher.bodies[0]["Reason"]


def test_unreachable_database_answers_failed(fresh, catcher, monkeypatch, free_tcp_port):
    from shared.settings import get_settings

    monkeypatch.setenv("DB_PORT", str(free_tcp_port))
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    get_settings.cache_clear()
    started = time.perf_counter()
    # 14 s left: a 4 s budget, of which connection retries may use 80 %
    body = invoke("migrate/create.json", catcher, remaining_ms=14_000)
    elapsed = time.perf_counter() - started
    assert body["Status"] == "FAILED"
    assert "database" in body["Reason"]
    assert 1 <= elapsed < 4.5  # it retried after 1 s, stopped before its budget and answered in time


def test_failing_migration_answers_failed_with_the_file(fresh, catcher, tmp_path, monkeypatch):
    from shared.settings import get_settings

    mdir = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, mdir)
    (mdir / "9998_create_broken.sql").write_text("CREATE TABLE broken (id int;\n")
    monkeypatch.setenv("MIGRATIONS_DIR", str(mdir))
    get_settings.cache_clear()
    body = invoke("migrate/create.json", catcher)
    assert body["Status"] == "FAILED"
    assert "9998_create_broken.sql failed and was rolled back: 42601" in body["Reason"]


def test_answers_before_the_lambda_timeout(fresh, catcher, tmp_path, monkeypatch):
    from shared.settings import get_settings

    mdir = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, mdir)
    (mdir / "9998_create_slow.sql").write_text("SELECT pg_sleep(4);\n")
    monkeypatch.setenv("MIGRATIONS_DIR", str(mdir))
    get_settings.cache_clear()
    started = time.perf_counter()
    # 11 s left minus the 10 s safety margin: one second of work budget
    body = invoke("migrate/create.json", catcher, remaining_ms=11_000)
    assert time.perf_counter() - started < 3
    assert body["Status"] == "FAILED"
    assert "did not finish" in body["Reason"]


def test_event_without_response_url_fails_the_invocation(fresh):
    with pytest.raises(ValueError, match="not a CloudFormation custom resource event"):
        migrate_app.handler({"RequestType": "Create"}, LambdaContext())


def test_a_real_admin_url_is_not_needed(fresh):
    # the function connects with the owner's secret only (no superuser)
    owner_url = fresh.url(provision.OWNER)
    conn = connect_url(owner_url)
    assert conn.run("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [[False]]
    conn.close()


@pytest.fixture()
def app_rotation(fresh, catcher, aws):
    """After a first deploy: (owner connection, a Rotation of blog_app's secret, its password
    before). Afterwards the password the session's other databases expect is put back (roles are
    cluster-wide) and any AWSPENDING version left is removed."""
    from tests.support.auth import password_is_checked
    from tests.support.rotation import Rotation

    if not password_is_checked(fresh):
        pytest.skip("the server behind DATABASE_URL does not check passwords (trust auth)")
    from shared.migrations import set_role_password

    assert invoke("migrate/create.json", catcher)["Status"] == "SUCCESS"
    owner = fresh.connect(provision.OWNER)
    before = fresh.passwords[provision.APP]
    secret_id = f"{fresh.name}/{provision.APP}"
    rotation = Rotation(aws["client"], secret_id, provision.APP, fresh.passwords)
    try:
        yield owner, rotation, before
    finally:
        set_role_password(owner, provision.APP, before)
        fresh.passwords[provision.APP] = before
        versions = aws["client"].list_secret_version_ids(SecretId=secret_id)["Versions"]
        for version in versions:
            if "AWSPENDING" in version.get("VersionStages", []):
                aws["client"].update_secret_version_stage(
                    SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=version["VersionId"]
                )
        owner.close()


def _logs_in_as_app(fresh) -> None:
    conn = fresh.connect(provision.APP)
    assert conn.run("SELECT current_user") == [[provision.APP]]
    conn.close()


def test_a_deploy_during_a_rotation_leaves_the_password_to_the_rotation(fresh, catcher, app_rotation):
    """A stack update can run the migrations between a rotation's setSecret and finishSecret.
    Setting the role's password from AWSCURRENT then would put the old one back, and the role
    would be locked out once finishSecret makes the new one current."""
    owner, rotation, _ = app_rotation
    # Given a rotation between setSecret and finishSecret
    rotation.create_secret()
    rotation.set_secret(owner)
    # When a deploy runs the migrations
    assert invoke("migrate/update.json", catcher)["Status"] == "SUCCESS"
    # Then, once the rotation finishes, the role logs in with the new current password
    rotation.finish_secret()
    assert rotation.current_password() == fresh.passwords[provision.APP]
    _logs_in_as_app(fresh)
    # And a deploy with no rotation under way still sets the password from AWSCURRENT
    assert invoke("migrate/update.json", catcher)["Status"] == "SUCCESS"
    _logs_in_as_app(fresh)


def test_a_rotation_that_failed_before_set_secret_never_keeps_the_role_locked_out(fresh, catcher, app_rotation):
    """A rotation that failed after createSecret leaves an AWSPENDING version behind. On an
    instance whose role holds neither password (replaced, restored), the deploy must set
    AWSCURRENT's password, not leave the role to a rotation that will never finish."""
    from shared.migrations import set_role_password

    owner, rotation, before = app_rotation
    # Given a rotation that stopped after createSecret (AWSPENDING left behind)
    rotation.create_secret()
    # and a role whose password is neither AWSCURRENT's nor AWSPENDING's
    set_role_password(owner, provision.APP, "not-a-password-any-secret-holds")
    # When a deploy runs the migrations
    assert invoke("migrate/update.json", catcher)["Status"] == "SUCCESS"
    # Then the role logs in with AWSCURRENT's password
    assert rotation.current_password() == before
    _logs_in_as_app(fresh)
