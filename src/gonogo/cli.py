"""The `gonogo` command: the schema for editors, file validation, and the demo deployment.

Verification itself runs through pytest (`pytest --env NAME`); this command only does what
pytest cannot: print the JSON Schema, check a file without running anything, drive the demo.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gonogo import __version__
from gonogo.environment import Environment
from gonogo.environment_file import load_environment
from gonogo.errors import GonogoError

__all__ = ["main"]

EXIT_INVALID = 4  # the same as pytest's usage error, which a bad file also gives there


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["demo"]:
        from gonogo.demo.cli import main as demo_main

        return demo_main(args[1:])
    if args[:1] == ["snapshot"]:
        from gonogo.snapshot_cli import main as snapshot_main

        return snapshot_main(args[1:])
    if args[:1] == ["diff"]:
        from gonogo.drift_cli import main as diff_main

        return diff_main(args[1:])
    if args[:1] == ["history"]:
        from gonogo.history_cli import main as history_main

        return history_main(args[1:])
    parser = _parser()
    options = parser.parse_args(args)
    if options.command == "schema":
        print(json.dumps(environment_schema(), indent=2))
        return 0
    if options.command == "validate":
        return _validate(options.files)
    parser.print_help()
    return 2


def environment_schema() -> dict[str, object]:
    """The JSON Schema of environment files, for editors (yaml-language-server, IDEs)."""
    schema = Environment.model_json_schema(by_alias=True)
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "Base environment file, relative to this one; mappings merge, lists "
        "are replaced.",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"gonogo-environment-{__version__}",
        **schema,
    }


def _validate(files: list[Path]) -> int:
    status = 0
    for path in files:
        try:
            loaded = load_environment(path.resolve(), os.environ)
        except GonogoError as exc:
            print(exc, file=sys.stderr)
            status = EXIT_INVALID
        else:
            env = loaded.environment
            print(f"{path}: valid environment {env.name!r} ({len(env.smoke)} smoke checks)")
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gonogo",
        description="Deployment verification gate. Run checks with `pytest --env NAME`.",
        epilog="gonogo snapshot URL... writes an environment file from a live deployment; "
        "gonogo diff ENV ENV (or ENV --last) shows where two deployments differ; "
        "gonogo demo up|down|status|switch COLOUR|traffic drives the local demo deployment; "
        "gonogo history [--env NAME] shows the run history and its trends.",
    )
    parser.add_argument("--version", action="version", version=f"gonogo {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("schema", help="print the JSON Schema of environment files")
    validate = commands.add_parser("validate", help="check environment files without running")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    commands.add_parser("snapshot", help="write an environment file from a live deployment")
    commands.add_parser("diff", help="compare two environments, or one with its last run")
    commands.add_parser("demo", help="start, stop, inspect or switch the demo deployment")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
