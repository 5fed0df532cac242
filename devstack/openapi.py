"""The API's one OpenAPI 3.1 document, merged from the functions' Powertools apps.

Each HTTP function documents its own routes (`app.get_openapi_json_schema()`);
API Gateway serves only the routes `template.yaml` gives it, and protects those
with an authorizer. The document keeps exactly the operations the template
routes, marks the protected ones with the bearer scheme, and merges the schemas
(a name used by two functions for different shapes is an error, not a silent
overwrite).

    python -m devstack openapi            # write openapi.json (make openapi)
    python -m devstack openapi --check    # exit 1 when openapi.json is stale

Each function is imported in its own interpreter with only its CodeUri and the
layer on the path, as Lambda imports it; nothing connects to a database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.template import Function, Template

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = REPO / "openapi.json"
ERROR_SCHEMA = "ErrorBody"
GATEWAY_SCHEMA = "GatewayMessage"
_GATEWAY_MESSAGE = {
    "type": "object",
    "title": GATEWAY_SCHEMA,
    "description": "What API Gateway itself answers (refused token, unknown route, throttling).",
    "required": ["message"],
    "properties": {"message": {"type": "string", "examples": ["Unauthorized"]}},
}

_DUMP = (
    "import importlib, json, sys\n"
    "module = importlib.import_module(sys.argv[1])\n"
    "app = getattr(module, 'app', None)\n"
    "doc = json.loads(app.get_openapi_json_schema()) if hasattr(app, 'get_openapi_json_schema') else None\n"
    "print(json.dumps(doc))\n"
)


def _error_schemas() -> dict[str, Any]:
    """The layer's error body (shared.schemas.ErrorBody) and the models it uses, as components."""
    from shared.schemas import ErrorBody

    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, ERROR_SCHEMA: schema, GATEWAY_SCHEMA: _GATEWAY_MESSAGE}


class OpenApiError(ValueError):
    """The functions' documents cannot be merged."""


def function_part(fn: Function, layer: Path = REPO / "layers" / "shared") -> dict[str, Any] | None:
    """One function's own document, from a fresh interpreter that imports it like Lambda."""
    module = fn.handler.rpartition(".")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "AWS_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(fn.code_uri), str(layer)])
    env["POWERTOOLS_SERVICE_NAME"] = "openapi"
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP, module],
        cwd=fn.code_uri,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise OpenApiError(f"{fn.name}: importing {module} failed:\n{proc.stderr.strip()}")
    part = json.loads(proc.stdout.strip().splitlines()[-1])
    return part if isinstance(part, dict) else None


def http_functions(template: Template) -> list[Function]:
    names = dict.fromkeys(r.function for r in template.routes)
    return [template.functions[n] for n in names]


