"""A flow step's expectations: `{{ var }}` filled in, then every one judged, every miss said.

Each miss is a sentence saying what was expected and what came instead; the step and its
request are the caller's to add. Values are masked before they are cut short, so a cut never
leaves the unmasked head of a secret behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jsonschema import validators
from referencing.exceptions import Unresolvable

from gonogo.environment_flows import VARIABLE, StepExpect
from gonogo.json_paths import MISSING, lookup
from gonogo.probes.http import HttpResponse

__all__ = [
    "Redact",
    "as_text",
    "excerpt",
    "fill_json",
    "fill_text",
    "filled_expect",
    "judge",
    "status_problem",
]

Redact = Callable[[str], str]
_SHOWN_CHARS = 120
_EXCERPT_CHARS = 300
_SCHEMA_ERRORS = 3
_BLOCK = 65_536  # bodies compared block by block: an upload may be 64 MiB


def as_text(value: Any) -> str:
    """A value as it reads in JSON (`true`, `3`, `["a"]`), so `{{ x }}` in a string and a
    pattern for a non-string value see what the server sent, not Python's spelling."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def excerpt(body: bytes, redact: Redact) -> str:
    """The start of a body on one line, masked, cut short for a message."""
    text = " ".join(body[: _EXCERPT_CHARS * 8].decode("utf-8", errors="replace").split())
    return _cut(redact(text), _EXCERPT_CHARS)


def filled_expect(expect: StepExpect, variables: Mapping[str, Any]) -> StepExpect:
    """The expectation with `{{ var }}` filled in; regular expressions and the schema are
    literal, as `{` means something to both."""

    def text(value: str) -> str:
        return fill_text(value, variables)

    def keys(mapping: dict[str, str]) -> dict[str, str]:
        return {text(k): v for k, v in mapping.items()}

    return expect.model_copy(
        update={
            "headers": {text(k): text(v) for k, v in expect.headers.items()},
            "header_matches": keys(expect.header_matches),
            "json_fields": fill_json(expect.json_fields, variables),
            "json_contains": fill_json(expect.json_contains, variables),
            "json_exists": [text(path) for path in expect.json_exists],
            "json_absent": [text(path) for path in expect.json_absent],
            "json_matches": keys(expect.json_matches),
            "body_contains": (
                text(expect.body_contains) if expect.body_contains is not None else None
            ),
        }
    )


def fill_text(value: str, variables: Mapping[str, Any]) -> str:
    """Every `{{ var }}` replaced by the variable's value as JSON text."""
    return VARIABLE.sub(lambda match: as_text(variables[match[1]]), value)


