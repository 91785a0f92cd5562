"""`gonogo diff`: where two environments' deployments differ (TLS, security headers, ports,
containers), or where one environment now differs from its last run in the history.

Proving staging matches production before a promotion and asking what changed since the gate
last looked are the same question: two fingerprints (see gonogo.fingerprint), compared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from gonogo.drift import aspects, differences, observe, render
from gonogo.environment_file import LoadedEnvironment, load_environment, resolve_environment_path
from gonogo.errors import GonogoError
from gonogo.fingerprint import AREAS, area_of
from gonogo.history import History

__all__ = ["main"]

EXIT_SAME = 0
EXIT_DIFFERENT = 1
EXIT_INVALID = 4  # as `gonogo validate` and pytest's usage error
DEFAULT_HISTORY = Path("reports/history.sqlite")
DEFAULT_ENVIRONMENTS = Path("environments")


class _UsageError(GonogoError):
    """The command line asks for something `gonogo diff` does not do."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


@dataclass(frozen=True)
class _Side:
    """One column of the comparison: what it is called and its fingerprint, both masked."""

    name: str
    fingerprint: dict[str, str]


def main(argv: Sequence[str]) -> int:
    """Run `gonogo diff`; 0 when nothing differs, 1 when something does, 4 when the command
    line, an environment file or the history cannot be used."""
    parser = _parser()
    try:
        options = parser.parse_args(list(argv))
        compare = _against_last if options.last else _two_environments
        left, right, areas = compare(options)
    except GonogoError as exc:
        if isinstance(exc, _UsageError):
            parser.print_usage(sys.stderr)
        print(f"gonogo diff: {exc}", file=sys.stderr)
        return EXIT_INVALID
    rows = differences(left.fingerprint, right.fingerprint, areas=areas)
    compared = len(aspects(left.fingerprint, right.fingerprint, areas=areas))
    if options.json:
        document = {
            "left": left.name,
            "right": right.name,
            "differences": [
                {"key": row.key, "area": row.area, "left": row.left, "right": row.right}
                for row in rows
            ],
            "compared": compared,
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        print(render(rows, left.name, right.name, compared=compared, width=width))
    return EXIT_DIFFERENT if rows else EXIT_SAME


def _two_environments(options: argparse.Namespace) -> tuple[_Side, _Side, list[str]]:
    if options.right is None:
        raise _UsageError(
            f"expected two environments to compare (LEFT RIGHT), got only {options.left}; "
            "or compare it with its last recorded run: --last"
        )
    if options.history is not None:
        raise _UsageError("--history names where --last looks; it has no use without --last")
    areas = options.area or list(AREAS)
    loaded = [_load(value, options) for value in (options.left, options.right)]
    mask = _masking(loaded)
    names = [mask(each.environment.name) for each in loaded]
    if names[0] == names[1]:  # two files of one environment: tell them apart by where they are
        names = [mask(value) for value in (options.left, options.right)]
    if not any(_entries(each, areas) for each in loaded):
        raise GonogoError(
            f"nothing to compare: neither {names[0]} nor {names[1]} declares "
            f"{_slashed(areas)} entries"
        )
    for name, each in zip(names, loaded, strict=True):
        _progress(name, each, areas)
    with ThreadPoolExecutor(2, thread_name_prefix="gonogo-diff") as pool:
        observing = [
            pool.submit(observe, each.environment, areas=areas, timeout_s=options.timeout)
            for each in loaded
        ]
        left, right = (_masked(future.result(), mask) for future in observing)
    return _Side(names[0], left), _Side(names[1], right), areas


def _against_last(options: argparse.Namespace) -> tuple[_Side, _Side, list[str]]:
    if options.right is not None:
        raise _UsageError(
            f"--last compares one environment with its last recorded run; got two "
            f"({options.left}, {options.right})"
        )
    loaded = _load(options.left, options)
    mask = _masking([loaded])
    name = loaded.environment.name
    path = (options.history or DEFAULT_HISTORY).resolve()
    if not path.is_file():
        raise GonogoError(
            f"no history file at {path}: expected the SQLite file a gate run writes "
            f"(reports/history.sqlite unless configured otherwise); --history FILE names it"
        )
    with History.open(path) as history:
        runs = history.runs(name, limit=1)
    if not runs:
        raise GonogoError(
            f"{path}: no run of {name} recorded yet; run the gate first (pytest --env {name})"
        )
    run = runs[0]
    started = _when(run.started_at)
    recorded = run.record.get("fingerprint")
    if not isinstance(recorded, dict) or not recorded:
        raise GonogoError(
            f"{path}: run {run.run_id} of {name} ({started}) recorded no fingerprint; it ran "
            "before gonogo recorded fingerprints, or with no tls/headers/ports/containers checks"
        )
    present = {area_of(str(key)) for key in recorded}
    areas = [area for area in options.area or AREAS if area in present]
    if not areas:
        raise GonogoError(
            f"{path}: run {run.run_id} of {name} ({started}) recorded {_slashed(sorted(present))} "
            f"only; expected --area to name one of those"
        )
    _progress(mask(name), loaded, areas)
    now = observe(loaded.environment, areas=areas, timeout_s=options.timeout)
    then = {str(key): str(value) for key, value in recorded.items()}
    return (
        _Side(mask(f"{name} run {run.run_id} ({started})"), _masked(then, mask)),
        _Side(mask(f"{name} now"), _masked(now, mask)),
        areas,
    )


def _load(value: str, options: argparse.Namespace) -> LoadedEnvironment:
    path = resolve_environment_path(value, options.environments_dir)
    return load_environment(path, os.environ)


def _masking(loaded: list[LoadedEnvironment]) -> Callable[[str], str]:
    """Every environment's redactor, applied to whatever is shown from either side: a value
    one environment holds secret is masked wherever it appears."""

    def mask(text: str) -> str:
        for each in loaded:
            text = each.redactor.redact(text)
        return text

    return mask


def _masked(fingerprint: dict[str, str], mask: Callable[[str], str]) -> dict[str, str]:
    return {mask(key): mask(value) for key, value in fingerprint.items()}


def _entries(loaded: LoadedEnvironment, areas: list[str]) -> int:
    # The areas are named after the environment file's sections.
    return sum(len(getattr(loaded.environment, area)) for area in areas)


def _progress(name: str, loaded: LoadedEnvironment, areas: list[str]) -> None:
    count = _entries(loaded, areas)
    print(f"probing {name} ({count} entr{'y' if count == 1 else 'ies'})...", file=sys.stderr)


def _slashed(areas: Sequence[str]) -> str:
    return "/".join(areas)


def _when(started_at: str) -> str:
    try:
        return datetime.fromisoformat(started_at).isoformat(timespec="seconds")
    except ValueError:
        return started_at


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"expected seconds above 0 and up to 600, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gonogo diff",
        description="Probe two environments (TLS, security headers, ports, containers) and "
        "show side by side where they differ; or compare one environment now with its last "
        "run recorded in the history. Exit 0: no differences, 1: differences, 4: cannot run.",
    )
    parser.add_argument("left", metavar="LEFT", help="environment name or file")
    parser.add_argument(
        "right", metavar="RIGHT", nargs="?", help="environment name or file (not with --last)"
    )
    parser.add_argument(
        "--last",
        action="store_true",
        help="compare LEFT now with the fingerprint of its latest run in the history",
    )
    parser.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help=f"the history file --last reads (default {DEFAULT_HISTORY})",
    )
    parser.add_argument(
        "--environments-dir",
        type=Path,
        default=DEFAULT_ENVIRONMENTS,
        metavar="DIR",
        help=f"where environment names are looked up (default {DEFAULT_ENVIRONMENTS})",
    )
    parser.add_argument(
        "--area",
        action="append",
        choices=AREAS,
        help="compare only this area (repeatable; default all)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="per network operation, instead of each environment's defaults.timeout_s",
    )
    parser.add_argument("--json", action="store_true", help="print the differences as JSON")
    return parser