def merge(
    template: Template,
    part_of: Callable[[Function], dict[str, Any] | None],
    *,
    title: str = "Blog API",
    version: str = "1.0.0",
    servers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One document for the routes the template gives API Gateway."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "The publishing platform's HTTP API (API Gateway HTTP API, one Lambda function per resource). "
                "Protected operations need `Authorization: Bearer <token>`: an ID token of the user pool "
                "(or the configured issuer). Errors share one body: "
                '`{"error": {"code", "message", "details"}}`.'
            ),
        },
        "paths": {},
        "components": {
            "schemas": _error_schemas(),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    if servers:
        doc["servers"] = servers
    protected = {(r.method.lower(), r.path) for r in template.routes if r.authorizer is not None}
    routed = {(r.method.lower(), r.path) for r in template.routes}
    found: set[tuple[str, str]] = set()
    schemas: dict[str, Any] = doc["components"]["schemas"]
    documented: dict[str, str] = {}  # schema name -> the function that documented it
    for fn in http_functions(template):
        part = part_of(fn) or {}
        for path, operations in sorted((part.get("paths") or {}).items()):
            for method, operation in sorted(operations.items()):
                if (method, path) not in routed:
                    continue  # only what API Gateway routes to the function
                found.add((method, path))
                _request_headers(operation)
                _plain_parameters(operation)
                _layer_responses(operation)
                _caching(operation, f"{method.upper()} {path}")
                if (method, path) in protected:
                    operation["security"] = [{"bearerAuth": []}]
                    _gateway_401(operation)
                doc["paths"].setdefault(path, {})[method] = operation
        for name, schema in ((part.get("components") or {}).get("schemas") or {}).items():
            if name in documented and schemas[name] != schema:
                raise OpenApiError(f"schema {name!r} differs between {documented[name]} and {fn.name}; rename one")
            schemas[name], documented[name] = schema, fn.name  # a function's rendering wins over the seed
    missing = sorted(routed - found)
    if missing:
        raise OpenApiError("routes in template.yaml that no function documents: " + ", ".join(map(str, missing)))
    doc["paths"] = dict(sorted(doc["paths"].items()))
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    _drop_unreferenced(doc, ("HTTPValidationError", "ValidationError"))
    _no_nul(doc)
    _no_nul_components(doc)
    return doc


NO_NUL_PATTERN = "^[^\\x00]*$"


JSON_VALUE = "JsonValue"


def _no_nul_components(doc: dict[str, Any]) -> None:
    # Free JSON (metadata, preferences) as jsonb stores it: no NUL in any string or key, numbers
    # a double can hold (the layer's rules; its depth and size limits are in the descriptions).
    ref = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
    doc["components"]["schemas"][JSON_VALUE] = {
        "description": "Any JSON value without NUL (U+0000) in its strings or keys",
        "anyOf": [
            {"type": "string", "pattern": NO_NUL_PATTERN},
            {"type": "number", "minimum": -1e300, "maximum": 1e300},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": ref},
            {"type": "object", "additionalProperties": ref, "propertyNames": {"pattern": NO_NUL_PATTERN}},
        ],
    }


def _no_nul(node: Any) -> None:
    """The layer refuses a NUL (U+0000) in any string of a request (PostgreSQL text cannot store it):
    every free-text string schema says so (those with a pattern or a format already exclude it), and
    free JSON objects take JsonValue members."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "pattern" not in node and "format" not in node and "enum" not in node:
            node["pattern"] = NO_NUL_PATTERN
        if node.get("type") == "object" and node.get("additionalProperties") is True:
            node["additionalProperties"] = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
            # Keys too, whatever else the model says of them (a length): merged, not replaced.
            node.setdefault("propertyNames", {}).setdefault("pattern", NO_NUL_PATTERN)
        for value in node.values():
            _no_nul(value)
    elif isinstance(node, list):
        for value in node:
            _no_nul(value)


def _layer_responses(operation: dict[str, Any]) -> None:
    """What the layer answers for every route, whatever the route declares.

    shared.http turns an unreachable database or a statement timeout into 503,
    a body over the limit into 413, malformed JSON into 400, a body that is not
    JSON into 415, and a parameter or body value that cannot be stored (NUL, a
    lone surrogate, a number beyond the double range) into 422; error
    responses a route declares with a description only get the shared body.
    """
    responses = operation.setdefault("responses", {})
    if "requestBody" in operation:
        responses.setdefault("400", {"description": "Malformed JSON"})
        responses.setdefault("413", {"description": "The body is larger than the API accepts"})
    # The layer checks every request before routing: a body that is not JSON, and parameters
    # that cannot be stored, whatever the route.
    responses.setdefault("415", {"description": "The body is not JSON (Content-Type)"})
    responses.setdefault("422", {"description": "Invalid input"})
    responses.setdefault("503", {"description": "The database is unavailable or too slow: try again"})
    if "204" in responses:
        responses["204"].pop("content", None)  # no body
    for status, response in responses.items():
        # Powertools documents its own validation error shape (or none); the layer answers ours.
        if str(status)[0] in "45" and _ref_of(response) != ERROR_SCHEMA:
            response["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    operation["responses"] = dict(sorted(responses.items()))


def _plain_parameters(operation: dict[str, Any]) -> None:
    """A query, path or header parameter is a string or absent, never JSON null: an optional
    parameter's `anyOf: [X, {"type": "null"}]` (Pydantic's `X | None`) is rendered as X."""
    for param in operation.get("parameters") or []:
        schema = param.get("schema") or {}
        branches = schema.get("anyOf")
        if not isinstance(branches, list):
            continue
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1 and len(kept) < len(branches):
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            param["schema"] = {**kept[0], **rest}


def _caching(operation: dict[str, Any], route_key: str) -> None:
    """The route's caching decision (shared/caching.py) in the document: Cache-Control on every
    answer and, for a cacheable public read, ETag, If-None-Match and 304."""
    from shared import caching

    rule = caching.rule_for(route_key)
    operation["x-cache-control"] = rule.header()
    if not rule.cacheable:
        return
    operation.setdefault("parameters", []).append(
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "An ETag this route returned: 304 with no body while it is still current.",
            "schema": {"type": "string"},
        }
    )
    responses = operation["responses"]
    responses["304"] = {
        "description": "Not Modified: the If-None-Match ETag is current (no body; ETag and Cache-Control sent)"
    }
    ok = responses.get("200")
    if ok is not None:
        ok["headers"] = {
            "ETag": {"description": "The answer's validator, for If-None-Match", "schema": {"type": "string"}},
            **(ok.get("headers") or {}),
            "Cache-Control": {"description": rule.header(), "schema": {"type": "string"}},
        }
    operation["responses"] = dict(sorted(responses.items()))


def _request_headers(operation: dict[str, Any]) -> None:
    """The request headers a route reads (its `x-request-headers` extension, from
    shared.schemas.reads_headers) as header parameters, described once in REQUEST_HEADERS."""
    from shared.schemas import REQUEST_HEADERS

    for name in operation.pop("x-request-headers", None) or []:
        operation.setdefault("parameters", []).append(
            {"name": name, "in": "header", "required": False, **REQUEST_HEADERS[name]}
        )


def _gateway_401(operation: dict[str, Any]) -> None:
    """On a protected route, API Gateway's authorizer answers a bad token itself, in its own shape."""
    responses = operation["responses"]
    responses["401"] = {
        "description": 'No verified identity (a refused token is answered by API Gateway: {"message": "Unauthorized"})',
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"},
                        {"$ref": f"#/components/schemas/{GATEWAY_SCHEMA}"},
                    ]
                }
            }
        },
    }
    operation["responses"] = dict(sorted(responses.items()))


