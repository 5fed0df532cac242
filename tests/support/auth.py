"""What the server under test does with passwords."""

from __future__ import annotations

from pg8000.exceptions import DatabaseError

from devstack import provision
from shared.wire import PipelinedConnection


def password_is_checked(db: provision.Database) -> bool:
    """False on a server that lets anyone in (trust auth, as a DATABASE_URL server may):
    tests about wrong passwords or about a login's password exchange do not apply there."""
    try:
        PipelinedConnection(
            user=provision.APP, password="definitely-wrong", host=db.host, port=db.port, database=db.name
        ).close()
    except DatabaseError:
        return True
    return False
