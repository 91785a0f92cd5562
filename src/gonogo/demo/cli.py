"""`gonogo demo up|down|status|switch`: drive the local demo deployment from a shell."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gonogo.demo._postgres import cluster
from gonogo.demo._state import read_state
from gonogo.demo.deployment import (
    COLOURS,
    DemoConfig,
    DemoError,
    DemoState,
    down,
    status,
    switch,
    up,
)
from gonogo.demo.traffic import send_traffic
from gonogo.durations import parse_duration

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3


def main(argv: Sequence[str]) -> int:
    """Run one demo command; the exit status is 0, 1 on a demo error, 3 when `status` finds gaps."""
    args = _parser().parse_args(argv)
    cwd = Path.cwd()
    try:
        config = DemoConfig.from_environ(os.environ, cwd)
        if args.dir is not None:
            config = dataclasses.replace(config, run_dir=(cwd / args.dir).resolve())
    except ValueError as exc:
        print(f"gonogo demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(config, args, cwd))
    except DemoError as exc:
        print(f"gonogo demo: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir",
        type=Path,
        help="run directory of the demo (default: $GONOGO_DEMO_DIR or .gonogo/demo)",
    )
    parser = argparse.ArgumentParser(
        prog="gonogo demo",
        description="A local deployment to try the gate on: nginx with TLS in front of "
        "two API releases (blue is good, green is not), Redis and PostgreSQL, on 127.0.0.1.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = commands.add_parser("up", parents=[common], help="start what is not running")
    start.add_argument(
        "--colour",
        choices=COLOURS,
        help="release nginx serves (default: the one it serves now, blue on a first start)",
    )
    start.set_defaults(run=_up)
    stop = commands.add_parser("down", parents=[common], help="stop the demo's processes")
    stop.add_argument(
        "--purge",
        action="store_true",
        help="also remove the PostgreSQL cluster, with the items and files stored in it",
    )
    stop.set_defaults(run=_down)
    show = commands.add_parser("status", parents=[common], help="show what runs (exit 3: gaps)")
    show.set_defaults(run=_status)
    flip = commands.add_parser("switch", parents=[common], help="point nginx at a release")
    flip.add_argument("colour", choices=COLOURS, metavar="COLOUR", help="blue or green")
    flip.set_defaults(run=_switch)
    users = commands.add_parser(
        "traffic", parents=[common], help="send a bounded stream of user requests through nginx"
    )
    users.add_argument(
        "--duration", type=_seconds, default=60.0, help="how long (30s, 5m; default 1m)"
    )
    users.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    users.set_defaults(run=_traffic)
    return parser


def _seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _up(config: DemoConfig, args: argparse.Namespace, cwd: Path) -> int:
    # Repairing a demo with `up` must not undo an earlier `switch`.
    colour = args.colour or status(config).active or "blue"
    state = up(config, colour, progress=lambda line: print(f"  {line}", flush=True))
    print(
        f"demo up: {_serving(state)}, redis :{state.component('redis').port}, "
        f"postgres :{state.component('postgres').port}; "
        f"env file {_shown(config.env_file, cwd)}"
    )
    return EXIT_OK


def _down(config: DemoConfig, args: argparse.Namespace, cwd: Path) -> int:
    stopped = down(config, purge=args.purge)
    print(
        f"demo down: stopped {', '.join(stopped)}" if stopped else "demo down: nothing was running"
    )
    if args.purge:
        print(f"demo down: removed the PostgreSQL cluster {cluster(config).data_dir}")
    return EXIT_OK


def _status(config: DemoConfig, args: argparse.Namespace, cwd: Path) -> int:
    state = status(config)
    if state.all_running:
        print(f"demo status: {_serving(state)}")
    else:
        running = sum(component.running for component in state.components)
        print(f"demo status: {running} of {len(state.components)} running in {config.run_dir}")
    for component in state.components:
        shown = f"running  pid {component.pid}" if component.running else "stopped"
        print(f"  {component.name:<10} {shown:<18} :{component.port}")
    return EXIT_OK if state.all_running else EXIT_NOT_RUNNING


def _switch(config: DemoConfig, args: argparse.Namespace, cwd: Path) -> int:
    print(f"demo switch: {_serving(switch(config, args.colour))}")
    return EXIT_OK


def _traffic(config: DemoConfig, args: argparse.Namespace, cwd: Path) -> int:
    # The addresses the running demo was started with, as `status` reports them.
    recorded = read_state(config)
    target = recorded.config if recorded else config
    try:
        stats = send_traffic(target, duration_s=args.duration, rate=args.rate)
    except ValueError as exc:
        print(f"gonogo demo traffic: {exc}", file=sys.stderr)
        return EXIT_USAGE
    counts = ", ".join(f"{status} x{count}" for status, count in sorted(stats.statuses.items()))
    line = f"{stats.sent} requests in {stats.elapsed_s:.1f} s to {target.url}: {counts}"
    if not any(status.isdigit() for status in stats.statuses):
        print(f"gonogo demo traffic: no answer at all ({line}); is the demo up?", file=sys.stderr)
        return EXIT_ERROR
    print(f"demo traffic: {line}")
    return EXIT_OK


def _serving(state: DemoState) -> str:
    colour = state.active or "?"
    api = state.component(f"api-{colour}").port if colour in COLOURS else "?"
    return f"nginx {state.url} -> {colour} (api-{colour} :{api})"


def _shown(path: Path, cwd: Path) -> str:
    # Relative when under the working directory, so the line can be pasted into `. <file>`.
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)