def _ref_of(response: dict[str, Any]) -> str | None:
    ref = (((response.get("content") or {}).get("application/json") or {}).get("schema") or {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _drop_unreferenced(doc: dict[str, Any], names: tuple[str, ...]) -> None:
    schemas = doc["components"]["schemas"]
    for name in names:
        text = json.dumps({k: v for k, v in doc.items() if k != "components"}) + json.dumps(
            {k: v for k, v in schemas.items() if k != name}
        )
        if name in schemas and f"#/components/schemas/{name}" not in text:
            del schemas[name]


# Where the API is: the stack's ApiUrl output (or CdnUrl with the CDN), or the local API.
SERVERS = [
    {
        "url": "{baseUrl}",
        "description": "The API's base URL: the stack's ApiUrl (or CdnUrl) output, or make dev's address",
        "variables": {"baseUrl": {"default": "http://127.0.0.1:3000"}},
    }
]


def document(template: Template) -> dict[str, Any]:
    return merge(template, function_part, servers=SERVERS)


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(template: Template, *, check: bool, target: Path = DOCUMENT) -> int:
    text = render(document(template))
    if check:
        if not target.is_file() or target.read_text() != text:
            print(f"{target.name} is stale: run `make openapi` and commit it", file=sys.stderr)
            return 1
        print(f"{target.name} is up to date")
        return 0
    target.write_text(text)
    print(f"wrote {target.relative_to(REPO) if target.is_relative_to(REPO) else target}")
    return 0
