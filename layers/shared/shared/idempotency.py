"""Idempotent creates: the id a retry derives again, and what a create answers.

A client makes a create safe to retry by choosing the new record's id, or by sending an
`Idempotency-Key` header (read by `shared.http.idempotency_key`): the id is then derived from
the key, the caller and the scope (e.g. the post a comment is on) with UUIDv5 (RFC 9562 §5.5),
so the retry names the record the first attempt made. The request's fingerprint
(`shared.http.request_fingerprint`) is stored with the record; a retry with another fingerprint
is refused (`shared.errors.IdempotencyKeyReused`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


def derived_id(namespace: uuid.UUID, owner: str, key: str, *scope: str) -> str:
    """The UUIDv5 of `owner`, `scope` and `key` in `namespace`, as text: the same inputs give the
    same id, whichever container computes it."""
    return str(uuid.uuid5(namespace, "\n".join((owner, *scope, key))))


@dataclass(frozen=True, slots=True)
class Created:
    """The outcome of an idempotent create: the record's id, its JSON text, and whether this
    call made it (`new`) or found the one an earlier attempt made."""

    id: str
    json: str
    new: bool
