"""openapi.json: one document for the whole HTTP API, in step with the code and the template."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from devstack import openapi
from devstack.template import Template
from devstack.template import load as load_template

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads((ROOT / "openapi.json").read_text())


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_committed_document_matches_the_code(template: Template) -> None:
    """Fails when a route, model or response changed without `make openapi`."""
    generated = openapi.render(openapi.document(template))
    assert (ROOT / "openapi.json").read_text() == generated, "openapi.json is stale: run `make openapi`"


def test_every_template_route_is_documented_and_nothing_else(template: Template, committed: dict[str, Any]) -> None:
    routed = {(r.method, r.path) for r in template.routes}
    assert set(operations(committed)) == routed


def test_protected_routes_and_only_those_need_the_bearer_token(template: Template, committed: dict[str, Any]) -> None:
    ops = operations(committed)
    for route in template.routes:
        op = ops[(route.method, route.path)]
        if route.authorizer is None:
            assert "security" not in op, route.route_key
        else:
            assert op["security"] == [{"bearerAuth": []}], route.route_key
            assert "401" in op["responses"], route.route_key


def test_every_error_response_has_the_one_error_body(committed: dict[str, Any]) -> None:
    for key, op in operations(committed).items():
        assert "503" in op["responses"], key
        for status, response in op["responses"].items():
            if status[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                if "security" in op and status == "401":  # the gateway's own answer, or ours
                    assert {"$ref": "#/components/schemas/ErrorBody"} in schema["anyOf"], key
                    continue
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (key, status)
            if status == "204":
                assert "content" not in response, key
    assert committed["components"]["schemas"]["ErrorBody"]["required"] == ["error"]


def test_every_reference_resolves(committed: dict[str, Any]) -> None:
    schemas = committed["components"]["schemas"]
    text = json.dumps(committed)
    refs = {part.split('"', 1)[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs and refs <= set(schemas)


def test_operation_ids_are_unique(committed: dict[str, Any]) -> None:
    ids = [op["operationId"] for op in operations(committed).values()]
    assert len(ids) == len(set(ids))


def test_operation_ids_are_names_a_person_would_write(committed: dict[str, Any]) -> None:
    # lowerCamelCase verb + noun (listPosts, getPost, createComment), never Powertools' generated
    # get_post_posts__post_id__get: a generated client's method names come from these.
    verbs = ("list", "get", "create", "update", "delete", "archive", "register", "deactivate", "put", "like")
    verbs += ("unlike", "hide", "unhide", "count", "transfer")
    for key, op in operations(committed).items():
        op_id = op["operationId"]
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", op_id), (key, op_id)
        assert op_id.startswith(verbs), (key, op_id)


def test_optional_parameters_are_plain_schemas(committed: dict[str, Any]) -> None:
    # A query or path parameter is a string or absent, never JSON null: no anyOf [X, null].
    for key, op in operations(committed).items():
        for param in op.get("parameters", []):
            assert "anyOf" not in param["schema"], (key, param["name"])


def test_patch_bodies_need_at_least_one_field(committed: dict[str, Any]) -> None:
    for key, op in operations(committed).items():
        if key[0] == "PATCH" and "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            schema = committed["components"]["schemas"][ref]
            assert schema.get("minProperties") == 1 or schema.get("required"), key


def test_every_route_has_a_sample_event(template: Template) -> None:
    route_keys = set()
    for path in (ROOT / "events").rglob("*.json"):
        event = json.loads(path.read_text())
        if isinstance(event, dict) and "routeKey" in event:
            route_keys.add(event["routeKey"])
    missing = sorted(r.route_key for r in template.routes if r.route_key not in route_keys)
    assert not missing, f"routes without a sample event in events/: {missing}"


def test_a_schema_name_used_twice_for_different_shapes_is_refused(template: Template) -> None:
    route = template.routes[0]
    fn = template.functions[route.function]

    def part(shape: dict[str, Any]) -> dict[str, Any]:
        op = {"operationId": "x", "responses": {"200": {"description": "ok"}}}
        return {"paths": {route.path: {route.method.lower(): op}}, "components": {"schemas": {"Page": shape}}}

    other = dataclasses.replace(fn, name="OtherFunction")
    routes = [route, dataclasses.replace(route, function=other.name)]
    calls = iter([part({"type": "object"}), part({"type": "array"})])
    two = Template(template.path, template.root, template.resolver, {fn.name: fn, other.name: other}, routes, {}, None)
    with pytest.raises(openapi.OpenApiError, match="Page"):
        openapi.merge(two, lambda _fn: next(calls))


# The layer's and the functions' readers of request headers, by the header they read.
HEADER_READERS = {"idempotency_key": "Idempotency-Key", "_if_match": "If-Match"}


def _headers_each_route_reads() -> dict[tuple[str, str], set[str]]:
    """(method, path) -> the request headers its handler reads through HEADER_READERS, from the
    functions' source (`@app.post("/posts/<post_id>/comments")` is `("POST", "/posts/{post_id}/comments")`)."""
    import ast

    found: dict[tuple[str, str], set[str]] = {}
    for source in sorted((ROOT / "functions").glob("*/*_app.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and isinstance(deco.func, ast.Attribute)
                    and isinstance(deco.func.value, ast.Name)
                    and deco.func.value.id == "app"
                    and deco.args
                    and isinstance(deco.args[0], ast.Constant)
                ):
                    path = re.sub(r"<(\w+)>", r"{\1}", deco.args[0].value)
                    calls = {
                        c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                    }
                    found[(deco.func.attr.upper(), path)] = {HEADER_READERS[c] for c in calls & set(HEADER_READERS)}
    return found


def test_every_request_header_a_route_reads_is_documented_and_nothing_else(committed: dict[str, Any]) -> None:
    read = _headers_each_route_reads()
    assert read[("POST", "/posts")] == {"Idempotency-Key"}  # the scan itself finds what it must
    for (method, path), operation in operations(committed).items():
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"} - {"If-None-Match"}
        assert documented == read.get((method, path), set()), (method, path)


def test_no_function_reads_a_header_except_through_a_documented_reader() -> None:
    # A new `headers.get("x-...")` in a function is a header the document would not know of.
    for source in sorted((ROOT / "functions").glob("*/*_app.py")):
        text = source.read_text()
        for name in re.findall(r"headers\.get\(\s*[\"']([^\"']+)[\"']", text):
            assert name == "if-match", f"{source.name} reads the {name} header directly"
