"""Who is calling: the identity API Gateway's JWT authorizer verified, read from the event.

Identity comes only from `requestContext.authorizer.jwt.claims`, which API Gateway fills after
its JWT authorizer verified the token. On a public route there is no authorizer, so a caller is
anonymous even if it sends a token. Nothing here knows HTTP: data access may import it.
"""

from __future__ import annotations

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


# An address as a mailbox can carry it: one @, a dotted domain, no spaces or control
# characters, at most 254 characters (RFC 5321 §4.5.3.1.3 path limit less the brackets).
_EMAIL_CLAIM = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
_SURROGATE = re.compile("[\ud800-\udfff]")


def verified_email(claims: dict[str, Any]) -> str | None:
    """The `email` claim when `email_verified` is true (OpenID Connect Core 5.1), else None.

    A claim that cannot be an address (no @, a line break, a lone surrogate, over 254
    characters) binds nothing either: the issuer is trusted to verify, not to format."""
    email = claims.get("email")
    if not isinstance(email, str) or not claim_is_true(claims.get("email_verified")):
        return None
    email = email.strip()
    if len(email) > 254 or not _EMAIL_CLAIM.match(email) or _SURROGATE.search(email):
        return None
    return email


def token_use_of(claims: dict[str, Any]) -> TokenUse:
    """`id` or `access`. Cognito names it (`token_use`). For another issuer, a JWT access token
    carries `client_id` (required by RFC 9068 §2.2, besides `aud`) or a `scope`; an OpenID
    Connect ID token carries neither."""
    use = claims.get("token_use")
    if use in ("id", "access"):
        return use  # type: ignore[return-value]
    if use is not None or "client_id" in claims or "scope" in claims or "scp" in claims:
        return "access"  # an unknown token_use (e.g. refresh) binds no address either
    return "id"


def parse_groups(raw: Any) -> frozenset[str]:
    """`cognito:groups` as API Gateway's HTTP API delivers an array claim: "[admin editors]",
    names separated by spaces (a Cognito group name holds no whitespace). Nothing else splits a
    name: "editors,admin" or "\"admin\"" is one group, not admin. A list (a test or the local
    stack passing claims unflattened) is taken as it is."""
    if raw is None:
        return frozenset()
    if isinstance(raw, (list, tuple)):
        return frozenset(str(g) for g in raw if g)
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return frozenset(text.split())


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
