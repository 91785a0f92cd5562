"""`gonogo history`: what the gate decided over time, which checks flip, how the KPIs moved;
and `gonogo history tag`, which names a run as a baseline for later runs to be held to."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from gonogo.errors import GonogoError
from gonogo.history import History

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
DEFAULT_FILE = Path("reports/history.sqlite")
_LETTERS = {"GO": "G", "NO-GO": "N", "ROLLBACK": "R"}
_BLOCKS = "▁▂▃▄▅▆▇█"
_ASCII_BLOCKS = "_.-=+*#"  # for a terminal that cannot show the blocks
# The trend's KPIs: key, label, and how a value reads.
_KPIS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("p95_ms", "p95", lambda value: f"{value:.1f} ms"),
    ("rps", "throughput", lambda value: f"{value:.1f}/s"),
    ("error_rate", "error rate", lambda value: f"{value * 100:.2f} %"),
)


def main(argv: Sequence[str]) -> int:
    """Run `gonogo history [tag]`; 0, or 1 when the file or the run cannot be found."""
    args = list(argv)
    try:
        if args[:1] == ["tag"]:
            return _tag(_tag_parser().parse_args(args[1:]))
        return _show(_parser().parse_args(args))
    except (GonogoError, KeyError, ValueError) as exc:
        # A KeyError's str() quotes its message; the message is meant to be read as it is.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"gonogo history: {message}", file=sys.stderr)
        return EXIT_ERROR


def _show(options: argparse.Namespace) -> int:
    path = _existing(options.file)
    with History.open(path) as history:
        known = history.environments()
        if options.env is not None and options.env not in known:
            raise KeyError(
                f"no runs of environment {options.env!r} in {path}; runs recorded for:"
                f" {', '.join(known) or 'none yet'}"
            )
        names = known if options.env is None else [options.env]
        trends = [history.trend(name, options.limit) for name in names]
    if options.json:
        print(json.dumps(trends, indent=2))
    elif not trends:
        print(f"{path}: no runs recorded yet")
    else:
        print("\n\n".join(_render(trend, _blocks()) for trend in trends))
    return EXIT_OK


def _tag(options: argparse.Namespace) -> int:
    path = _existing(options.file)
    with History.open(path) as history:
        history.tag(options.run_id, options.name)
        environment = history.run(options.run_id).environment
    print(
        f"run {options.run_id} of {environment} tagged {options.name!r}; an environment file's"
        f" `baseline: {{against: {options.name}}}` compares later runs with it"
    )
    return EXIT_OK


def _existing(file: Path) -> Path:
    """Listing or tagging never creates a history: a missing file is a wrong path."""
    path = file.resolve()
    if not path.is_file():
        raise GonogoError(
            f"no history file at {path}: expected the SQLite file gonogo writes after each"
            " run (reports/history.sqlite unless configured otherwise); --file PATH names it"
        )
    return path


def _render(trend: dict[str, Any], blocks: str) -> str:
    runs = trend["runs"]
    counts = ", ".join(f"{count} {decision}" for decision, count in trend["decisions"].items())
    strip = "".join(_LETTERS.get(run["decision"], "?") for run in runs)
    lines = [
        f"{trend['environment']}: last {len(runs)} run(s), {counts}",
        f"  decisions, oldest first: {strip}",
        "",
        *_table(runs),
        "",
    ]
    if trend["flaky"]:
        lines.append("  flaky checks (flipped between passed and not passed at least twice):")
        width = max(len(check["id"]) for check in trend["flaky"])
        lines += [
            f"    {check['id']:<{width}}  {check['flips']} flips in {check['runs']} runs,"
            f" last {check['last_outcome']}"
            for check in trend["flaky"]
        ]
    else:
        lines.append("  flaky checks: none")
    measured = [run["kpis"] for run in runs if run["kpis"] is not None]
    if measured:
        lines.append(f"  load KPIs over the {len(measured)} run(s) with a load stage:")
        for kpi, label, show in _KPIS:
            values = [kpis[kpi] for kpis in measured]
            lines.append(
                f"    {label:<10}  {_sparkline(values, blocks)}  {show(values[0])} -> "
                f"{show(values[-1])}"
            )
    else:
        lines.append("  load KPIs: no load stage in these runs")
    return "\n".join(lines)


def _table(runs: list[dict[str, Any]]) -> list[str]:
    header = ("run", "started", "decision", "duration", "not passed", "p95", "rps", "errors")
    rows = [header] + [
        (
            str(run["run_id"]),
            _when(run["started_at"]),
            run["decision"],
            f"{run['duration_s']:.1f} s",
            str(run["not_passed"]),
            *(
                ("-", "-", "-")
                if run["kpis"] is None
                else (show(run["kpis"][kpi]) for kpi, _, show in _KPIS)
            ),
        )
        for run in runs
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    left = {1, 2}  # text columns; numbers align right
    return [
        "  "
        + "  ".join(
            cell.ljust(width) if column in left else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _when(started_at: str) -> str:
    try:
        return datetime.fromisoformat(started_at).isoformat(sep=" ", timespec="seconds")
    except ValueError:
        return started_at


def _sparkline(values: list[float], blocks: str) -> str:
    low, high = min(values), max(values)
    if high == low:
        return blocks[len(blocks) // 2] * len(values)
    top = len(blocks) - 1
    return "".join(blocks[round((value - low) / (high - low) * top)] for value in values)


def _blocks() -> str:
    try:
        _BLOCKS.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return _ASCII_BLOCKS
    return _BLOCKS


def _limit(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of runs >= 1, found {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gonogo history",
        description="The gate's decisions over time, per environment: flaky checks and load KPIs.",
        epilog="gonogo history tag RUN_ID NAME  names a run as a baseline "
        "(an environment file's `baseline: {against: NAME}`).",
    )
    _file_option(parser)
    parser.add_argument("--env", metavar="NAME", help="only this environment")
    parser.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="the latest N runs (default 20)"
    )
    parser.add_argument("--json", action="store_true", help="print the trends as JSON")
    return parser


def _tag_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gonogo history tag",
        description="Name a run as a baseline of its environment; the name moves if in use.",
    )
    parser.add_argument("run_id", type=int, metavar="RUN_ID")
    parser.add_argument("name", metavar="NAME")
    _file_option(parser)
    return parser


def _file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file",
        type=Path,
        default=DEFAULT_FILE,
        metavar="PATH",
        help=f"the history file (default {DEFAULT_FILE}, from the current directory)",
    )
