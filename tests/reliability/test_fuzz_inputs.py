"""Property-based test over every operation of openapi.json, with the inputs that JSON, HTTP and
API Gateway let through and a driver or database may refuse: the whole Unicode range with lone
surrogates and NUL, datetimes at and beyond the edges with any offset, numbers at the edges
(NaN, Infinity, 1e400, 1e-400, -0, integers beyond bigint and beyond the double range), odd
media types and header-name casings, and odd paths (trailing slashes, hostile path parameters).

Requests are API Gateway payload-2.0 events sent to the handler of the function that serves
the route in template.yaml, because API Gateway delivers parameters decoded: a lone surrogate or
NUL in a query or path parameter reaches a function only this way (over HTTP it is percent-
encoded UTF-8). tests/reliability/test_fuzz_openapi.py fuzzes the same document over HTTP.

Every answer must: not be a 5xx; have a status the document lists for the operation (or 404
`route_not_found` for a mangled path no route matches); and, when it is an error, carry the
documented error body {"error": {"code", "message", "details"}}.

Examples per operation: FUZZ_EXAMPLES (default 8 in `make test`; `make soak` raises it).
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.template import load as load_template
from testing.events import claims, http_event
from tests.conftest import ROOT
from tests.reliability.conftest import TALLY
from tests.support.api import call
from tests.support.factories import make_post, make_user

DOC = json.loads((ROOT / "openapi.json").read_text())
TEMPLATE = load_template(ROOT / "template.yaml")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
OPERATIONS = sorted((m.upper(), p) for p, ops in DOC["paths"].items() for m in ops)
HANDLER_OF = {
    (route.method, route.path): TEMPLATE.functions[route.function].handler
    for route in TEMPLATE.routes
    if route.method != "ANY"
}
STATUSES: Counter[int] = Counter()
SEEN: Counter[str] = Counter()


# -- strategies ----------------------------------------------------------------------------
# Every code point, lone surrogates (U+D800-U+DFFF) and NUL included, plus the characters that
# matter to SQL, JSON and paths, so that short strings often carry one.
CHARACTERS = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\x00", "'", '"', "\\", "%", "_", "/", "?", "#", " ", "\u2028", "\ufeff", "\U0010ffff"]),
)
TEXT = st.text(CHARACTERS, max_size=12)

EDGE_DATETIMES = [
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999+00:00",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00-23:59",
    "10000-01-01T00:00:00Z",
    "0000-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "2026-11-23T12:00:00+14:00",
    "2026-11-23T12:00:00.123456789Z",
    "2026-11-23",
    "2026-11-23T24:00:00Z",
    "1970-01-01T00:00:00",
    "0.5",
    "-1",
]


@st.composite
def datetimes_text(draw: st.DrawFn) -> str:
    """Any instant of Python's range, with any offset up to ±23:59, in several ISO spellings."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
    minutes = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    sign = "+" if minutes >= 0 else "-"
    offset = draw(st.sampled_from([f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}", "Z", ""]))
    return moment.isoformat() + offset


DATETIMES = st.one_of(st.sampled_from(EDGE_DATETIMES), datetimes_text())

EDGE_NUMBERS = [
    "0",
    "-0",
    "-0.0",
    "1e400",
    "-1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1" + "0" * 400,
    "4.9e-324",
    "1.7976931348623157e308",
    "1e3",
    "0x10",
    "1_000",
    "\u0661\u0660",  # Arabic-Indic digits: str.isdigit, not JSON
]
NUMBER_TEXT = st.one_of(st.sampled_from(EDGE_NUMBERS), st.integers().map(str), st.floats().map(repr))


class Raw(str):
    """A JSON token written as is (NaN, Infinity, 1e-400, a 400-digit integer)."""


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)  # lone surrogates as \\uXXXX escapes
    if isinstance(value, dict):
        return "{" + ",".join(to_json(str(k)) + ":" + to_json(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value, allow_nan=True)


JSON_NUMBERS = st.one_of(
    st.sampled_from([Raw(n) for n in EDGE_NUMBERS[:16]]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(st.none(), st.booleans(), JSON_NUMBERS, TEXT, DATETIMES)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)

JSON_TYPES = ["application/json", "Application/Json", "APPLICATION/JSON; charset=UTF-8", "application/merge-patch+json"]
ODD_TYPES = [
    "",
    " ",
    "text/plain",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "application/x-www-form-urlencoded",
    "application/json, text/plain",
    "application/json; charset=latin-1",
    "text/x+json",
    "application/",
    ";;;",
    "application/json; charset",
    "\u00e9/\u00e9",
]
MEDIA_TYPES = st.one_of(st.sampled_from(JSON_TYPES + ODD_TYPES), TEXT)
HEADER_NAMES = st.sampled_from(["content-type", "Content-Type", "CONTENT-TYPE", "cOnTeNt-TyPe"])


def _schema_of(op: dict[str, Any]) -> dict[str, Any]:
    ref = op["requestBody"]["content"]["application/json"]["schema"].get("$ref", "")
    return DOC["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})


def _field_values(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    text = json.dumps(prop)
    valid: list[Any] = ["t"]
    if "date" in text:
        valid = ["2000-01-02"]
    elif '"integer"' in text or '"number"' in text:
        valid = [1]
    elif '"array"' in text:
        valid = [["a"]]
    elif '"object"' in text:
        valid = [{"k": "v"}]
    elif "enum" in text or "const" in text:
        valid = re.findall(r'"(?:enum|const)": \[?"([^"]+)"', text) or valid
    return st.one_of(st.sampled_from(valid), JSON_VALUES)


@dataclass
class World:
    ids: dict[str, str]
    who: dict[str, str]


@pytest.fixture()
def world(db: Any, owner_conn: Any) -> World:
    admin = make_user(owner_conn)
    post = make_post(owner_conn, str(admin["user_id"]), status="published")
    comment = owner_conn.run(
        "INSERT INTO comments (post_id, user_id, content) VALUES (:p, :u, 'c') RETURNING comment_id::text",
        p=str(post["post_id"]),
        u=str(admin["user_id"]),
    )[0][0]
    ids = {
        "user_id": str(admin["user_id"]),
        "post_id": str(post["post_id"]),
        "comment_id": comment,
        "slug": str(post["slug"]),
    }
    return World(ids, claims(str(admin["user_id"]), groups=["admin"]))


def _documented(op: dict[str, Any], status: int) -> bool:
    return str(status) in op["responses"]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_hostile_input_with_a_documented_4xx(method: str, path: str, world: World) -> None:
    op = DOC["paths"][path][method.lower()]
    module, attribute = HANDLER_OF[(method, path)].split(".")
    handler = getattr(importlib.import_module(module), attribute)
    names = re.findall(r"\{(\w+)\}", path)
    query_params = [p for p in op.get("parameters") or [] if p["in"] == "query"]
    properties = _schema_of(op).get("properties", {}) if op.get("requestBody") else {}

    @st.composite
    def requests(draw: st.DrawFn) -> dict[str, Any]:
        params = {n: draw(st.one_of(st.just(world.ids.get(n, "x")), TEXT.filter(bool))) for n in names}
        query: dict[str, str] = {}
        for param in query_params:
            if draw(st.booleans()):
                kind = json.dumps(param.get("schema"))
                values = [TEXT, NUMBER_TEXT, DATETIMES]
                if "date-time" in kind:
                    values = [DATETIMES, DATETIMES, TEXT]
                elif "integer" in kind:
                    values = [NUMBER_TEXT, NUMBER_TEXT, TEXT]
                query[param["name"]] = draw(st.one_of(*values))
        if draw(st.booleans()):
            query[draw(TEXT)] = draw(TEXT)  # an undocumented parameter, hostile name and value
        body = None
        if op.get("requestBody"):
            chosen = draw(st.lists(st.sampled_from(sorted(properties) or ["x"]), unique=True, max_size=5))
            fields = {name: draw(_field_values(properties.get(name, {}))) for name in chosen}
            if draw(st.booleans()):
                fields[draw(TEXT)] = draw(JSON_VALUES)
            body = to_json(fields)
        event = http_event(method, path, path_params={n: "p" for n in names}, claims=world.who)
        event["pathParameters"] = params or None
        raw_path = path
        for n, v in params.items():
            raw_path = raw_path.replace("{" + n + "}", v)
        mangled = draw(st.sampled_from(["", "", "/", "//"]))
        event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path + mangled
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        if body is not None:
            event["body"] = body
            event["headers"].pop("content-type", None)
            event["headers"][draw(HEADER_NAMES)] = draw(MEDIA_TYPES)
        if draw(st.booleans()):
            event["headers"]["idempotency-key"] = draw(st.sampled_from(["k1", "k2", "", "\u00e9", "k" * 201]))
        if op.get("security") and draw(st.integers(0, 9)) == 0:
            event["requestContext"].pop("authorizer", None)
        return event

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize="FUZZ_EXAMPLES" not in os.environ,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(event=requests())
    def check(event: dict[str, Any]) -> None:
        reply = call(handler, event)
        STATUSES[reply.status] += 1
        TALLY["fuzz (events): requests"] += 1
        shown = {k: event.get(k) for k in ("rawPath", "queryStringParameters", "body")}
        assert reply.status < 500, (method, path, shown, reply.body)
        hostile_params = any(v != world.ids.get(n) for n, v in (event.get("pathParameters") or {}).items())
        if reply.error_code == "route_not_found":
            # Powertools matches path parameters against URI characters: a hostile one ("?", "/",
            # a control character) or a doubled slash matches no route, as in API Gateway.
            assert hostile_params or "//" in event["rawPath"], shown
        else:
            assert _documented(op, reply.status), (method, path, reply.status, reply.body, shown)
        if reply.status >= 400:
            error = reply.body["error"]
            assert isinstance(error["code"], str) and error["code"], reply.body
            assert isinstance(error["message"], str) and error["message"], reply.body
            assert isinstance(error["details"], list), reply.body
            SEEN[error["code"]] += 1

    check()
    TALLY["fuzz (events): operations"] = len(OPERATIONS)
    TALLY["fuzz (events): examples per operation"] = EXAMPLES


def test_fuzz_events_summary() -> None:
    if not STATUSES:
        pytest.skip("the generated tests did not run (deselected)")
    assert all(status < 500 for status in STATUSES), STATUSES
    print("fuzz (events) statuses:", dict(sorted(STATUSES.items())), "codes:", dict(SEEN.most_common()))


def test_datetime_strategy_reaches_past_the_range() -> None:
    """The strategy really produces instants that overflow on conversion to UTC."""
    edge = datetime.fromisoformat(EDGE_DATETIMES[0])
    with pytest.raises(OverflowError):
        edge.astimezone(UTC)
    assert datetime(9999, 12, 31, tzinfo=UTC) - timedelta(days=1) < datetime.max.replace(tzinfo=UTC)
