"""Safe YAML reading that refuses what `yaml.safe_load` lets slip: duplicate keys, huge files.

A duplicate key silently drops the first value, and a dropped expectation is a GO nobody
earned, so it is an error here. Values tagged `!secret` are collected for redaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gonogo.errors import EnvironmentFileError

__all__ = ["MAX_FILE_BYTES", "read_yaml"]

MAX_FILE_BYTES = 1_048_576


class _Loader(yaml.SafeLoader):
    """SafeLoader that records `!secret` values and rejects duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.secrets: set[str] = set()

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
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


def _construct_secret(loader: _Loader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!secret applies to a single value, not a list or mapping", node.start_mark
        )
    value = str(loader.construct_scalar(node))
    loader.secrets.add(value)
    return value


_Loader.add_constructor("!secret", _construct_secret)


def read_yaml(path: Path) -> tuple[Any, set[str]]:
    """Parse `path` safely; returns the document and the values tagged `!secret`."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise EnvironmentFileError(
                f"{path}: file is {size} bytes, expected at most {MAX_FILE_BYTES}"
            )
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise EnvironmentFileError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise EnvironmentFileError(
            f"{path}: expected UTF-8 text, found byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start}"
        ) from None
    except OSError as exc:
        raise EnvironmentFileError(f"{path}: cannot read: {exc.strerror}") from None
    loader = _Loader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise EnvironmentFileError(_describe_yaml_error(path, exc)) from None
    except yaml.YAMLError as exc:
        raise EnvironmentFileError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return document, loader.secrets


def _describe_yaml_error(path: Path, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context and exc.context != problem else ""
    return f"{where}: YAML syntax error: {problem}{context}"
