"""Safe YAML reading that refuses what `yaml.safe_load` lets slip: duplicate keys, huge files,
alias bombs, deep nesting, and values PyYAML cannot build without a traceback.

A duplicate key silently drops the first value, and a dropped expectation is a GO nobody
earned, so it is an error here. Aliases are cheap to parse but every later walk (variable
substitution, validation) expands them, so nine levels of nine aliases (a "billion laughs")
would take minutes and gigabytes: values are counted as they are composed, aliases expanded,
and a document past the limit is refused before anything walks it. Tags that would build
Python objects are refused with the rest of the unknown tags. Values tagged `!secret` are
collected for redaction.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gonogo._interpolate import key_path
from gonogo.errors import EnvironmentFileError

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_VALUES", "read_yaml"]

MAX_FILE_BYTES = 1_048_576
MAX_VALUES = 100_000  # keys and values, each alias counted as what it stands for
MAX_DEPTH = 64  # far beyond any environment file, far below Python's recursion limit
_MERGE = "tag:yaml.org,2002:merge"
_STANDARD_TAG = "tag:yaml.org,2002:"
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

Where = tuple[str | int, ...]


class _Refused(yaml.MarkedYAMLError):
    """A document gonogo will not read (too big, too deep, a value it cannot build); the
    message names the key path, unlike a syntax error's."""

    def __init__(self, problem: str, mark: Any, where: Where | None = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.where = where


class _Loader(yaml.SafeLoader):
    """SafeLoader that records `!secret` values, rejects duplicate mapping keys, and bounds
    the document's size (aliases expanded) and depth while composing it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.secrets: set[str] = set()
        self._depth = 0
        self._path: list[str | int | None] = []
        self._sizes: dict[int, int] = {}  # id(node) -> values it stands for, aliases expanded
        self._written = 0
        # The keys as written, before merge keys (<<) splice other mappings' keys in.
        self._own_keys: dict[int, list[yaml.Node]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                f"nested more than {MAX_DEPTH} levels deep", event.start_mark, self._where()
            )
        self._depth += 1
        self._path.append(_step(index))
        try:
            node = super().compose_node(parent, index)
            if node is None:  # not for a well-formed event stream; PyYAML types it so
                return None
            if isinstance(event, yaml.AliasEvent):
                size = self._sizes.get(id(node))
                if size is None:
                    raise _Refused(
                        f"alias *{event.anchor} is used inside the value it names, which would "
                        "contain itself forever",
                        event.start_mark,
                        self._where(),
                    )
            else:
                size = self._measure(node)
            if size > MAX_VALUES:
                raise _Refused(self._too_big(size), node.start_mark, self._where())
        finally:
            self._path.pop()
            self._depth -= 1
        return node

    def _measure(self, node: yaml.Node) -> int:
        self._written += 1
        if self._written > MAX_VALUES:
            raise _Refused(
                f"more than {MAX_VALUES} keys and values in one file; an environment file "
                "this large was not written by hand: split it, or check what generated it",
                node.start_mark,
                self._where(),
            )
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
            self._own_keys[id(node)] = [key for key, _ in node.value if key.tag != _MERGE]
        size = 1 + sum(self._sizes[id(child)] for child in children)
        self._sizes[id(node)] = size
        return size

    def _too_big(self, size: int) -> str:
        if size > self._written:
            return (
                f"aliases (*name) expand this value to {size} values from the {self._written} "
                f"written so far, more than the {MAX_VALUES} allowed: an alias bomb "
                '("billion laughs")? Repeat fewer values, or share them with extends'
            )
        return f"{size} keys and values, more than the {MAX_VALUES} allowed in one file"

    def _where(self) -> Where:
        return tuple(step for step in self._path if step is not None)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node in self._own_keys.get(id(node), [key for key, _ in node.value]):
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise _Refused(
                    f"a key must be a single value, found a {type(key).__name__}",
                    key_node.start_mark,
                ) from None
            if key in seen:
                first = seen[key].start_mark
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first defined on line {first.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _step(index: Any) -> str | int | None:
    """The key path step PyYAML's `index` stands for: a list position, a key, or (while the
    key itself is composed) nothing."""
    if isinstance(index, int):
        return index
    if isinstance(index, yaml.ScalarNode):
        return str(index.value)
    return None if index is None else "?"


def _construct_secret(loader: _Loader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!secret applies to a single value, not a list or mapping", node.start_mark
        )
    value = str(loader.construct_scalar(node))
    loader.secrets.add(value)
    return value


def _construct_unknown(loader: _Loader, node: yaml.Node) -> Any:
    """Every tag SafeLoader has no constructor for, `!!python/...` included: never built."""
    if node.tag.startswith(_STANDARD_TAG + "python/"):
        why = "environment files are data, gonogo never builds Python objects (remove the tag)"
    else:
        why = "gonogo knows only !secret and YAML's standard tags (!!str, !!int...)"
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"could not determine a constructor for the tag {node.tag!r}: {why}",
        node.start_mark,
    )


def _guarded(construct: Callable[..., Any], what: str) -> Callable[[_Loader, yaml.Node], Any]:
    """PyYAML's constructor for a standard tag, its ValueError made a marked error: an
    impossible date (2024-02-30) or a 5000-digit number would otherwise be a traceback."""

    def guarded(loader: _Loader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError) as exc:
            detail = str(exc).split(";")[0]
            raise _Refused(f"not a valid {what}: {detail}", node.start_mark) from None

    return guarded


_Loader.add_constructor("!secret", _construct_secret)
_Loader.add_constructor(None, _construct_unknown)
_Loader.add_constructor(
    _STANDARD_TAG + "int", _guarded(yaml.SafeLoader.construct_yaml_int, "integer")
)
_Loader.add_constructor(
    _STANDARD_TAG + "timestamp",
    _guarded(yaml.SafeLoader.construct_yaml_timestamp, "date or time"),
)


def read_yaml(path: Path) -> tuple[Any, set[str]]:
    """Parse `path` safely; returns the document and the values tagged `!secret`."""
    text = _read_text(path)
    try:
        loader = _Loader(text)  # checks every character first
    except yaml.reader.ReaderError as exc:
        raise EnvironmentFileError(_describe_reader_error(path, text, exc)) from None
    root: yaml.Node | None = None
    try:
        root = loader.get_single_node()
        document = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        where = getattr(exc, "where", None)
        if where is None and root is not None and exc.problem_mark is not None:
            where = _path_to(root, exc.problem_mark.index)
        raise EnvironmentFileError(_describe_yaml_error(path, exc, where)) from None
    except yaml.YAMLError as exc:
        raise EnvironmentFileError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return document, loader.secrets


def _read_text(path: Path) -> str:
    """The file as text, read with a cap (a device or /proc file may claim to be empty)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise EnvironmentFileError(
                f"{path}: file is {size} bytes, expected at most {MAX_FILE_BYTES}"
            )
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise EnvironmentFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise EnvironmentFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise EnvironmentFileError(f"{path}: more than {MAX_FILE_BYTES} bytes, expected fewer")
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            raise EnvironmentFileError(
                f"{path}: file is {encoding} (it starts with the byte-order mark "
                f"{bom.hex(' ')}), expected UTF-8 text; save it as UTF-8"
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvironmentFileError(
            f"{path}: expected UTF-8 text, found byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start}"
        ) from None


def _path_to(root: yaml.Node, index: int) -> Where:
    """The key path of the deepest node that starts at `index` (where an error points)."""
    best: Where = ()
    stack: list[tuple[yaml.Node, Where]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.start_mark.index == index and len(where) >= len(best):
            best = where
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, (*where, number)) for number, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.start_mark.index == index and len(where) >= len(best):
                    best = where  # an error on a key belongs to its mapping
                step = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                stack.append((value, (*where, step)))
    return best


def _describe_yaml_error(path: Path, exc: yaml.MarkedYAMLError, where: Where | None) -> str:
    mark = exc.problem_mark or exc.context_mark
    location = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = exc.problem or "invalid YAML"
    if isinstance(exc, _Refused):
        return f"{location}: {key_path(where or ())}: {problem}"
    context = f" ({exc.context})" if exc.context and exc.context != problem else ""
    inside = f" (in {key_path(where)})" if where else ""
    return f"{location}: YAML syntax error: {problem}{context}{inside}"


def _describe_reader_error(path: Path, text: str, exc: yaml.reader.ReaderError) -> str:
    """A control character (a NUL byte, say) where YAML allows none, with its line."""
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    hint = "; a binary file, or UTF-16 without a byte-order mark?" if exc.character == 0 else ""
    return (
        f"{path}:{line}:{column}: YAML syntax error: unacceptable character "
        f"#x{exc.character:04x}: {exc.reason}{hint}"
    )
