"""JSON Schemas of an OpenAPI document, checked against a body with the document around them.

Pure: no network and no pytest. OpenAPI 3.1 schemas are JSON Schema 2020-12 as they stand;
OpenAPI 3.0 and Swagger 2.0 ones are Draft 4 with extensions of their own, translated here
(`nullable`, boolean exclusive bounds) so one validator, 2020-12, serves every version.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, UnknownType
from referencing.exceptions import Unresolvable

__all__ = ["MAX_SCHEMA_ERRORS", "schema_problems"]

MAX_SCHEMA_ERRORS = 3


def schema_problems(
    document: dict[str, Any], schema: dict[str, Any] | bool, instance: Any
) -> list[str]:
    """How `instance` breaks `schema`: at most three errors, each with its JSON path.

    The document's `components` and `definitions` sit beside the schema at the root, so the
    local `$ref`s it is written with resolve as they do in the document.
    """
    root: dict[str, Any] = schema if isinstance(schema, dict) else {"allOf": [schema]}
    shared: dict[str, Any] = {
        key: document[key] for key in ("components", "definitions") if key in document
    }
    if not str(document.get("openapi", "")).startswith("3.1"):
        root = _from_draft4(root)
        shared = {key: _with_schemas_translated(key, value) for key, value in shared.items()}
    root = {**root, **shared}
    try:
        validator = Draft202012Validator(root)
        errors = sorted(validator.iter_errors(instance), key=lambda error: error.json_path)
    except (SchemaError, UnknownType, Unresolvable) as exc:
        return [f"declared schema cannot be used: {_short(str(exc))}"]
    problems = [f"body at {error.json_path}: {_short(error.message)}" for error in errors]
    if len(problems) > MAX_SCHEMA_ERRORS:
        more = len(problems) - MAX_SCHEMA_ERRORS
        problems = [*problems[:MAX_SCHEMA_ERRORS], f"and {more} more schema error(s)"]
    return problems


def _with_schemas_translated(key: str, value: Any) -> Any:
    """`definitions` (Swagger 2.0) or `components` with its `schemas` translated."""
    if not isinstance(value, dict):
        return value
    if key == "definitions":
        return {name: _from_draft4(schema) for name, schema in value.items()}
    schemas = value.get("schemas")
    if not isinstance(schemas, dict):
        return value
    return {**value, "schemas": {name: _from_draft4(schema) for name, schema in schemas.items()}}


_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_ONE = ("items", "not", "additionalProperties", "additionalItems")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")


def _from_draft4(node: Any) -> Any:
    """An OpenAPI 3.0 / Swagger schema in 2020-12 terms; keyword by keyword, so example data
    and properties that happen to be called `nullable` are left alone."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _from_draft4(value) for name, value in out[key].items()}
    for key in _SCHEMA_ONE:
        if isinstance(out.get(key), dict):
            out[key] = _from_draft4(out[key])
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_from_draft4(value) for value in out[key]]
    for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if out.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
        elif out.get(exclusive) is False:
            del out[exclusive]
    nullable = out.get("nullable")
    if isinstance(nullable, bool):
        del out["nullable"]
    if nullable is not True:
        return out
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [out, {"type": "null"}]}


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
