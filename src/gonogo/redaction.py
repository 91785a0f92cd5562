"""Masks secret values in any text before it reaches a terminal, a log or a report file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Redactor", "credentials_in"]

MASK = "***"
MIN_SECRET_LENGTH = 4
_CREDENTIAL_KEY = re.compile(
    r"(token|secret|passw(or)?d|api[-_]?key|credentials?|session(_?id)?)$", re.IGNORECASE
)


class Redactor:
    """Replaces every known secret, also in its URL- and JSON-escaped spellings, with `***`.

    Escaped spellings matter because a secret sent in a query string or echoed in a JSON
    error body no longer looks like itself. Values shorter than MIN_SECRET_LENGTH are not
    masked: masking "1" or "on" would garble every message and hide nothing worth hiding.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._spellings: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Learn secrets met during the run, such as a token a login just issued."""
        spellings = set(self._spellings)
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                spellings.update({secret, quote(secret, safe=""), json.dumps(secret)[1:-1]})
        # Longest first, so a secret containing another is masked whole.
        self._spellings = sorted(spellings, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._spellings)

    def redact(self, text: str) -> str:
        for spelling in self._spellings:
            if spelling in text:
                text = text.replace(spelling, MASK)
        return text

    def contains_secret(self, text: str) -> bool:
        return any(spelling in text for spelling in self._spellings)

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
