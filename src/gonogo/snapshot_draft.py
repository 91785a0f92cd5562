"""From what a snapshot saw to the environment file a person would write: sections in the
order of the demo's file, defaults left out, secrets as `${VARIABLE}` placeholders.

Nothing here depends on when the snapshot ran (no timestamps, no latencies), so snapshotting
an unchanged deployment again writes the same bytes and a re-run diffs clean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gonogo._yaml_writer import Commented, Variable, render
from gonogo.snapshot import HEALTH_PATHS, Observation
from gonogo.snapshot_edge import (
    cookies_section,
    headers_section,
    ports_section,
    redirects_section,
    smoke_section,
    tls_section,
    wait_section,
)
from gonogo.snapshot_inside import containers_section, hosts_section
from gonogo.snapshot_spots import WeakSpots

__all__ = ["Draft", "draft", "header_variable"]

_NOT_VARIABLE = re.compile(r"[^A-Z0-9]+")


@dataclass(frozen=True)
class Draft:
    """The file's text, and what it found weak (for the command's summary)."""

    text: str
    document: dict[str, Any]
    weak_spots: tuple[str, ...]
    variables: tuple[str, ...]  # placeholders the user must set before running it


def header_variable(environment: str, header: str) -> str:
    """`staging`, `X-Api-Key` -> `STAGING_X_API_KEY`: where a header's secret value lives."""
    return _NOT_VARIABLE.sub("_", f"{environment}_{header}".upper()).strip("_")


def draft(observation: Observation, *, name: str, as_is: bool, base_dir: Path) -> Draft:
    spots = WeakSpots(as_is)
    targets = observation.targets
    base = observation.sites[0]
    base_origin = base.origin
    document: dict[str, Any] = {
        "name": name,
        "description": f"Written by gonogo snapshot from {base_origin}.",
        "base_url": base_origin,
    }
    variables = tuple(header_variable(name, header) for header in targets.request_headers)
    defaults = _defaults(observation, name, base_dir)
    if defaults:
        document["defaults"] = defaults
    smoke = smoke_section(base, spots)
    wait = wait_section(smoke)
    if wait:
        document["wait"] = Commented(
            wait, above=("Poll this check until it passes before judging anything.",)
        )
    sections: list[tuple[str, list[Any], str]] = [
        (
            "smoke",
            smoke,
            f"Health paths that answered a GET ({len(HEALTH_PATHS)} common ones "
            "were tried, and --path ones).",
        ),
        (
            "ports",
            ports_section(observation, spots),
            "A TCP connect scan from where the "
            "snapshot ran; the closed list is stores and admin ports that must never answer.",
        ),
        (
            "tls",
            tls_section(observation, base_origin, spots),
            "Left out: TLS 1.2 and 1.3 "
            "only, AEAD suites with forward secrecy, 30 days left, 2048-bit RSA: the defaults.",
        ),
        (
            "redirects",
            redirects_section(observation, spots),
            "http:// must answer a "
            "permanent redirect (301 or 308) to the same host and path on https://.",
        ),
        (
            "headers",
            headers_section(observation, base_origin, spots),
            "Security headers as "
            "served; HSTS for a year with includeSubDomains and a strict CSP are the defaults.",
        ),
        (
            "cookies",
            cookies_section(observation, base_origin, spots),
            "Cookies set on a "
            "plain GET; a login's cookies need the login request, which only you can write.",
        ),
        (
            "containers",
            containers_section(observation, spots),
            "Left out: running, "
            "non-root, restart unless-stopped, a pinned tag, no ERROR lines since start, "
            "rotated logs: the defaults.",
        ),
        (
            "hosts",
            hosts_section(observation, spots),
            "Listening sockets, read through "
            "testinfra; a socket on every interface that is not listed here fails the check.",
        ),
    ]
    for key, entries, about in sections:
        if entries:
            document[key] = Commented(entries, above=(about,))
    header = _header(observation, as_is, spots, variables)
    return Draft(render(document, header), document, tuple(spots.found), variables)


def _defaults(observation: Observation, name: str, base_dir: Path) -> dict[str, Any]:
    targets = observation.targets
    defaults: dict[str, Any] = {}
    if targets.timeout_s != 5.0:
        defaults["timeout_s"] = targets.timeout_s
    if targets.ca_file is not None:
        defaults["ca_file"] = _path_from(targets.ca_file.resolve(), base_dir.resolve())
    if targets.request_headers:
        defaults["headers"] = {
            header: Variable(f"${{{header_variable(name, header)}}}")
            for header in sorted(targets.request_headers)
        }
    return defaults


def _path_from(path: Path, base_dir: Path) -> str:
    """Relative to the file when it lies beside or below it (the pair moves together), else
    absolute: `../../etc/ssl/ca.pem` would break as soon as the file is copied elsewhere."""
    return str(path.relative_to(base_dir)) if path.is_relative_to(base_dir) else str(path)


def _header(
    observation: Observation, as_is: bool, spots: WeakSpots, variables: tuple[str, ...]
) -> list[str]:
    """Paragraphs for the top of the file (the writer wraps them)."""
    urls = ", ".join(site.url for site in observation.sites)
    lines = [
        f"Written by `gonogo snapshot` from {urls}. Every expectation below held when the "
        "snapshot was taken, and every key left out is gonogo's default (the source "
        "documents' policy), which the deployment met too.",
    ]
    if spots.found and as_is:
        lines += ["", f"--as-is: {len(spots.found)} weak spot(s) written as found, marked WEAK."]
    elif spots.found:
        lines += [
            "",
            f"{len(spots.found)} weak spot(s) are marked FAILS NOW: there the file asks for the "
            "secure setting, which the deployment did not meet (`--as-is` writes what it "
            "found instead).",
        ]
    if variables:
        lines += ["", f"Set {', '.join(variables)} before running: secrets are never written here."]
    lines += ["", "Check it with `gonogo validate FILE`; run it with `pytest --env FILE`."]
    return lines
