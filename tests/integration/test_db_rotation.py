"""The rotation gap: between setSecret and finishSecret the database has the new
password and only AWSPENDING holds it. Every directly connecting path (the API
role, the stats function's read-only role, the migrate function's owner role)
logs in anyway: AWSCURRENT, AWSCURRENT fetched fresh, then AWSPENDING once."""

from __future__ import annotations

import pytest

from devstack import provision
from shared import errors
from shared.db import Database
from shared.settings import load_settings
from testing.events import load_event, prepare
from tests.conftest import APP_SECRET, OWNER_SECRET, READONLY_SECRET, layer_env
from tests.integration.test_db_connection import count_secret_fetches
from tests.support.api import call
from tests.support.auth import password_is_checked
from tests.support.rotation import Rotation


@pytest.fixture()
def checked(db):
    if not password_is_checked(db):
        pytest.skip("the server behind DATABASE_URL does not check passwords (trust auth)")
    return db


def in_the_gap(db, aws, owner_conn, secret_id: str, role: str) -> Rotation:
    rotation = Rotation(aws["client"], secret_id, role, db.passwords)
    rotation.create_secret()
    rotation.set_secret(owner_conn)
    return rotation


def test_get_posts_in_the_rotation_gap_is_200_not_503(checked, aws, owner_conn):
    from aws_lambda_powertools.utilities import parameters

    from posts_app import handler
    from shared.db import get_database

    db = checked
    # Given a warm container whose session then drops (a proxy idle timeout, a failover)
    assert call(handler, prepare(load_event("posts/list.json"))).status == 200
    rotation = in_the_gap(db, aws, owner_conn, APP_SECRET, provision.APP)
    try:
        get_database().discard()
        # When a request needs a new login while AWSCURRENT still has the old password
        calls = count_secret_fetches()
        reply = call(handler, prepare(load_event("posts/list.json")))
        # Then it is served: AWSCURRENT cached and fresh both fail, AWSPENDING logs in
        assert reply.status == 200, reply.body
        assert calls() == 2
        assert get_database().pending_logins == 1
    finally:
        rotation.finish_secret()
    # And after finishSecret the next login uses AWSCURRENT, without a failed attempt
    parameters.clear_caches()
    get_database().discard()
    assert call(handler, prepare(load_event("posts/list.json"))).status == 200
    assert get_database().pending_logins == 1
    assert rotation.current_password() == db.passwords[provision.APP]


@pytest.mark.parametrize(
    ("secret_id", "role"),
    [(APP_SECRET, provision.APP), (READONLY_SECRET, provision.READONLY), (OWNER_SECRET, provision.OWNER)],
    ids=["api role", "stats reader (read-only role)", "migrate function (owner role)"],
)
def test_every_role_logs_in_during_its_rotation_gap(checked, aws, owner_conn, secret_id, role):
    rotation = in_the_gap(checked, aws, owner_conn, secret_id, role)
    try:
        database = Database(load_settings(layer_env(checked, DB_SECRET_ID=secret_id)).db)
        assert database.value("SELECT current_user") == role
        assert database.pending_logins == 1
        database.close()
    finally:
        rotation.finish_secret()


def test_a_wrong_password_with_no_rotation_under_way_is_still_503(checked, aws):
    aws["client"].create_secret(
        Name="blog/test/no-pending", SecretString='{"username": "blog_app", "password": "nope"}'
    )
    database = Database(load_settings(layer_env(checked, DB_SECRET_ID="blog/test/no-pending")).db)
    with pytest.raises(errors.ServiceUnavailable):
        database.value("SELECT 1")
    assert database.pending_logins == 0


def test_a_failed_rotation_leaves_a_pending_version_that_is_not_used(checked, aws, owner_conn):
    """createSecret ran but setSecret failed: AWSPENDING has a password the database never took.
    AWSCURRENT logs in; AWSPENDING is never read."""
    rotation = Rotation(aws["client"], APP_SECRET, provision.APP, checked.passwords)
    rotation.create_secret()
    try:
        database = Database(load_settings(layer_env(checked)).db)
        assert database.value("SELECT current_user") == provision.APP
        assert database.pending_logins == 0
        database.close()
    finally:
        aws["client"].update_secret_version_stage(
            SecretId=APP_SECRET, VersionStage="AWSPENDING", RemoveFromVersionId=rotation.token
        )
