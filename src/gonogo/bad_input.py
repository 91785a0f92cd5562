"""The negative smoke: which malformed and hostile requests to send, and how to read the answers.

Pure: no network and no pytest. A regression that turns a 422 into a 500, or a debug page left
on in production, shows up only when something sends the input nobody sends by hand; these
are the inputs the projects' `tests/e2e` suites send, generated from one valid example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from gonogo.environment_flows import BadInput

__all__ = [
    "DEBUG_MARKERS",
    "BadCase",
    "answered_cleanly",
    "bad_cases",
    "debug_output",
    "rejected_cleanly",
]

HUGE_CHARS = 100_000
COMBINING_MARKS = 10_000
# Over every common request-line limit (nginx 8 KiB, h11 and Node 16 KiB), under httpx's 64 KiB.
HUGE_QUERY_CHARS = 20_000
QUERY_COMBINING_MARKS = 2_000  # six characters each once percent-encoded
DEBUG_SCAN_BYTES = 256 * 1024
_JSON = "application/json"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The wrong method is the first of these that differs from the entry's. Not DELETE: should the
# endpoint accept it after all, the smoke would have destroyed what it was sent to check.
_OTHER_METHODS = ("PUT", "PATCH")


def _hostile(huge_chars: int, marks: int) -> tuple[tuple[str, str, bool], ...]:
    """Values a string field or a query parameter is given in place of its example value, and
    whether each is text a free-text field may legitimately hold (sizes never are)."""
    return (
        ("script injection", "<script>alert(1)</script>", True),
        ("SQL injection", "' OR '1'='1", True),
        ("path traversal", "../../../../etc/passwd", True),
        (f"huge string ({huge_chars} chars)", "A" * huge_chars, False),
        ("unicode: lone surrogate", "\ud800", True),
        ("unicode: NUL", "a\u0000b", True),
        ("unicode: RTL override", "\u202egnp.exe", True),
        (f"unicode: {marks} combining marks", "a" + "\u0301" * marks, False),
        ("unicode: emoji", "\U0001f4a9\U0001f468\u200d\U0001f469\u200d\U0001f467", True),
    )


@dataclass(frozen=True)
class BadCase:
    """One request of the negative smoke; `url` is absolute, `content` the raw body if any."""

    name: str
    method: str
    url: str
    headers: dict[str, str] = field(repr=False)  # the entry's headers may hold a credential
    content: bytes | None = field(repr=False)  # up to oversized_bytes
    text_in: str | None = None  # the field or parameter given hostile text, for `free_text`


def bad_cases(entry: BadInput, url: str, run_id: str) -> list[BadCase]:
    """The cases for one entry, most telling first, at most `entry.max_cases` of them.

    `url` is the entry's URL made absolute. Body cases are made for POST, PUT and PATCH or
    when an example body is given: a GET that ignores a body it never expected is right to.
    Field mutations go kind by kind across all fields, not field by field, so a cut at
    max_cases still tries every field missing and mistyped before any gets the exotic values.
    """
    params = [*parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    params = [(k, v) for k, v in params if k not in entry.query] + [*entry.query.items()]
    base = _Base(entry, _with_query(url, params))
    cases = [*_body_cases(base)] if _sends_body(entry) else []
    cases += _query_cases(base, params)
    cases.append(base.case("unknown path", url=_unknown_path(base.url, run_id)))
    wrong = next(method for method in _OTHER_METHODS if method != entry.method)
    cases.append(base.case(f"wrong method: {wrong}", method=wrong))
    return cases[: entry.max_cases]


@dataclass(frozen=True)
class _Base:
    """The valid request every case changes in one way only."""

    entry: BadInput
    url: str

    def case(
        self,
        name: str,
        *,
        method: str | None = None,
        url: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        text_in: str | None = None,
    ) -> BadCase:
        """A case; without `body`, the example body, so only what the name says is wrong."""
        if body is None and self.entry.json_body is not None:
            body, content_type = _encoded(self.entry.json_body), content_type or _JSON
        headers = dict(self.entry.headers)
        if body is not None:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            headers["content-type"] = content_type or _JSON
        method = method or self.entry.method
        return BadCase(name, method, url or self.url, headers, body, text_in)


def _sends_body(entry: BadInput) -> bool:
    return entry.method in _BODY_METHODS or entry.json_body is not None


def _body_cases(base: _Base) -> Iterator[BadCase]:
    example = base.entry.json_body
    yield base.case("malformed JSON", body=b'{"')
    yield base.case("empty body", body=b"")
    if isinstance(example, list):
        yield base.case("wrong top-level type: object", body=b"{}")
    else:
        yield base.case(
            "wrong top-level type: array", body=_encoded([] if example is None else [example])
        )
    yield base.case("wrong top-level type: string", body=b'"gonogo"')
    fields: Mapping[str, Any] = example if isinstance(example, dict) else {}
    strings = [name for name, value in fields.items() if isinstance(value, str)]
    for name in fields:
        yield base.case(f"missing field '{name}'", body=_encoded(_without(fields, name)))
    for name, value in fields.items():
        for label, wrong in _wrong_types(value):
            body = _encoded({**fields, name: wrong})
            yield base.case(f"wrong type: '{name}' as {label}", body=body)
    for label, hostile, text in _hostile(HUGE_CHARS, COMBINING_MARKS):
        for name in strings:
            body = _encoded({**fields, name: hostile})
            yield base.case(f"{label} in '{name}'", body=body, text_in=name if text else None)
    if fields:
        extra = _encoded({**fields, "gonogo_unexpected_field": "gonogo"})
        yield base.case("unexpected extra field", body=extra)
    yield base.case(
        f"oversized body ({base.entry.oversized_bytes} bytes)",
        body=_oversized(fields, strings, base.entry.oversized_bytes),
    )
    if example is not None:
        for content_type in ("application/x-www-form-urlencoded", "text/plain"):
            yield base.case(f"wrong content-type: {content_type}", content_type=content_type)


def _query_cases(base: _Base, params: list[tuple[str, str]]) -> list[BadCase]:
    cases = []
    for index, (name, _) in enumerate(params):
        missing = params[:index] + params[index + 1 :]
        url = _with_query(base.url, missing)
        cases.append(base.case(f"missing query parameter '{name}'", url=url))
    for label, hostile, text in _hostile(HUGE_QUERY_CHARS, QUERY_COMBINING_MARKS):
        for index, (name, _) in enumerate(params):
            changed = [*params[:index], (name, hostile), *params[index + 1 :]]
            url = _with_query(base.url, changed)
            text_in = name if text else None
            cases.append(base.case(f"{label} in query '{name}'", url=url, text_in=text_in))
    return cases


def _wrong_types(value: Any) -> tuple[tuple[str, Any], ...]:
    if isinstance(value, str):
        return (("number", 12345), ("null", None), ("array", []), ("object", {}))
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return (("string", "yes"),)
    if isinstance(value, int | float):
        return (("string", "not-a-number"),)
    if isinstance(value, list):
        return (("string", "not-an-array"),)
    if isinstance(value, dict):
        return (("string", "not-an-object"),)
    return ()


def _oversized(fields: Mapping[str, Any], strings: list[str], size: int) -> bytes:
    """A JSON object of exactly `size` bytes: one string field padded, the rest as in the example.

    Otherwise valid, so a rejection says the size limit works, not that the shape was wrong.
    """
    padded = strings[0] if strings else "gonogo_padding"
    empty = len(_encoded({**fields, padded: ""}))
    return _encoded({**fields, padded: "A" * max(0, size - empty)})


def _encoded(value: Any) -> bytes:
    """JSON as UTF-8, but a lone surrogate, which UTF-8 cannot hold, written as its `\\ud800`
    escape: what a hostile client sends, and what a parser decodes into an unencodable string."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _without(fields: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if key != name}


