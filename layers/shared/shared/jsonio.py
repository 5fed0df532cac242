"""JSON encoding of responses and the strict decoding of request bodies.

`to_json` writes what handlers return (datetimes as ISO 8601, UUIDs as text, Decimals as
numbers, pydantic models by their JSON dump). `json_loads` reads a request body and refuses,
as a 400 or a 422 naming the field, anything PostgreSQL or the API cannot take.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from .errors import Unprocessable


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value) if isinstance(value, UUID) else (int(value) if value == value.to_integral() else float(value))
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)


class _Refused:
    """A JSON number json.loads would have turned into something else: NaN/Infinity, a number
    beyond the float range (inf), one that underflows to 0.0, or one with more digits than a
    double holds (`rounded`: what it would have become). Found and named by `check_values`."""

    __slots__ = ("rounded", "text", "underflow")

    def __init__(self, text: str, underflow: bool = False, rounded: float | None = None) -> None:
        self.text = text
        self.underflow = underflow
        self.rounded = rounded


_NONZERO_MANTISSA = re.compile(r"^[+-]?0*\.?0*[1-9]")


def _parse_float(text: str) -> float | _Refused:
    value = float(text)
    if math.isinf(value):
        return _Refused(text)
    if value == 0.0 and _NONZERO_MANTISSA.match(text):
        return _Refused(text, underflow=True)
    # A double holds 15-17 significant digits: a number written with more (a decimal amount,
    # 12345678901234567890.5, a subnormal that rounds: 3e-324) would be stored as another value.
    # repr() gives the shortest text that reads back as the same double (Python's float repr),
    # so equal values mean nothing was lost: 0.1, 1E2 and 1.50 pass.
    if Decimal(repr(value)) != Decimal(text):
        return _Refused(text, rounded=value)
    return value


def _bad_text(text: str) -> str | None:
    """Why `text` cannot be stored (PostgreSQL text is UTF-8 without NUL), or None."""
    if "\x00" in text:
        return "NUL characters (\\u0000) are not allowed: PostgreSQL text cannot store them"
    if _SURROGATE.search(text):
        return "a lone UTF-16 surrogate (\\ud800-\\udfff) is not a character: send valid Unicode"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _path(parent: str, key: Any) -> str:
    name = str(key).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
    return f"{parent}.{name}" if parent else name


def check_values(value: Any, where: str = "body") -> None:
    """Unprocessable (422) naming the first value, at any depth, that JSON allows and the
    database or the API refuses: a string or object key with NUL or a lone surrogate, NaN,
    Infinity, a number beyond the float range or one that underflows to 0 (1e-400).

    Fields are named by their path: `metadata.k`, `tags.2`. Iterative, so depth costs no stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        problem: str | None = None
        if isinstance(item, str):
            problem = _bad_text(item)
        elif isinstance(item, _Refused):
            if item.underflow:
                problem = f"{item.text} underflows to 0 in a IEEE 754 double: send 0 or a number of at least 5e-324"
            elif item.rounded is not None:
                problem = (
                    f"{item.text} would be stored as {item.rounded!r} (a IEEE 754 double holds 15-17 "
                    "significant digits): send a number a double holds, or a string to keep every digit"
                )
            else:
                problem = f"{item.text} is not a finite number: JSON numbers lie within ±1.7976931348623157e308"
        elif isinstance(item, dict):
            for key, child in item.items():
                key_problem = _bad_text(key)
                if key_problem:
                    raise Unprocessable(
                        "the request contains a value that cannot be stored",
                        [{"field": _path(path, key), "in": where, "message": "object key: " + key_problem}],
                    )
                stack.append((_path(path, key), child))
        elif isinstance(item, list):
            stack.extend((_path(path, i), child) for i, child in enumerate(item))
        if problem:
            raise Unprocessable(
                "the request contains a value that cannot be stored",
                [{"field": path or where, "in": where, "message": problem}],
            )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose names are unique (RFC 8259 §4: with duplicates, "the behavior of software
    that receives such an object is unpredictable"): a repeated name is a 422, not "last one wins"."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise Unprocessable(
            "the request body names a field twice",
            [{"field": _path("", repeated), "in": "body", "message": "this name appears more than once in its object"}],
        )
    return value


def json_loads(text: str) -> dict[str, Any]:
    """json.loads for request bodies, which are JSON objects on every route.

    What json.loads raises besides JSONDecodeError on hostile input (RecursionError for deep
    nesting, ValueError for an integer of over 4300 digits) becomes a JSONDecodeError too: a 400,
    never a 500. Anything but an object is a 422 (Powertools would validate the first element
    of an array as the body and ignore the rest), and so is any value `check_values` refuses and
    an object that names a field twice.
    Integers of any size up to 4300 digits are accepted (jsonb stores them as numeric); a route's
    own model bounds the ones it uses."""
    try:
        value = json.loads(text, parse_float=_parse_float, parse_constant=_Refused, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number is too large"
        raise json.JSONDecodeError(reason, "", 0) from None
    if not isinstance(value, dict):
        raise Unprocessable(
            "the request body must be a JSON object", [{"field": "body", "in": "body", "message": "expected an object"}]
        )
    check_values(value)
    return value
