"""Turns pydantic's validation errors into one line per problem: file, key path, expected, found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gonogo._interpolate import key_path
from gonogo.redaction import Redactor

__all__ = ["describe_validation_error"]

MAX_LINES = 20

_EXPECTED: dict[str, str] = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
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


def describe_validation_error(exc: ValidationError, source: Path, redactor: Redactor) -> str:
    """One line per error, capped, secrets masked (a bad value may be an interpolated secret)."""
    errors = exc.errors(include_url=False)
    lines = [f"{source}: {_describe(error)}" for error in errors[:MAX_LINES]]
    if len(errors) > MAX_LINES:
        lines.append(f"{source}: ... and {len(errors) - MAX_LINES} more errors")
    return redactor.redact("\n".join(lines))


def _describe(error: ErrorDetails) -> str:
    where = key_path(tuple(error["loc"]))
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return f"{where}: required key is missing"
    found = _show(error.get("input"))
    if kind == "gonogo":
        return f"{where}: {error['msg']}"
    if kind in _EXPECTED:
        return f"{where}: expected {_EXPECTED[kind]}, got {found}"
    if kind in _BOUNDS:
        name, symbol = _BOUNDS[kind]
        bound = ctx[name]
        shown = f"{bound:g}" if isinstance(bound, int | float) else bound
        return f"{where}: expected a number {symbol} {shown}, got {found}"
    if kind == "literal_error":
        return f"{where}: expected {ctx['expected']}, got {found}"
    if kind == "enum":
        return f"{where}: expected {ctx['expected']}, got {found}"
    if kind == "string_pattern_mismatch":
        return f"{where}: expected text matching {ctx['pattern']}, got {found}"
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}, got {found}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
