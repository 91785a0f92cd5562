"""Turns pydantic's validation errors into one line per problem: file, key path, expected, found."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gonogo._interpolate import key_path
from gonogo.redaction import Redactor

__all__ = ["describe_validation_error"]

MAX_LINES = 20
Where = tuple[str | int, ...]
# How pydantic-core names a union's member types in an error's location.
_UNION_MEMBER = re.compile(
    r"[a-z]+(?:-[a-z]+)*\[.*\]|(?:constrained|lax|strict)-[a-z]+"
    r"|int|str|float|bool|bytes|none|date|datetime|time|timedelta|decimal",
    re.DOTALL,
)

_EXPECTED: dict[str, str] = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "missing": "this key (it is required)",
}

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def describe_validation_error(
    exc: ValidationError, source: Path, redactor: Redactor, document: Any = None
) -> str:
    """One line per error, capped, secrets masked (a bad value may be an interpolated secret).

    A value that fits none of a union's types (a port number or a range, say) gives pydantic
    one error per type, each under a location naming the type; with the validated `document`
    at hand those names are told from keys, dropped, and the alternatives joined on one line.
    """
    problems: list[tuple[Where, bool, list[str]]] = []
    for error in exc.errors(include_url=False):
        where, union = _key_location(tuple(error["loc"]), document)
        text = _describe(error)
        if union and problems and problems[-1][:2] == (where, True):
            problems[-1][2].append(text)
        else:
            problems.append((where, union, [text]))
    lines = [
        f"{source}: {key_path(where)}: {_alternatives(texts)}"
        for where, _, texts in problems[:MAX_LINES]
    ]
    if len(problems) > MAX_LINES:
        lines.append(f"{source}: ... and {len(problems) - MAX_LINES} more errors")
    return redactor.redact("\n".join(lines))


def _key_location(loc: Where, document: Any) -> tuple[Where, bool]:
    """`loc` without the union member names pydantic puts in it, and whether it had any.

    A part is a member name only when the document has no such key there and it reads like
    one (`constrained-int`, `literal['start']`, `function-after[...]`, `str`): a key a user
    wrote is never dropped."""
    kept: list[str | int] = []
    node = document
    union = False
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif isinstance(part, str) and _UNION_MEMBER.fullmatch(part):
            union = True
            continue
        else:
            node = None
        kept.append(part)
    return tuple(kept), union


def _alternatives(texts: list[str]) -> str:
    """ "expected 'start', got 'x'" and "expected a duration, got 'x'" as one sentence."""
    first = texts[0]
    found = first[first.rfind(", got ") :] if ", got " in first else ""
    if len(texts) == 1 or not found or not all(text.endswith(found) for text in texts):
        return "; or ".join(texts)
    bare = [text.removesuffix(found) for text in texts]
    return bare[0] + "".join(", or " + text.removeprefix("expected ") for text in bare[1:]) + found


def _describe(error: ErrorDetails) -> str:
    """The problem, without its location: "expected a number > 0, got -1"."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return "required key is missing"
    found = _show(error.get("input"))
    if kind == "gonogo":
        return error["msg"]
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {found}"
    if kind in _BOUNDS:
        name, symbol = _BOUNDS[kind]
        bound = ctx[name]
        shown = f"{bound:g}" if isinstance(bound, int | float) else bound
        return f"expected a number {symbol} {shown}, got {found}"
    if kind == "literal_error":
        return f"expected {ctx['expected']}, got {found}"
    if kind == "enum":
        return f"expected {ctx['expected']}, got {found}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {ctx['pattern']}, got {found}"
    if kind == "extra_forbidden":
        return "unknown key"
    message = error["msg"].removeprefix("Value error, ")
    return message if message.endswith(found) else f"{message}, got {found}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
