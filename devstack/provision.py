"""Create a database the way production has it: an owner that runs the
migrations, and the application roles with passwords (stored as SCRAM verifiers).

Works against the private cluster of devstack.postgres or any server reached
through a superuser DATABASE_URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from shared import migrations
from shared.migrations import connect_url, scram_verifier
from shared.wire import PipelinedConnection

OWNER = "blog_owner"
APP = "blog_app"
READONLY = "blog_readonly"
EXTENSIONS = ("pg_stat_statements", "pg_trgm")


@dataclass
class Database:
    host: str
    port: int
    name: str
    passwords: dict[str, str] = field(default_factory=dict)

    def url(self, role: str) -> str:
        return f"postgresql://{role}:{self.passwords[role]}@{self.host}:{self.port}/{self.name}"

    def connect(self, role: str, **kwargs: Any) -> PipelinedConnection:
        return PipelinedConnection(
            user=role, password=self.passwords[role], host=self.host, port=self.port, database=self.name, **kwargs
        )

    def secret(self, role: str) -> str:
        """The secret's JSON, shaped like an RDS-managed Secrets Manager secret."""
        return json.dumps(
            {
                "engine": "postgres",
                "host": self.host,
                "port": self.port,
                "dbname": self.name,
                "username": role,
                "password": self.passwords[role],
            }
        )


def _with_db(url: str, name: str) -> str:
    u = urlparse(url)
    return u._replace(path="/" + name).geturl()


def _ensure_role(admin: PipelinedConnection, role: str, password: str, extra: str = "") -> None:
    exists = admin.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=role)
    verb = "ALTER" if exists else "CREATE"
    # Role names are constants of this module; the verifier is base64 and '$:'.
    admin.run(verb + " ROLE " + role + " WITH LOGIN " + extra + " PASSWORD '" + scram_verifier(password) + "'")


def create(
    admin_url: str,
    name: str,
    passwords: dict[str, str],
    migrations_dir: Path,
    log: Callable[..., Any] = lambda *_: None,
) -> Database:
    admin = connect_url(admin_url)
    try:
        _ensure_role(admin, OWNER, passwords[OWNER], "CREATEROLE")
        for role in (APP, READONLY):
            if not admin.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=role):
                admin.run("CREATE ROLE " + role + " NOLOGIN")
            admin.run("GRANT " + role + " TO " + OWNER + " WITH ADMIN OPTION")
        # As the RDS master user can: hand monitoring rights to the read-only role.
        admin.run("GRANT pg_monitor TO " + OWNER + " WITH ADMIN OPTION")
        if not admin.run("SELECT 1 FROM pg_database WHERE datname = :d", d=name):
            admin.run('CREATE DATABASE "' + name.replace('"', "") + '" OWNER ' + OWNER)
    finally:
        admin.close()
    su = connect_url(_with_db(admin_url, name))
    try:
        for ext in EXTENSIONS:  # not all are trusted extensions; the owner cannot create them
            su.run("CREATE EXTENSION IF NOT EXISTS " + ext)
    finally:
        su.close()
    u = urlparse(admin_url)
    db = Database(u.hostname or "127.0.0.1", u.port or 5432, name, dict(passwords))
    owner = db.connect(OWNER)
    try:
        migrations.apply(owner, migrations.load(migrations_dir), log=log)
        for role in (APP, READONLY):
            migrations.set_role_password(owner, role, passwords[role])
    finally:
        owner.close()
    return db


def drop(admin_url: str, name: str) -> None:
    admin = connect_url(admin_url)
    try:
        admin.run('DROP DATABASE IF EXISTS "' + name.replace('"', "") + '" WITH (FORCE)')
    finally:
        admin.close()
