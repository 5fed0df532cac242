"""RDS IAM authentication token, signed locally with SigV4 (no boto3 import).

The token is a presigned `rds-db:connect` URL without its scheme, valid for 15
minutes. botocore's `generate_db_auth_token` produces the same string; importing
boto3 only for it would add ~250 ms to a cold start. The test suite checks our
output against botocore's byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote

EXPIRES = 900


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _q(value: str) -> str:
    return quote(value, safe="-_.~")


def generate_auth_token(
    *,
    host: str,
    port: int,
    user: str,
    region: str,
    access_key: str,
    secret_key: str,
    session_token: str | None = None,
    now: datetime | None = None,
) -> str:
    now = now or datetime.now(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    scope = f"{day}/{region}/rds-db/aws4_request"
    params = {
        "Action": "connect",
        "DBUser": user,
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(EXPIRES),
        "X-Amz-SignedHeaders": "host",
    }
    if session_token:
        params["X-Amz-Security-Token"] = session_token
    query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(params.items()))
    host_header = f"{host}:{port}"
    canonical = "\n".join(["GET", "/", query, f"host:{host_header}\n", "host", hashlib.sha256(b"").hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), "rds-db"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    # botocore's order: the sorted base parameters, then the session token, then the signature
    base = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(params.items()) if k != "X-Amz-Security-Token")
    token = f"&X-Amz-Security-Token={_q(session_token)}" if session_token else ""
    return f"{host_header}/?{base}{token}&X-Amz-Signature={signature}"
