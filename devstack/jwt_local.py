"""Local stand-in for the Cognito user pool and API Gateway's JWT authorizer.

A signing key is generated once under the local directory (.local/jwt/, git-
ignored). `mint()` issues tokens shaped like Cognito ID tokens; `verify()`
checks them the way the HTTP API's JWT authorizer does before any function
runs: RS256 signature against the key (by `kid`), issuer, audience (`aud`, or
`client_id` for access tokens), expiry, not-before and issued-at. `alg: none`,
HMAC algorithms and unknown keys are refused. `gateway_claims()` turns the
verified claims into what API Gateway hands the function: every value a string
("[admin editors]" for a list).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://cognito-idp.local.blog.test/us-east-1_LocalPool"
AUDIENCE = "blog-local-client"
DEFAULT_HOURS = 12.0
ALGORITHM = "RS256"

# The development seed's users (sql/seed/0001_sample_users.sql).
ADMIN_SUB = "00000000-0000-4000-8000-000000000001"
USER1_SUB = "00000000-0000-4000-8000-000000000002"
SEED_EMAILS = {
    ADMIN_SUB: "admin@example.com",
    USER1_SUB: "user1@example.com",
    "00000000-0000-4000-8000-000000000003": "user2@example.com",
}


class TokenRejected(Exception):
    """The authorizer refuses the request (API Gateway answers 401)."""


@dataclass(frozen=True)
class SigningKey:
    private: rsa.RSAPrivateKey
    kid: str

    @property
    def public(self) -> rsa.RSAPublicKey:
        return self.private.public_key()

    def jwks(self) -> dict[str, Any]:
        numbers = self.public.public_numbers()

        def b64(n: int) -> str:
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": ALGORITHM,
                    "use": "sig",
                    "kid": self.kid,
                    "n": b64(numbers.n),
                    "e": b64(numbers.e),
                }
            ]
        }


def key_path(local_dir: Path) -> Path:
    return local_dir / "jwt" / "signing-key.pem"


def load_or_create_key(local_dir: Path) -> SigningKey:
    """The local signing key, generated on first use (2048-bit RSA, file mode 0600)."""
    path = key_path(local_dir)
    if path.exists():
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise RuntimeError(f"{path} is not an RSA private key; delete it to get a new one")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)  # two processes racing both end with one valid key file
        return load_or_create_key(local_dir)
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return SigningKey(private, hashlib.sha256(der).hexdigest()[:16])


def mint(
    key: SigningKey,
    sub: str,
    *,
    email: str | None = None,
    groups: list[str] | None = None,
    hours: float = DEFAULT_HOURS,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    extra: dict[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A token like a Cognito ID token for `sub`, valid for `hours`."""
    try:
        sub = str(uuid.UUID(sub))
    except ValueError:
        raise ValueError(f"SUB must be a UUID (the user's id), got {sub!r}") from None
    issued = int(now if now is not None else time.time())
    email = email or SEED_EMAILS.get(sub)
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": issuer,
        "aud": audience,
        "token_use": "id",
        "auth_time": issued,
        "iat": issued,
        "exp": issued + int(hours * 3600),
        "jti": str(uuid.uuid4()),
        "cognito:username": sub,
    }
    if email:
        claims["email"] = email
        claims["email_verified"] = True
    if groups:
        claims["cognito:groups"] = list(groups)
    claims.update(extra or {})
    return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})


def verify(
    token: str,
    key: SigningKey,
    *,
    issuer: str = ISSUER,
    audiences: tuple[str, ...] = (AUDIENCE,),
    now: float | None = None,
) -> dict[str, Any]:
    """The token's claims if API Gateway's JWT authorizer would accept it; TokenRejected otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"malformed token: {exc}") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRejected(f"signing algorithm {header.get('alg')!r} is not accepted (RS256 only)")
    if header.get("kid") != key.kid:
        raise TokenRejected("the token's kid names no key of the issuer")
    try:
        claims = jwt.decode(
            token,
            key.public,
            algorithms=[ALGORITHM],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"invalid token: {exc}") from None
    moment = now if now is not None else time.time()
    if claims.get("iss") != issuer:
        raise TokenRejected("wrong issuer")
    aud = claims.get("aud")
    given = set(aud if isinstance(aud, list) else [aud]) if aud is not None else {claims.get("client_id")}
    if not given & set(audiences):
        raise TokenRejected("wrong audience")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or moment >= exp:
        raise TokenRejected("expired (or no exp claim)")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or moment < nbf):
        raise TokenRejected("not valid yet (nbf)")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, (int, float)) or iat > moment + 300):
        raise TokenRejected("issued in the future (iat)")
    return claims


def _as_string(value: Any) -> str:
    """How API Gateway renders a claim value: Go's fmt of the decoded JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_as_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_as_string(v)}" for k, v in sorted(value.items())) + "]"
    if value is None:
        return ""
    return str(value)


def gateway_claims(claims: dict[str, Any]) -> dict[str, str]:
    return {k: _as_string(v) for k, v in claims.items()}


def scopes(claims: dict[str, Any]) -> list[str] | None:
    """`scope` (access tokens) as API Gateway lists it; None for ID tokens."""
    raw = claims.get("scope")
    if isinstance(raw, str) and raw.strip():
        return raw.split()
    if isinstance(raw, list):
        return [str(s) for s in raw]
    return None


def describe(token: str) -> str:
    """The unverified claims, for messages."""
    try:
        return json.dumps(jwt.decode(token, options={"verify_signature": False}), sort_keys=True)
    except jwt.PyJWTError:
        return "(not a JWT)"
