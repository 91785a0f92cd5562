"""The OpenAPI smoke as facts: the published document, its parameterless GETs, their answers.

Knows nothing of pytest. Only the origin the document was fetched from is ever called: a
`servers` entry naming another host is ignored, as the environment never named that host,
and a smoke must not send traffic (and credentials) somewhere nobody asked it to.
`response_problems` judges an answer against the document; the rest only fetch. The
optional property-based run lives in gonogo.probes.schemathesis and is offered here too.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import httpx
import yaml

from gonogo.errors import GonogoError, TargetTimeoutError, TargetUnreachableError
from gonogo.openapi_schemas import schema_problems
from gonogo.probes.http import fetch
from gonogo.probes.schemathesis import SchemathesisOutcome, run_schemathesis

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "Operation",
    "OperationAnswer",
    "SchemathesisOutcome",
    "call_operations",
    "fetch_document",
    "get_operations",
    "response_problems",
    "run_schemathesis",
]

MAX_DOCUMENT_BYTES = 16 * 1024**2
MAX_ANSWER_BYTES = 1024**2
_REF_HOPS = 16  # a chain of $refs longer than this is a cycle, or as good as one


@dataclass(frozen=True)
class Operation:
    """A GET the smoke calls: the document's path, its operationId, the absolute URL."""

    path: str
    operation_id: str
    url: str


@dataclass(frozen=True)
class OperationAnswer:
    """What one operation answered, or the reason there was no answer in `error`."""

    operation: Operation
    status: int | None
    content_type: str
    body: bytes = field(repr=False)  # at most MAX_ANSWER_BYTES
    truncated: bool  # more than MAX_ANSWER_BYTES came; the body cannot be judged whole
    elapsed_ms: float
    error: str | None
    called: bool = True  # False: not called, an earlier operation timed out (`error` says which)


def fetch_document(
    url: str, *, headers: dict[str, str], timeout_s: float, tls: ssl.SSLContext | None = None
) -> dict[str, Any]:
    """The OpenAPI (3.x) or Swagger (2.0) document at `url`, as JSON or YAML.

    Raises TargetUnreachableError without an answer, GonogoError when the answer is not 200
    or not such a document: a smoke with nothing to call must not pass for one that passed.
    """
    response = fetch(
        url, headers=headers, timeout_s=timeout_s, tls=tls, max_body_bytes=MAX_DOCUMENT_BYTES
    )
    if response.status != 200:
        raise GonogoError(
            f"{url}: expected status 200 with the OpenAPI document, found {response.status} "
            f"({response.excerpt(80) or 'empty body'})"
        )
    if response.truncated:
        raise GonogoError(f"{url}: OpenAPI document larger than {MAX_DOCUMENT_BYTES} bytes")
    document, unreadable = _parsed(response.body)
    if not isinstance(document, dict) or not {"openapi", "swagger"} & set(document):
        if isinstance(document, dict):
            found = f"a mapping with keys {', '.join(sorted(map(str, document))[:8]) or 'none'}"
        elif unreadable:
            found = f"{response.excerpt(80)} (neither JSON nor YAML; {unreadable})"
        else:
            found = response.excerpt(80) or "an empty body"
        raise GonogoError(
            f"{url}: expected an OpenAPI document (a mapping with an `openapi` or `swagger` "
            f"key), found {found}"
        )
    return document


def _parsed(body: bytes) -> tuple[Any, str | None]:
    """The document as JSON, else as YAML; else None and why it is not JSON."""
    try:
        return json.loads(body), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        not_json = f"not JSON: {exc}"
    try:
        return yaml.safe_load(body), None
    except yaml.YAMLError:
        return None, not_json


def get_operations(
    document: dict[str, Any], *, document_url: str, exclude: list[str], limit: int
) -> list[Operation]:
    """Every GET callable as it is: no `{param}` in the path, no required parameter.

    Minus the paths matching an `exclude` pattern (fnmatch); sorted by path, at most `limit`.
    """
    base = _base_url(document, document_url)
    found = []
    paths = document.get("paths")
    for path, value in (paths if isinstance(paths, dict) else {}).items():
        item = _resolved(document, value)
        operation = _resolved(document, item.get("get")) if isinstance(item, dict) else None
        if not isinstance(path, str) or not isinstance(operation, dict) or "{" in path:
            continue
        if any(fnmatchcase(path, pattern) for pattern in exclude):
            continue
        if _needs_parameter(document, item, operation):
            continue
        operation_id = operation.get("operationId")
        name = operation_id if isinstance(operation_id, str) else f"GET {path}"
        found.append(Operation(path, name, base + path))
    return sorted(found, key=lambda operation: operation.path)[:limit]


def _needs_parameter(
    document: dict[str, Any], item: dict[str, Any], operation: dict[str, Any]
) -> bool:
    """Whether a parameter is required; one that cannot be resolved counts as required."""
    merged: dict[tuple[str, str], Any] = {}
    for level in (item, operation):  # the operation's own override the path's, by name and in
        parameters = level.get("parameters")
        for value in parameters if isinstance(parameters, list) else []:
            parameter = _resolved(document, value)
            if not isinstance(parameter, dict):
                return True
            merged[(str(parameter.get("name")), str(parameter.get("in")))] = parameter
    return any(parameter.get("required") is True for parameter in merged.values())


