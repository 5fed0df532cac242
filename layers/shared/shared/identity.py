"""Who is calling: the identity API Gateway's JWT authorizer verified, read from the event.

Identity comes only from `requestContext.authorizer.jwt.claims`, which API Gateway fills after
its JWT authorizer verified the token. On a public route there is no authorizer, so a caller is
anonymous even if it sends a token. Nothing here knows HTTP: data access may import it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
"""A UUID in its canonical text form (RFC 9562 §4), either case."""

TokenUse = Literal["id", "access"]


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller as the JWT authorizer verified it.

    `email` is the address only when the issuer vouches for it: an ID token whose
    `email_verified` claim is "true" (API Gateway passes every claim as a string).
    An unverified address, or a token without one (an access token), gives None.
    `token_use` is "id" or "access": Cognito's `token_use` claim, or, for another
    issuer, "access" when the token names a `client_id` and no `aud` (RFC 9068).
    """

    sub: str
    email: str | None
    groups: frozenset[str]
    token_use: TokenUse = "id"  # noqa: S105 - the `token_use` claim, not a credential

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups

    def can_act_for(self, user_id: str) -> bool:
        return self.is_admin or self.sub == user_id


def claim_is_true(value: Any) -> bool:
    """A boolean claim as API Gateway delivers it: the string "true" (or a JSON true)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def verified_email(claims: dict[str, Any]) -> str | None:
    """The `email` claim when `email_verified` is true, else None (OpenID Connect Core 5.1)."""
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip() or not claim_is_true(claims.get("email_verified")):
        return None
    return email.strip()


def token_use_of(claims: dict[str, Any]) -> TokenUse:
    use = claims.get("token_use")
    if use in ("id", "access"):
        return use  # type: ignore[return-value]
    return "access" if "client_id" in claims and "aud" not in claims else "id"


def parse_groups(raw: Any) -> frozenset[str]:
    """`cognito:groups` as API Gateway delivers it: "[admin editors]" (or a list, or JSON)."""
    if raw is None:
        return frozenset()
    if isinstance(raw, (list, tuple)):
        return frozenset(str(g) for g in raw if g)
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, list):
                return frozenset(str(g) for g in parsed if g)
        except ValueError:
            pass
        text = text[1:-1]
    return frozenset(g for g in re.split(r"[\s,]+", text) if g)


def identity_from_event(event: dict[str, Any]) -> Identity | None:
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    sub = claims.get("sub")
    if not isinstance(sub, str) or not UUID_RE.match(sub):
        return None
    use = token_use_of(claims)
    return Identity(
        sub=sub.lower(),
        email=verified_email(claims) if use == "id" else None,
        groups=parse_groups(claims.get("cognito:groups")),
        token_use=use,
    )
