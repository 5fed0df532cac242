from pathlib import Path

import pytest

from shared.settings import DEFAULT_CA_BUNDLE, SettingsError, load_settings

BASE = {"DB_HOST": "proxy.example", "DB_SECRET_ID": "arn:aws:secretsmanager:us-east-1:1:secret:app"}


def test_defaults_are_safe():
    s = load_settings(BASE)
    assert s.db.tls == "verify-full"
    assert s.db.ca_bundle == DEFAULT_CA_BUNDLE
    assert s.db.port == 5432 and s.db.name == "postgres"
    assert s.db.connect_timeout == 5.0 and s.db.query_timeout == 15.0
    assert s.reader_db is None
    assert s.max_body_bytes == 1536 * 1024


def test_reader_inherits_from_primary():
    s = load_settings({**BASE, "DB_NAME": "blog", "DB_READER_HOST": "replica.example", "DB_READER_SECRET_ID": "ro"})
    assert s.reader_db is not None
    assert (s.reader_db.host, s.reader_db.name, s.reader_db.secret_id) == ("replica.example", "blog", "ro")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "DB_HOST is required"),
        ({"DB_HOST": "h"}, "DB_SECRET_ID is required"),
        ({**BASE, "DB_AUTH": "iam"}, "DB_USER is required"),
        ({**BASE, "DB_PORT": "five"}, "DB_PORT must be a number"),
        ({**BASE, "DB_CONNECT_TIMEOUT": "-1"}, "must be positive"),
        ({**BASE, "DB_TLS": "prefer"}, "DB_TLS must be one of verify-full, disable"),
        ({**BASE, "DB_CA_BUNDLE": "/nonexistent.pem"}, "is not a readable file"),
    ],
)
def test_bad_configuration_names_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_ca_bundle_is_the_amazon_trust_services_roots():
    import certifi

    from scripts.update_ca_bundle import extract

    assert DEFAULT_CA_BUNDLE.read_text() == extract(Path(certifi.where()).read_text())
    assert DEFAULT_CA_BUNDLE.read_text().count("BEGIN CERTIFICATE") == 5


def test_role_secrets_for_the_migrate_function():
    s = load_settings({**BASE, "APP_DB_SECRET_ID": "app", "READONLY_DB_SECRET_ID": "ro"})
    assert s.role_secrets == {"blog_app": "app", "blog_readonly": "ro"}


def test_writer_follows_the_auth_mode():
    s = load_settings({**BASE, "WRITER_DB_SECRET_ID": "app", "WRITER_DB_USER": "blog_app"})
    assert s.writer_db is not None and (s.writer_db.auth, s.writer_db.secret_id) == ("secret", "app")
    iam = load_settings({"DB_HOST": "h", "DB_AUTH": "iam", "DB_USER": "blog_readonly", "WRITER_DB_USER": "blog_app"})
    assert iam.writer_db is not None and (iam.writer_db.auth, iam.writer_db.user) == ("iam", "blog_app")
    assert load_settings(BASE).writer_db is None