def _resolved(document: dict[str, Any], value: Any) -> Any:
    """`value`, or what its local `$ref` points to; None when that cannot be found."""
    for _ in range(_REF_HOPS):
        if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
            return value
        reference: str = value["$ref"]
        if not reference.startswith("#/"):
            return None  # another file: never fetched
        value = document
        for part in reference[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
    return None


def _base_url(document: dict[str, Any], document_url: str) -> str:
    """Where paths are appended: the document's origin, with the path of its server entry.

    An absolute server URL counts only on the document's own scheme, host and port.
    """
    origin = httpx.URL(document_url).copy_with(path="/", query=None, fragment=None)
    prefix = document.get("basePath") if "swagger" in document else _server_url(document)
    if not isinstance(prefix, str):
        return str(origin).rstrip("/")
    try:  # an empty prefix would resolve to the document itself
        joined = httpx.URL(document_url).join(prefix or "/").copy_with(query=None, fragment=None)
    except httpx.InvalidURL:
        return str(origin).rstrip("/")
    if (joined.scheme, joined.host, joined.port) != (origin.scheme, origin.host, origin.port):
        return str(origin).rstrip("/")
    return str(joined).rstrip("/")


def _server_url(document: dict[str, Any]) -> str | None:
    servers = document.get("servers")
    if not (isinstance(servers, list) and servers and isinstance(servers[0], dict)):
        return None
    url, variables = servers[0].get("url"), servers[0].get("variables") or {}
    if not isinstance(url, str) or not isinstance(variables, dict):
        return None
    for name, variable in variables.items():
        if isinstance(variable, dict) and isinstance(variable.get("default"), str):
            url = url.replace(f"{{{name}}}", variable["default"])
    return None if "{" in url else url


def call_operations(
    operations: list[Operation],
    *,
    headers: dict[str, str],
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
) -> list[OperationAnswer]:
    """GET each operation in turn; an operation without an answer has `error` set.

    After the first operation that times out the rest are not called (each would most
    likely wait as long on the same origin): their `error` says so.
    """
    answers = []
    timed_out: str | None = None
    for operation in operations:
        if timed_out is not None:
            answers.append(
                OperationAnswer(operation, None, "", b"", False, 0.0, timed_out, called=False)
            )
            continue
        started = time.perf_counter()
        try:
            response = fetch(
                operation.url,
                headers=headers,
                timeout_s=timeout_s,
                tls=tls,
                max_body_bytes=MAX_ANSWER_BYTES,
            )
        except TargetUnreachableError as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            answers.append(OperationAnswer(operation, None, "", b"", False, elapsed_ms, str(exc)))
            if isinstance(exc, TargetTimeoutError):
                timed_out = f"not called: GET {operation.path} got no answer within {timeout_s:g} s"
            continue
        answers.append(
            OperationAnswer(
                operation,
                response.status,
                response.headers.get("content-type", ""),
                response.body,
                response.truncated,
                response.elapsed_ms,
                None,
            )
        )
    return answers


def response_problems(
    document: dict[str, Any], path: str, status: int, content_type: str, body: bytes
) -> list[str]:
    """How a GET answer breaks the document: an undeclared status or content type, or a JSON
    body outside the declared schema (at most three errors, each with its JSON path)."""
    paths = document.get("paths")
    item = _resolved(document, paths.get(path)) if isinstance(paths, dict) else None
    operation = _resolved(document, item.get("get")) if isinstance(item, dict) else None
    if not isinstance(operation, dict):
        return [f"GET {path} is not in the document"]
    declared = operation.get("responses")
    responses = {str(code): value for code, value in _items(declared)}
    wanted = (str(status), f"{status // 100}XX", "DEFAULT")  # the exact code, its range, default
    key = next((k for w in wanted for k in responses if k.upper() == w), None)
    if key is None:
        return [f"status {status} not declared; declared: {', '.join(responses) or 'none'}"]
    response = _resolved(document, responses[key])
    if not isinstance(response, dict):
        return []
    media_type = content_type.split(";")[0].strip().lower()
    if "swagger" in document:
        schema = response.get("schema")
    else:
        content = response.get("content")
        if not isinstance(content, dict) or not content:
            return []  # nothing declared about the body
        declared_type = _matching_media_type(media_type, list(content))
        if declared_type is None:
            return [
                f"content-type {media_type or 'none'} not declared for status {key}; "
                f"declared: {', '.join(content)}"
            ]
        media = content[declared_type]
        schema = media.get("schema") if isinstance(media, dict) else None
    if not (_is_json(media_type) and isinstance(schema, dict | bool)):
        return []
    try:
        instance = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"content-type {media_type} but the body is not JSON ({exc})"]
    return schema_problems(document, schema, instance)


def _items(mapping: Any) -> list[tuple[Any, Any]]:
    return list(mapping.items()) if isinstance(mapping, dict) else []


def _matching_media_type(media_type: str, declared: list[str]) -> str | None:
    """The declared media range the served type falls in, the most specific first."""
    ranges = {key.split(";")[0].strip().lower(): key for key in declared}
    major = media_type.split("/")[0]
    for candidate in (media_type, f"{major}/*", "*/*"):
        if candidate in ranges:
            return ranges[candidate]
    return None


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")
