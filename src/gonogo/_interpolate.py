"""`${VAR}` and `${VAR:-default}` substitution in environment files, remembering what was secret.

Every value taken from the process environment is treated as a secret unless the file names
its variable under `public_variables`: a password pasted into CI settings must never reach a
report, while a port number may.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gonogo.errors import EnvironmentFileError

__all__ = ["interpolate", "key_path"]

_TOKEN = re.compile(r"\$\$|\$\{(?P<body>[^}]*)\}")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def key_path(parts: tuple[str | int, ...]) -> str:
    """Render a location as `smoke[2].expect.status`, the way error messages name keys."""
    out = ""
    for part in parts:
        if not isinstance(part, int) and not str(part).isprintable():
            part = repr(str(part))  # a key with a newline must not split the message
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def interpolate(
    document: Any,
    environ: Mapping[str, str],
    *,
    public: frozenset[str],
    source: Path,
    secrets: set[str],
) -> Any:
    """Return `document` with variables substituted; secret values are added to `secrets`."""

    def walk(node: Any, where: tuple[str | int, ...]) -> Any:
        if isinstance(node, str):
            return _substitute(node, where)
        if isinstance(node, list):
            return [walk(item, (*where, index)) for index, item in enumerate(node)]
        if isinstance(node, dict):
            # Keys too: a file path or a sysctl name may differ from one machine to the next.
            result: dict[Any, Any] = {}
            written: dict[Any, Any] = {}
            for key, value in node.items():
                name = walk(key, where)
                if name in result:  # two keys that substitute to one: a value would be lost
                    raise EnvironmentFileError(
                        f"{source}: {key_path(where)}: keys {written[name]!r} and {key!r} both "
                        f"become {name!r} once variables are substituted; one value would be lost"
                    )
                result[name], written[name] = walk(value, (*where, str(key))), key
            return result
        return node

    def _substitute(text: str, where: tuple[str | int, ...]) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            body = _BODY.fullmatch(match.group("body"))
            if body is None:
                raise EnvironmentFileError(
                    f"{source}: {key_path(where)}: malformed variable {match.group(0)!r}, "
                    "expected ${NAME} or ${NAME:-default}"
                )
            name, default = body.group("name"), body.group("default")
            if name in environ:
                value = environ[name]
                if name not in public and value:
                    secrets.add(value)
                return value
            if default is None:
                raise EnvironmentFileError(
                    f"{source}: {key_path(where)}: environment variable {name} is not set "
                    f"and has no default; set it, or write ${{{name}:-default}}"
                )
            return default

        result = _TOKEN.sub(replace, text)
        leftover = text.replace("$$", "").find("${")
        if leftover >= 0 and "}" not in text[leftover:]:
            raise EnvironmentFileError(
                f"{source}: {key_path(where)}: unclosed variable in {text!r}, expected ${{NAME}}"
            )
        return result

    return walk(document, ())