def _with_query(url: str, params: list[tuple[str, str]]) -> str:
    """`url` with its query replaced; a lone surrogate goes out as its raw bytes, %ED%A0%80."""
    query = urlencode(params, quote_via=quote, safe="", errors="surrogatepass")
    return urlunsplit(urlsplit(url)._replace(query=query))


def _unknown_path(url: str, run_id: str) -> str:
    parts = urlsplit(url)
    path = f"{parts.path.rstrip('/')}/gonogo-no-such-path-{run_id}"
    return urlunsplit(parts._replace(path=path))


# What frameworks print when debug mode is on or an error escapes: source paths, stack frames,
# SQL errors. Each says how the service is built and where to hit it next.
DEBUG_MARKERS: Mapping[str, re.Pattern[str]] = {
    "Python traceback": re.compile(r"Traceback \(most recent call last\)"),
    "Python stack frame": re.compile(r'File "[^"\n]+", line \d+'),
    "Werkzeug debugger": re.compile(r"Werkzeug Debugger|__debugger__"),
    "Django debug page": re.compile(
        r"You(?:'|&#x27;|&#39;)re seeing this error because you have <code>DEBUG = True"
    ),
    "Starlette/FastAPI source path": re.compile(r"(?:starlette|fastapi)/[\w/]+\.py"),
    "Jinja2 exception": re.compile(r"jinja2\.exceptions"),
    "Java stack frame": re.compile(r"at [a-z]+\.[\w.$]+\(\w+\.java:\d+\)"),
    "Node.js stack frame": re.compile(
        r"at Object\.<anonymous>|^\s+at [^\n]* \(/[^\n()]*\.js:\d+:\d+\)", re.MULTILINE
    ),
    "PHP fatal error": re.compile(r"Fatal error(?:</b>)?:[^\n]* on line (?:<b>)?\d+"),
    "stack trace": re.compile(r"Stack trace:"),
    "Ruby backtrace": re.compile(r"\.rb:\d+:in [`']"),
    "Go panic": re.compile(r"goroutine \d+ \[running\]"),
    ".NET stack frame": re.compile(r"\bat System\.\w"),
    "PostgreSQL error": re.compile(r"psycopg2?\.errors"),
    "SQLSTATE error": re.compile(r"SQLSTATE\["),
    "MySQL syntax error": re.compile(r"You have an error in your SQL syntax"),
    "Oracle error": re.compile(r"\bORA-\d{5}\b"),
}


def debug_output(body: bytes) -> str | None:
    """The first debug marker in the body's first 256 KiB, with 120 characters around it."""
    text = body[:DEBUG_SCAN_BYTES].decode("utf-8", errors="replace")
    for name, pattern in DEBUG_MARKERS.items():
        match = pattern.search(text)
        if match:
            start = max(0, match.start() - 40)
            excerpt = " ".join(text[start : start + 120].split())
            return f"{name}: {excerpt}"
    return None


def rejected_cleanly(status: int, accept: list[int] | None) -> bool:
    """The status is one of `accept`, or any 4xx when none are given."""
    return status in accept if accept is not None else 400 <= status <= 499


def answered_cleanly(case: BadCase, status: int, entry: BadInput) -> bool:
    """Rejected cleanly; hostile text in a declared free-text field may also be accepted, as
    long as it is not a 5xx: a message may well quote `<script>`, it must only never crash."""
    if case.text_in is not None and case.text_in in entry.free_text:
        return status < 500
    return rejected_cleanly(status, entry.accept)
