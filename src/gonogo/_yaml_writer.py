"""YAML for people: comments, short mappings on one line, keys in the order given.

PyYAML writes data, not documents: it drops comments and spreads `{status: 200}` over two
lines. Environment files written by `gonogo snapshot` are meant to be read and edited, so
this writer keeps comments beside the values they explain and lets PyYAML quote scalars.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["Commented", "Variable", "plain", "render"]

WIDTH = 96
_INDENT = "  "


class Variable(str):
    """A `${NAME}` placeholder: written as it is, where any other `$` is doubled (`$$` is a
    literal `$` in an environment file)."""

    __slots__ = ()


@dataclass(frozen=True)
class Commented:
    """A value with comment lines above its key (or list item) and an optional end-of-line
    comment."""

    value: Any
    above: tuple[str, ...] = ()
    after: str = ""


def render(document: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The document as YAML text; top-level sections are written as blocks, set apart by a
    blank line, and nested values that fit on a line are written on one."""
    lines = _comments(header, "")
    for index, (key, value) in enumerate(document.items()):
        above = value.above if isinstance(value, Commented) else ()
        if index and (above or not _is_scalar(_value(value))):
            lines.append("")
        lines += _entry(key, value, "", max_depth=0)
    return "\n".join(lines) + "\n"


def plain(node: Any) -> Any:
    """The data without comments, as `yaml.safe_load` of the rendered text gives it back
    (before variables are substituted: a written `$` is `$$`)."""
    node = _value(node)
    if isinstance(node, Mapping):
        return {plain(key): plain(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [plain(item) for item in node]
    if isinstance(node, Variable):
        return str(node)
    if isinstance(node, str):
        return node.replace("$", "$$")
    return node


def _entry(key: Any, node: Any, indent: str, *, max_depth: int = 2) -> list[str]:
    above, after, value = _parts(node)
    lines = _comments(above, indent)
    head = f"{indent}{_scalar(key)}:"
    flow = _flow(value, len(head) + 1, after, max_depth)
    if flow is not None:
        return [*lines, _ended(f"{head} {flow}", after)]
    lines.append(_ended(head, after))
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            lines += _entry(child_key, child, indent + _INDENT)
    else:
        for item in value:
            lines += _item(item, indent + _INDENT)
    return lines


def _item(node: Any, indent: str) -> list[str]:
    above, after, value = _parts(node)
    lines = _comments(above, indent)
    flow = _flow(value, len(indent) + 2, after, max_depth=1)
    if flow is not None:
        return [*lines, _ended(f"{indent}- {flow}", after)]
    if isinstance(value, Mapping):
        inner = indent + "  "
        children = [line for key, child in value.items() for line in _entry(key, child, inner)]
        first = children[0][len(inner) :]
        return [*lines, _ended(f"{indent}- {first}", after), *children[1:]]
    nested = [line for child in value for line in _item(child, indent + _INDENT)]
    return [*lines, _ended(f"{indent}-", after), *nested]


def _flow(value: Any, used: int, after: str, max_depth: int) -> str | None:
    """One line for scalars, empty collections and small comment-free ones that fit."""
    if _is_scalar(value):
        return _scalar(value)
    if value and (_has_comments(value) or _depth(value) > max_depth):
        return None
    text = yaml.safe_dump(
        plain(value), default_flow_style=True, sort_keys=False, width=1 << 30, allow_unicode=True
    ).strip()
    room = WIDTH - used - (len(after) + 4 if after else 0)
    return text if not value or len(text) <= room else None


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(plain(value), default_flow_style=True, width=1 << 30, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _parts(node: Any) -> tuple[tuple[str, ...], str, Any]:
    if isinstance(node, Commented):
        return node.above, node.after, node.value
    return (), "", node


def _value(node: Any) -> Any:
    return node.value if isinstance(node, Commented) else node


def _children(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, Mapping) else list(value)


def _has_comments(value: Any) -> bool:
    if isinstance(value, Commented):
        return True
    if isinstance(value, Mapping | list | tuple):
        return any(_has_comments(child) for child in _children(value))
    return False


def _depth(value: Any) -> int:
    if _is_scalar(value):
        return 0
    return 1 + max((_depth(_value(child)) for child in _children(value)), default=0)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list | tuple)


def _ended(line: str, after: str) -> str:
    return f"{line}  # {after}" if after else line


def _comments(lines: Sequence[str], indent: str) -> list[str]:
    """Comment lines, each wrapped to the width (a long one continues on the next line)."""
    out = []
    for text in lines:
        wrapped = textwrap.wrap(text, WIDTH - len(indent) - 2, break_on_hyphens=False)
        out += [f"{indent}# {part}" for part in wrapped] or [f"{indent}#"]
    return out
