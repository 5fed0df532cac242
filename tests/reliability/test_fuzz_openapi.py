"""Item 4, fuzzing from the OpenAPI document: schemathesis generates requests for every
operation of the committed openapi.json (valid and invalid data) and sends them to the
local HTTP API, with a token on protected operations.

Every answer must: not be a 5xx; have a status code the document lists for the
operation; carry the documented content type; conform to the documented response
schema; and reject invalid data with a 4xx. Each generated case is sent twice: as
generated (its path ids are mostly nonsense) and with real ids of existing rows put into
its path, so that the handlers' work and not only their 404s are reached.

Examples per operation: FUZZ_EXAMPLES (default 5 in `make test`; `make soak` raises it, which
also turns on schemathesis' coverage phase: boundary values, undocumented methods, other
content types). Without FUZZ_EXAMPLES the run is derandomized (the same cases every time).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from shared.text import is_blank
from tests.conftest import ROOT
from tests.reliability.conftest import TALLY, LocalApiClient

SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi.json")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
# The coverage phase (boundary values, every undocumented method, unexpected content types: over
# 1,000 cases whatever EXAMPLES is) runs when more fuzzing is asked for: `make soak`, FUZZ_EXAMPLES.
SCHEMA.config.phases.coverage.enabled = "FUZZ_EXAMPLES" in os.environ
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    # Data the document allows is accepted: no 400/422 (nor 412, 413, 415) for a valid request.
    openapi_checks.positive_data_acceptance,
]
STATUSES: Counter[int] = Counter()
# Per operation: positive (schema-valid) cases sent, and how many were accepted (not refused as invalid).
POSITIVE: Counter[str] = Counter()
ACCEPTED: Counter[str] = Counter()
FOUND: list[str] = []
# Path ids the fuzzer must not point at the owner's real rows (it would lock itself out).
KEEP_GENERATED = {("DELETE", "/users/{user_id}")}
LOCAL_SERVER_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@pytest.fixture(scope="module")
def fuzz_world(local_api: LocalApiClient) -> dict[str, Any]:
    """An admin with a published post and a comment: the ids put into generated paths."""
    sub, token = local_api.register(groups=["admin"], prefix="fuzz")
    post = local_api.request(
        "POST", "/posts", token=token, body={"title": "Fuzzed", "content": "f", "status": "published"}
    )
    comment = local_api.request("POST", f"/posts/{post.body['post_id']}/comments", token=token, body={"content": "f"})
    assert post.status == 201 and comment.status == 201
    return {
        "token": token,
        "ids": {
            "user_id": sub,
            "post_id": post.body["post_id"],
            "comment_id": comment.body["comment_id"],
            "slug": post.body["slug"],
        },
    }


def _error(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
        return body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    except ValueError:
        return {}


def _details(response: Any) -> set[str]:
    return {str(d.get("field")) for d in _error(response).get("details") or [] if isinstance(d, dict)}


# Rules the document states in words because JSON Schema cannot: a refusal of schema-valid data
# is accepted only when it is one of these, for the reason given (each is counted).
def _beyond_the_schema(case: Any, response: Any) -> str | None:
    query, body = case.query or {}, case.body if isinstance(case.body, dict) else {}
    if response.status_code == 400 and query.get("cursor") and _error(response).get("code") == "invalid_cursor":
        return "a made-up cursor (only a next_cursor the API returned is valid)"
    if response.status_code == 422 and query.get("sort") == "relevance" and not query.get("q"):
        return "sort=relevance without q (it ranks a search)"
    if response.status_code == 422 and body.get("email") is not None and _details(response) == {"email"}:
        return "a body email other than the token's verified one (it must repeat the claim)"
    headers = {k.lower(): v for k, v in (case.headers or {}).items()}
    client_id = body.get("post_id") or body.get("comment_id")
    if response.status_code == 412 and "if-match" in headers:
        return "an If-Match naming no current version (only an ETag the API returned is current)"
    reused = _error(response).get("code") == "idempotency_key_reused"
    if response.status_code == 422 and reused and ("idempotency-key" in headers or client_id):
        return "an Idempotency-Key or a client-chosen id used before with another request"
    both = "idempotency-key" in headers and client_id and _details(response) & {"post_id", "comment_id"}
    if response.status_code == 422 and both:
        return "an Idempotency-Key together with a client-chosen id (one names the request)"
    blank = [f for f in _details(response) if isinstance(body.get(f), str) and is_blank(body[f])]
    if response.status_code == 422 and blank and len(blank) == len(_details(response)):
        return "text that renders as nothing (controls, invisible characters; VISIBLE_RULE in the descriptions)"
    if response.status_code == 422 and _details(response) == {"tags"} and isinstance(body.get("tags"), list):
        from shared.text import fold

        if any(isinstance(t, str) and not 1 <= len(fold(t)) <= 30 for t in body["tags"]):
            return "a tag whose normalised form (NFKC, trimmed) is not 1-30 characters long"
    return None


def _send(case: Any, local_api: LocalApiClient, token: str) -> None:
    protected = bool(case.operation.definition.raw.get("security"))
    # A negative case may leave out or mangle the credentials on purpose: then it goes as generated.
    headers = {"Authorization": f"Bearer {token}"} if protected and not SCHEMA.is_security_param_negated(case) else {}
    response = case.call(base_url=local_api.url, headers=headers, timeout=60)
    TALLY["fuzz: requests"] += 1
    if case.method.upper() not in LOCAL_SERVER_METHODS:
        # No HTTP API route can have this method (TRACE, CONNECT...): API Gateway answers
        # 404 {"message":"Not Found"} itself, and so does the local API; no function is involved.
        assert response.status_code == 404 and response.json() == {"message": "Not Found"}, response.text[:200]
        TALLY["fuzz: methods no HTTP API route can have (404 from the gateway)"] += 1
        return
    STATUSES[response.status_code] += 1
    checks = CHECKS
    if case.meta is not None and case.meta.generation.mode.is_positive:
        label = f"{case.method.upper()} {case.path}"
        reason = _beyond_the_schema(case, response)
        if reason is not None:
            TALLY[f"fuzz: schema-valid, refused by a documented rule: {reason}"] += 1
            checks = [c for c in checks if c is not openapi_checks.positive_data_acceptance]
        else:
            POSITIVE[label] += 1
            ACCEPTED[label] += response.status_code not in (400, 412, 413, 415, 422)
    if response.status_code == 204:
        # The document gives 204 answers an application/json content (the generator's default);
        # a 204 has no body and so no Content-Type.
        checks = [c for c in checks if c is not openapi_checks.content_type_conformance]
    if response.status_code == 401 and response.json() == {"message": "Unauthorized"}:
        # API Gateway's own answer (the JWT authorizer refused the token: the fuzzer also sends
        # none or a mangled one); the document describes the functions' 401 body only.
        checks = [c for c in checks if c is not openapi_checks.response_schema_conformance]
    if os.environ.get("FUZZ_COLLECT"):
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except Exception as exc:
            FOUND.append(f"{case.method} {case.path} {response.status_code}: {str(exc)[:600]}")
        return
    case.validate_response(response, checks=checks, headers=headers)


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_from_the_document(case: Any, local_api: LocalApiClient, fuzz_world: dict[str, Any]) -> None:
    TALLY["fuzz: generated cases"] += 1
    # As generated
    _send(case, local_api, fuzz_world["token"])
    # With real ids in the path (same query and body)
    if case.path_parameters and (case.method.upper(), case.path) not in KEEP_GENERATED:
        real = dict(case.path_parameters)
        for name in real:
            real[name] = fuzz_world["ids"].get(name, str(uuid.uuid4()))
        case.path_parameters = real
        _send(case, local_api, fuzz_world["token"])


def test_fuzz_summary() -> None:
    """Runs after the generated tests (same module): every status seen was a client or success answer."""
    if not STATUSES:
        pytest.skip("the generated tests did not run (deselected)")
    assert all(status < 500 for status in STATUSES), STATUSES
    assert FOUND == [], "\n\n".join(FOUND)
    TALLY["fuzz: operations"] = len(list(SCHEMA.get_all_operations()))
    TALLY["fuzz: examples per operation"] = EXAMPLES
    print("fuzz statuses:", dict(sorted(STATUSES.items())))
    print("positive-data acceptance per operation (accepted/sent):")
    for label in sorted(POSITIVE, key=lambda k: (k.split(" ", 1)[1], k)):
        print(f"  {label}: {ACCEPTED[label]}/{POSITIVE[label]}")
    TALLY["fuzz: positive cases refused"] = sum(POSITIVE.values()) - sum(ACCEPTED.values())
    assert sum(POSITIVE.values()) == sum(ACCEPTED.values()), {k: (ACCEPTED[k], POSITIVE[k]) for k in POSITIVE}
