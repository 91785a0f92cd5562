"""Masks secret values in any text before it reaches a terminal, a log or a report file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Redactor"]

MASK = "***"
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces every known secret, also in its URL- and JSON-escaped spellings, with `***`.

    Escaped spellings matter because a secret sent in a query string or echoed in a JSON
    error body no longer looks like itself. Values shorter than MIN_SECRET_LENGTH are not
    masked: masking "1" or "on" would garble every message and hide nothing worth hiding.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        spellings: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
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