def fill_json(value: Any, variables: Mapping[str, Any]) -> Any:
    """Like fill_text, through lists and mappings; a string that is only `{{ var }}` becomes
    the value itself, so a captured number stays a number."""
    if isinstance(value, str):
        whole = VARIABLE.fullmatch(value)
        return variables[whole[1]] if whole else fill_text(value, variables)
    if isinstance(value, dict):
        return {fill_text(k, variables): fill_json(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_json(item, variables) for item in value]
    return value


def judge(expect: StepExpect, response: HttpResponse, redact: Redact) -> list[str]:
    """Every expectation the answer misses, as sentences; empty when it meets them all."""
    status = status_problem(response, expect.status)
    problems = [status] if status else []
    problems += _headers(expect, response, redact)
    if _wants_json(expect):
        try:
            document = response.json()
        except ValueError as exc:
            problems.append(
                f"expected a JSON body, got one that cannot be read: {exc}; "
                f"body: {excerpt(response.body, redact) or '(empty)'}"
            )
        else:
            problems += _json(expect, document, redact)
    if expect.body_file is not None:
        problems += _body_file(expect.body_file, response)
    if expect.body_contains is not None and expect.body_contains.encode() not in response.body:
        problems.append(
            f"expected the body to contain {_shown(expect.body_contains, redact)}, "
            f"got: {excerpt(response.body, redact) or '(empty)'}"
        )
    if expect.latency_ms is not None and response.elapsed_ms > expect.latency_ms:
        problems.append(
            f"expected an answer within {expect.latency_ms:g} ms, "
            f"got one in {response.elapsed_ms:.1f} ms"
        )
    return problems


def status_problem(
    response: HttpResponse, accepted: list[int] | None, *, or_404: bool = False
) -> str | None:
    """What is wrong with the status, or None; with no codes given any 2xx will do (and a 404
    too, for a cleanup whose thing is already gone)."""
    if accepted:
        if response.status in accepted:
            return None
        wanted = "status " + " or ".join(map(str, accepted))
    else:
        if 200 <= response.status < 300 or (or_404 and response.status == 404):
            return None
        wanted = "a 2xx status" + (" or 404" if or_404 else "")
    return f"expected {wanted}, got {response.status} {response.reason}".rstrip()


def _headers(expect: StepExpect, response: HttpResponse, redact: Redact) -> list[str]:
    problems = []
    for name, value in expect.headers.items():
        actual = response.headers.get(name.lower())
        if actual != value:
            problems.append(
                f"expected header {name}: {_shown(value, redact)}, "
                + (f"got {_shown(actual, redact)}" if actual is not None else "got no such header")
            )
    for name, pattern in expect.header_matches.items():
        actual = response.headers.get(name.lower())
        if actual is None or not re.search(pattern, actual):
            problems.append(
                f"expected header {name} to match /{pattern}/, "
                + (f"got {_shown(actual, redact)}" if actual is not None else "got no such header")
            )
    return problems


def _wants_json(expect: StepExpect) -> bool:
    return bool(
        expect.json_fields
        or expect.json_contains
        or expect.json_exists
        or expect.json_absent
        or expect.json_matches
        or expect.json_schema is not None
    )


def _json(expect: StepExpect, document: Any, redact: Redact) -> list[str]:
    problems = []
    for path, expected in expect.json_fields.items():
        actual, missing = lookup(document, path)
        if actual is MISSING:
            problems.append(
                f"expected {path} = {_shown(expected, redact)}, the body has no {missing}"
            )
        elif not _same(actual, expected):
            problems.append(
                f"expected {path} = {_shown(expected, redact)}, got {_shown(actual, redact)}"
            )
    for path, expected in expect.json_contains.items():
        actual, missing = lookup(document, path)
        if actual is MISSING:
            problems.append(
                f"expected {path} to contain {_shown(expected, redact)}, the body has no {missing}"
            )
        elif not _contains(actual, expected):
            problems.append(
                f"expected {path} to contain {_shown(expected, redact)}, "
                f"got {_shown(actual, redact)}"
            )
    for path in expect.json_exists:
        actual, missing = lookup(document, path)
        if actual is MISSING:
            problems.append(f"expected {path} in the body, found no {missing}")
    for path in expect.json_absent:
        actual, _ = lookup(document, path)
        if actual is not MISSING:
            problems.append(f"expected no {path} in the body, found {_shown(actual, redact)}")
    for path, pattern in expect.json_matches.items():
        actual, missing = lookup(document, path)
        if actual is MISSING:
            problems.append(f"expected {path} to match /{pattern}/, the body has no {missing}")
        elif not re.search(pattern, as_text(actual)):
            problems.append(f"expected {path} to match /{pattern}/, got {_shown(actual, redact)}")
    if expect.json_schema is not None:
        problems += _schema(expect.json_schema, document, redact)
    return problems


def _same(actual: Any, expected: Any) -> bool:
    """JSON equality: `true` is not `1`, and `"1"` is not `1`, though Python says otherwise."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            _same(actual[key], expected[key]) for key in actual
        )
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_same, actual, expected))
    if isinstance(actual, dict | list) or isinstance(expected, dict | list):
        return False
    return bool(actual == expected)


def _contains(actual: Any, expected: Any) -> bool:
    """A substring of a string, an element of a list (or one holding the given keys), or the
    given keys of a mapping."""
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list):
        return any(
            _same(item, expected) or (isinstance(item, dict) and _contains(item, expected))
            for item in actual
        )
    if isinstance(actual, dict):
        return isinstance(expected, dict) and all(
            key in actual and _same(actual[key], value) for key, value in expected.items()
        )
    return False


def _schema(schema: dict[str, Any], document: Any, redact: Redact) -> list[str]:
    try:
        errors = list(validators.validator_for(schema)(schema).iter_errors(document))
    except Unresolvable as exc:  # a $ref to nowhere: only found when validating
        return [f"expected the body to match the JSON schema, which cannot be used: {exc}"]
    if not errors:
        return []
    listed = "; ".join(
        f"{error.json_path}: {_cut(redact(error.message), _SHOWN_CHARS)}"
        for error in errors[:_SCHEMA_ERRORS]
    )
    more = f" (and {len(errors) - _SCHEMA_ERRORS} more)" if len(errors) > _SCHEMA_ERRORS else ""
    return [
        f"expected the body to match the JSON schema, found {len(errors)} error(s): {listed}{more}"
    ]


def _body_file(path: Path, response: HttpResponse) -> list[str]:
    try:
        expected = path.read_bytes()
    except OSError as exc:
        return [
            f"expected the body to be the bytes of {path}, which cannot be read: {exc.strerror}"
        ]
    body = response.body
    if body == expected and not response.truncated:
        return []
    got = f"more than {len(body)}" if response.truncated else str(len(body))
    return [
        f"expected the body to be the {len(expected)} bytes of {path} "
        f"(sha256 {_sha256(expected)}), got {got} bytes (sha256 {_sha256(body)}), "
        f"first difference at byte {_first_difference(body, expected)}"
    ]


def _first_difference(left: bytes, right: bytes) -> int:
    offset = 0
    shortest = min(len(left), len(right))
    while offset < shortest and left[offset : offset + _BLOCK] == right[offset : offset + _BLOCK]:
        offset += _BLOCK
    a, b = left[offset : offset + _BLOCK], right[offset : offset + _BLOCK]
    same = min(len(a), len(b))  # one is the start of the other when no byte differs
    return offset + next((i for i in range(same) if a[i] != b[i]), same)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _shown(value: Any, redact: Redact) -> str:
    return _cut(redact(json.dumps(value, ensure_ascii=False)), _SHOWN_CHARS)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
