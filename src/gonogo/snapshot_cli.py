"""`gonogo snapshot URL...`: write an environment file from a live deployment.

The file is checked before it is written: it is loaded exactly as `pytest --env` would load
it (placeholders filled with stand-ins), so a snapshot that does not validate is a bug here,
reported as one, never a file left for the user to discover.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from gonogo.environment_edge import port_ranges
from gonogo.environment_file import load_environment
from gonogo.errors import GonogoError
from gonogo.snapshot import SnapshotTargets, observe
from gonogo.snapshot_draft import Draft, draft

__all__ = ["main"]

EXIT_WRITTEN = 0
EXIT_UNREACHABLE = 1
EXIT_INVALID = 4


def main(argv: Sequence[str]) -> int:
    options = _parser().parse_args(list(argv))
    try:
        targets = _targets(options)
    except ValueError as exc:
        print(f"gonogo snapshot: {exc}", file=sys.stderr)
        return EXIT_INVALID
    output: Path | None = None if options.output == "-" else Path(options.output)
    if output is not None and output.exists() and not options.force:
        print(
            f"gonogo snapshot: {output} exists; expected a new file (--force overwrites it)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    name = options.name or _name_from(targets.urls[0])
    base_dir = (output.parent if output else Path.cwd()).resolve()
    try:
        observation = observe(targets, progress=_progress)
    except GonogoError as exc:
        print(f"gonogo snapshot: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    written = draft(observation, name=name, as_is=options.as_is, base_dir=base_dir)
    try:
        _validate(written, base_dir)
    except GonogoError as exc:
        print(f"gonogo snapshot: the written file does not validate: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if output is None:
        sys.stdout.write(written.text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(written.text, encoding="utf-8")
    _summary(written, output, observation.duration_s)
    return EXIT_WRITTEN


def _targets(options: argparse.Namespace) -> SnapshotTargets:
    for url in options.urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r}: expected an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError(
                f"{url!r}: credentials in a URL would be written to the file; "
                "pass them with --header instead"
            )
    headers = {}
    for raw in options.header:
        header, colon, value = raw.partition(":")
        if not colon or not header.strip():
            raise ValueError(f"--header {header.strip()!r}: expected 'Name: value'")
        headers[header.strip()] = value.strip()
    ranges = []
    for spec in options.ports:
        try:
            ranges += port_ranges(spec)
        except Exception as exc:  # pydantic's custom error carries the sentence
            raise ValueError(f"--ports {spec!r}: {exc}") from None
    if options.timeout <= 0 or options.timeout > 60:
        raise ValueError(f"--timeout {options.timeout}: expected seconds in (0, 60]")
    if options.ca_file is not None and not options.ca_file.is_file():
        raise ValueError(f"--ca-file {options.ca_file}: no such file")
    return SnapshotTargets(
        urls=tuple(options.urls),
        ports=tuple(ranges),
        paths=tuple(path if path.startswith("/") else f"/{path}" for path in options.path),
        server_name=options.server_name,
        ca_file=options.ca_file,
        request_headers=headers,
        docker=options.docker,
        project=options.project,
        host_backends=tuple(options.host),
        timeout_s=options.timeout,
    )


def _validate(written: Draft, base_dir: Path) -> None:
    stand_ins = dict.fromkeys(written.variables, "snapshot-stand-in")
    with tempfile.NamedTemporaryFile(
        "w", suffix=".yaml", prefix=".gonogo-snapshot-", dir=base_dir, encoding="utf-8"
    ) as handle:
        handle.write(written.text)
        handle.flush()
        load_environment(Path(handle.name), {**os.environ, **stand_ins})


def _summary(written: Draft, output: Path | None, duration_s: float) -> None:
    counted = []
    for key in ("smoke", "ports", "tls", "redirects", "headers", "cookies", "containers", "hosts"):
        section = written.document.get(key)
        if section is not None:
            counted.append(f"{len(section.value)} {key}")
    where = output or "standard output"
    print(
        f"gonogo snapshot: wrote {where} in {duration_s:.1f} s: {', '.join(counted)}; "
        f"{len(written.weak_spots)} weak spot(s)",
        file=sys.stderr,
    )
    for spot in written.weak_spots:
        print(f"  weak: {spot}", file=sys.stderr)


def _progress(message: str) -> None:
    print(f"gonogo snapshot: {message}", file=sys.stderr, flush=True)


def _name_from(url: str) -> str:
    host = urlsplit(url).hostname or "snapshot"
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in host)[:63] or "snapshot"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gonogo snapshot",
        description="Probe a live deployment and write the environment file it meets now. "
        "Weak spots (TLS 1.0, no HSTS, root containers...) are written as the secure "
        "expectation with a FAILS NOW comment, unless --as-is.",
    )
    parser.add_argument(
        "urls",
        nargs="+",
        metavar="URL",
        help="base URL first (smoke checks go there); more https:// URLs for "
        "TLS and headers, http:// ones for the https redirect",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="FILE",
        help="where to write the file (default: standard output)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing --output")
    parser.add_argument("--name", help="the environment's name (default: the base URL's host)")
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="write weak spots as found instead of the secure expectation",
    )
    parser.add_argument(
        "--ports",
        action="append",
        default=[],
        metavar="RANGES",
        help="port ranges to scan on each host, e.g. 1-1024,8000-9000; only "
        "the ports open now may open there",
    )
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="PATH",
        help="another path to try as a smoke check (repeatable)",
    )
    parser.add_argument("--server-name", help="SNI and certificate name (default: the host)")
    parser.add_argument("--ca-file", type=Path, help="PEM bundle to trust instead of the system's")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="sent with every request; written as a ${VARIABLE}, never its value",
    )
    parser.add_argument(
        "--docker",
        nargs="?",
        const="",
        metavar="ENGINE",
        help="inspect containers (default engine: DOCKER_HOST or the socket)",
    )
    parser.add_argument("--project", help="with --docker: only this compose project")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="BACKEND",
        help="testinfra host whose listening sockets to write, e.g. local://",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="per network operation (default 5)"
    )
    return parser
