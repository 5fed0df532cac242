"""Single-user rotation driven step by step, as Secrets Manager's rotation function
runs it (createSecret, setSecret, testSecret, finishSecret), against moto's Secrets
Manager and the real database.

The session's role passwords live in one shared dict (tests/conftest.py
role_passwords): setSecret updates it in place, so every later login of the
session uses the password the database now has.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from shared.migrations import APP_ROLES, scram_verifier, set_role_password


@dataclass
class Rotation:
    client: Any
    secret_id: str
    role: str
    passwords: dict[str, str]
    token: str = ""
    new_password: str = ""

    def create_secret(self) -> None:
        """createSecret: a new password as the AWSPENDING version; AWSCURRENT is unchanged."""
        current = json.loads(self.client.get_secret_value(SecretId=self.secret_id)["SecretString"])
        self.token = str(uuid.uuid4())
        self.new_password = secrets.token_urlsafe(18)
        self.client.put_secret_value(
            SecretId=self.secret_id,
            ClientRequestToken=self.token,
            SecretString=json.dumps({**current, "password": self.new_password}),
            VersionStages=["AWSPENDING"],
        )

    def set_secret(self, owner_conn: Any) -> None:
        """setSecret: the database takes the pending password (ALTER ROLE ... PASSWORD)."""
        if self.role in APP_ROLES:
            set_role_password(owner_conn, self.role, self.new_password)
        else:  # the owner's own secret (the migrate function's): a role may change its own password
            owner_conn.run("ALTER ROLE " + self.role + " PASSWORD '" + scram_verifier(self.new_password) + "'")
        self.passwords[self.role] = self.new_password

    def finish_secret(self) -> None:
        """finishSecret: AWSCURRENT holds the new password and AWSPENDING is gone.

        moto (5.x) does not move the version GetSecretValue answers by default when
        UpdateSecretVersionStage moves AWSCURRENT, so the outcome is reproduced with
        PutSecretValue (a new version labelled AWSCURRENT, the old one AWSPREVIOUS).
        """
        pending = self.client.get_secret_value(SecretId=self.secret_id, VersionId=self.token)["SecretString"]
        self.client.update_secret_version_stage(
            SecretId=self.secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=self.token
        )
        self.client.put_secret_value(SecretId=self.secret_id, SecretString=pending)

    def current_password(self) -> str:
        return str(json.loads(self.client.get_secret_value(SecretId=self.secret_id)["SecretString"])["password"])
