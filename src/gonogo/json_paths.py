"""Dotted paths into JSON documents (`checks.redis.status`, `items.0.id`; `$` is the whole
document), for expectations."""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "ROOT", "lookup"]

ROOT = "$"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def lookup(document: Any, path: str) -> tuple[Any, str]:
    """The value at `path`, or MISSING and the part of the path that was not found."""
    if path == ROOT:
        return document, ""
    node = document
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING, ".".join(walked)
    return node, ""
