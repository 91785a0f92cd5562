"""Finding, reading and validating environment files: `--env NAME` to a checked `Environment`.

The order is fixed: read each file of the `extends` chain safely, substitute variables per
file (so an error names the file that holds the key), merge base-first, then validate once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gonogo._interpolate import interpolate
from gonogo._validation_errors import describe_validation_error
from gonogo._yaml import read_yaml
from gonogo.environment import SENSITIVE_HEADERS, Environment
from gonogo.environment_gate import Watch
from gonogo.errors import EnvironmentFileError
from gonogo.redaction import Redactor

__all__ = [
    "LoadedEnvironment",
    "available_environments",
    "load_environment",
    "resolve_environment_path",
    "with_watch",
]

MAX_EXTENDS_DEPTH = 10


@dataclass(frozen=True)
class LoadedEnvironment:
    """A validated environment with the file it came from and the redactor for its secrets."""

    environment: Environment
    path: Path
    redactor: Redactor


def with_watch(loaded: LoadedEnvironment, duration_s: float) -> LoadedEnvironment:
    """The environment with its watch window lasting `duration_s` (`--watch`); without a watch
    section, the default entries (`Environment.watch_entries`) are watched every 10 s."""
    environment = loaded.environment
    if environment.watch is not None:
        watch = environment.watch.model_copy(update={"duration": duration_s})
    else:
        entries = environment.watch_entries()
        if not entries:
            raise EnvironmentFileError(
                f"{loaded.path}: nothing to watch: expected a watch section, a wait check, or "
                "a metrics query with rollback: true"
            )
        watch = Watch(duration=duration_s, checks=entries)
    return replace(loaded, environment=environment.model_copy(update={"watch": watch}))


def available_environments(directory: Path) -> list[str]:
    """Names `--env` accepts in `directory`; files starting with `_` are bases, not targets."""
    if not directory.is_dir():
        return []
    return sorted(
        p.stem for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.stem[0] != "_"
    )


def resolve_environment_path(value: str, directory: Path) -> Path:
    """`staging` -> `<directory>/staging.yaml`; a value with a suffix or a slash is a path."""
    candidate = Path(value)
    if candidate.suffix in (".yaml", ".yml") or "/" in value:
        if _is_file(candidate, f"--env {value}"):
            return candidate.resolve()
        raise EnvironmentFileError(f"--env {value}: no such file")
    for suffix in (".yaml", ".yml"):
        path = directory / f"{value}{suffix}"
        if _is_file(path, f"--env {value}"):
            return path.resolve()
    names = ", ".join(available_environments(directory)) or "none"
    raise EnvironmentFileError(
        f"--env {value}: no environment file {directory / (value + '.yaml')}; "
        f"available in {directory}: {names}"
    )


def load_environment(path: Path, environ: Mapping[str, str]) -> LoadedEnvironment:
    """Read, interpolate, merge and validate `path`; every error names its file and key path."""
    chain = _read_chain(path)
    public = frozenset(
        name for _, document, _ in chain for name in _string_list(document, "public_variables")
    )
    secrets: set[str] = set()
    merged: dict[str, Any] = {}
    for source, document, tagged in chain:
        secrets |= tagged
        resolved = interpolate(document, environ, public=public, source=source, secrets=secrets)
        merged = _merge(merged, resolved)
    merged.setdefault("name", path.stem)
    redactor = Redactor(secrets)
    try:
        environment = Environment.model_validate(merged, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise EnvironmentFileError(describe_validation_error(exc, path, redactor, merged)) from None
    redactor = Redactor(secrets | _literal_secrets(environment))
    return LoadedEnvironment(environment=environment, path=path, redactor=redactor)


def _read_chain(path: Path) -> list[tuple[Path, dict[str, Any], set[str]]]:
    """The file and its bases, base first, with `extends` removed."""
    chain: list[tuple[Path, dict[str, Any], set[str]]] = []
    seen: list[Path] = []
    current: Path | None = path.resolve()
    while current is not None:
        if current in seen:
            cycle = " -> ".join(str(p) for p in [*seen, current])
            raise EnvironmentFileError(f"{seen[-1]}: extends: cycle {cycle}")
        if len(seen) >= MAX_EXTENDS_DEPTH:
            raise EnvironmentFileError(
                f"{seen[-1]}: extends: more than {MAX_EXTENDS_DEPTH} levels deep"
            )
        document, tagged = read_yaml(current)
        if document is None:
            raise EnvironmentFileError(
                f"{current}: file is empty, expected a mapping of sections (name, smoke, ...)"
            )
        if not isinstance(document, dict):
            raise EnvironmentFileError(
                f"{current}: expected a mapping of sections at the top level, "
                f"got {type(document).__name__}"
            )
        seen.append(current)
        parent = document.pop("extends", None)
        chain.insert(0, (current, document, tagged))
        current = _extends_target(current, parent)
    return chain


def _extends_target(source: Path, value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise EnvironmentFileError(f"{source}: extends: expected a file name, got {value!r}")
    target = (source.parent / value).resolve()
    if not _is_file(target, f"{source}: extends"):
        raise EnvironmentFileError(f"{source}: extends: no such file {target}")
    return target


def _is_file(path: Path, what: str) -> bool:
    """Whether `path` is a regular file; a directory or an unusable name is an error that
    says so, rather than "no such file" or a traceback."""
    try:
        if path.is_dir():
            raise EnvironmentFileError(f"{what}: {path} is a directory, expected a YAML file")
        return path.is_file()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise EnvironmentFileError(f"{what}: {str(path)[:120]!r}: {exc.strerror}") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else, lists included, is replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _string_list(document: dict[str, Any], key: str) -> list[str]:
    value = document.get(key, [])
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _literal_secrets(environment: Environment) -> set[str]:
    """Credentials written into the file rather than passed as ${VAR}: masked all the same.
    Every `headers` mapping counts, wherever it sits (smoke, flows, load, metrics, webhooks,
    edge requests), so a section added later is covered without being listed here."""
    found = {
        value
        for mapping in _header_mappings(environment.model_dump())
        for header, value in mapping.items()
        if isinstance(header, str) and isinstance(value, str)
        if header.lower() in SENSITIVE_HEADERS
    }
    found |= {d.secret for d in environment.dependencies if d.secret}
    return found


def _header_mappings(data: Any) -> Iterator[dict[Any, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "headers" and isinstance(value, dict):
                yield value
            else:
                yield from _header_mappings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _header_mappings(item)
