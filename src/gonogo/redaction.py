"""Masks secret values in any text before it reaches a terminal, a log or a report file."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Redactor", "credentials_in", "redact_log_records"]

MASK = "***"
MIN_SECRET_LENGTH = 4
_CREDENTIAL_KEY = re.compile(
    r"(token|secret|passw(or)?d|api[-_]?key|credentials?|session(_?id)?)$", re.IGNORECASE
)
# What a URL may carry unencoded (RFC 3986 sub-delims, ":", "@", "/", "?"): httpx leaves these
# in a query string, where quote(safe="") would have encoded them.
_URL_SAFE = "!$&'()*+,;=:@/?"
# JSON inside an HTML page (Jinja's tojson, as in Locust's report) escapes these too.
_HTML_SAFE_JSON = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"})
# A base64 run this short could be anything; shorter secrets are masked in their own spellings.
_BASE64_MIN_BYTES = 6
# Where gonogo, pytest (saferepr) and Python cut a long text: a secret may end at one.
_CUT = re.compile(r"(\.\.\.|\u2026)")
# pprint (pytest -vv -l) breaks a long string after whitespace into adjacent literals.
_WRAP = r"""(?:['"]\n[ ]*['"])?"""


class Redactor:
    """Replaces every known secret with `***`, in every spelling a client, a log, a report or
    pytest gives it: URL-, JSON-, HTML- and repr-escaped (also a repr pprint wrapped over lines,
    as `pytest -vv -l` shows locals), in base64 (Basic auth, a token wrapping it), and cut
    short by an excerpt ("abc..."), whose head alone would otherwise give most of it away.

    Escaped spellings matter because a secret sent in a query string or echoed in a JSON
    error body no longer looks like itself. Values shorter than MIN_SECRET_LENGTH are not
    masked: masking "1" or "on" would garble every message and hide nothing worth hiding.
    Base64 is masked for secrets of 8 bytes or more, except the character or two at each end
    that it shares with its neighbours.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._spellings: list[str] = []
        self._wrapped: dict[str, re.Pattern[str]] = {}
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Learn secrets met during the run, such as a token a login just issued."""
        spellings = set(self._spellings)
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                spellings |= _spellings(secret)
                wrapped = _wrapped_repr(secret)
                if wrapped is not None:
                    self._wrapped[secret] = wrapped
        # Longest first, so a secret containing another is masked whole.
        self._spellings = sorted(spellings, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._spellings)

    def redact(self, text: str) -> str:
        for spelling in self._spellings:
            if spelling in text:
                text = text.replace(spelling, MASK)
        for pattern in self._wrapped.values():
            text = pattern.sub(MASK, text)
        return self._mask_cut(text)

    def contains_secret(self, text: str) -> bool:
        return self.redact(text) != text

    def redact_data(self, data: Any) -> Any:
        """A copy of JSON-like data with every string (keys too) redacted: records travel to
        a history file and a webhook as data, not as one text."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(item) for item in data]
        return data

    def _mask_cut(self, text: str) -> str:
        """A secret's head just before a cut ("...", "…"), its tail just after one."""
        parts = _CUT.split(text)
        if len(parts) == 1:
            return text
        for index in range(0, len(parts), 2):  # text at even indices, cut marks between
            piece = parts[index]
            if index + 1 < len(parts):
                head = max((_head_length(piece, s) for s in self._spellings), default=0)
                piece = piece[: len(piece) - head] + MASK if head else piece
            if index > 0:
                tail = max((_tail_length(piece, s) for s in self._spellings), default=0)
                piece = MASK + piece[tail:] if tail else piece
            parts[index] = piece
        return "".join(parts)


def _spellings(secret: str) -> set[str]:
    found = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote(secret, safe=_URL_SAFE),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].translate(_HTML_SAFE_JSON),
        html.escape(secret),
        html.escape(secret, quote=False),
        repr(secret)[1:-1],
    }
    data = secret.encode()
    for start in range(3):  # the secret at each offset of base64's 3-byte groups
        whole = data[start : len(data) - (len(data) - start) % 3]
        if len(whole) >= _BASE64_MIN_BYTES:
            found |= {base64.b64encode(whole).decode(), base64.urlsafe_b64encode(whole).decode()}
    return {spelling for spelling in found if len(spelling) >= MIN_SECRET_LENGTH}


def _wrapped_repr(secret: str) -> re.Pattern[str] | None:
    """The repr of `secret` as pprint may break it after any whitespace, each piece its own
    literal on its own line; None when it has no whitespace to break at."""
    pieces = re.findall(r"\S*\s*", secret)[:-1]
    if len(pieces) < 2:
        return None
    return re.compile(_WRAP.join("".join(map(_repr_char, piece)) for piece in pieces))


def _repr_char(char: str) -> str:
    """A piece's quotes are escaped or not depending on the piece: either will do."""
    if char in "'\"":
        return "\\\\?" + char
    return re.escape(repr(char)[1:-1])


def _head_length(piece: str, spelling: str) -> int:
    """How many characters at the end of `piece` begin `spelling`, if enough to matter."""
    window = piece[-(len(spelling) - 1) :]
    start = window.find(spelling[0])
    while start != -1 and len(window) - start >= MIN_SECRET_LENGTH:
        if spelling.startswith(window[start:]):
            return len(window) - start
        start = window.find(spelling[0], start + 1)
    return 0


def _tail_length(piece: str, spelling: str) -> int:
    """How many characters at the start of `piece` end `spelling`, if enough to matter."""
    window = piece[: len(spelling) - 1]
    end = window.rfind(spelling[-1])
    while end + 1 >= MIN_SECRET_LENGTH:
        if spelling.endswith(window[: end + 1]):
            return end + 1
        end = window.rfind(spelling[-1], 0, end)
    return 0


def redact_log_records(redactor: Redactor) -> Callable[[], None]:
    """Mask every log record as it is made, message and traceback, so that no handler (pytest's
    live log, `--log-file`, a library's own) ever holds a secret: httpx logs each URL it
    requests, query string and all. Returns the undo, for `config.add_cleanup`."""
    previous = logging.getLogRecordFactory()

    def masked(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if redactor:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit: the handler reports it, as ever
                return record
            record.msg, record.args = redactor.redact(message), None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = redactor.redact(_FORMATTER.formatException(record.exc_info))
            if record.stack_info:
                record.stack_info = redactor.redact(record.stack_info)
        return record

    logging.setLogRecordFactory(masked)

    def undo() -> None:
        if logging.getLogRecordFactory() is masked:
            logging.setLogRecordFactory(previous)

    return undo


_FORMATTER = logging.Formatter()


def credentials_in(document: Any) -> set[str]:
    """String values under credential-like keys (`access_token`, `password`, `api_key`) of a
    JSON document, so an issued token is masked wherever the response is shown."""
    found: set[str] = set()
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and _CREDENTIAL_KEY.search(str(key)):
                    found.add(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found
