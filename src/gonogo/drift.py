"""Drift: where two fingerprints of a deployment differ, and those differences side by side.

`observe` takes the fingerprint of an environment's live deployment with the probes the gate's
fixtures use (fixtures/edge.py, fixtures/inside.py), called with the same arguments, so that a
fingerprint observed here and one a gate run recorded compare like for like.
"""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import zip_longest
from typing import NamedTuple

from gonogo.environment import Environment
from gonogo.environment_edge import HeaderPolicy, PortPolicy, TlsPolicy
from gonogo.environment_inside import ContainerPolicy
from gonogo.errors import GonogoError
from gonogo.fingerprint import (
    AREAS,
    area_of,
    container_fingerprint,
    header_fingerprint,
    port_fingerprint,
    tls_fingerprint,
)
from gonogo.probes import containers, http, ports, tls

__all__ = ["NOT_OBSERVED", "Difference", "aspects", "differences", "observe", "render"]

NOT_OBSERVED = "(not observed)"
# Every probe has its own timeout, and a TLS probe runs its handshakes side by side already:
# a few entries at a time keep a large environment from opening hundreds of sockets at once.
_THREADS = 8
_FAMILIES = {"any": None, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}  # as fixtures/edge
_ERROR = ": error"  # the aspect a probe that got no answer leaves, with its message
_MAX_CELL_LINES = 6
_MIN_VALUE_WIDTH, _MIN_ASPECT_WIDTH = 20, 12  # below these, lines run past `width`
_GAP = " | "
_INDENT = "  "


@dataclass(frozen=True)
class Difference:
    """One aspect whose values differ; None where that side did not observe the aspect."""

    key: str
    left: str | None
    right: str | None

    @property
    def area(self) -> str:
        return area_of(self.key)


class _Job(NamedTuple):
    area: str
    label: str
    probe: Callable[[], dict[str, str]]


def observe(
    environment: Environment,
    *,
    areas: Iterable[str] = AREAS,
    timeout_s: float | None = None,
) -> dict[str, str]:
    """The fingerprint of every tls, headers, ports and containers entry (of `areas`), probed
    now. `timeout_s` stands in for the environment's defaults.timeout_s; an entry's own
    timeout still wins. A probe that gets no answer gives one `error` aspect with its message,
    so the comparison shows it instead of leaving the entry out."""
    jobs = _jobs(environment, set(areas), timeout_s or environment.defaults.timeout_s)
    if not jobs:
        return {}
    fingerprint: dict[str, str] = {}
    with ThreadPoolExecutor(min(_THREADS, len(jobs)), thread_name_prefix="gonogo-drift") as pool:
        for facts in pool.map(_fail_closed, jobs):
            fingerprint.update(facts)
    return fingerprint


def aspects(
    left: dict[str, str], right: dict[str, str], *, areas: Iterable[str] | None = None
) -> list[str]:
    """Every key either side has, in `areas` (all areas when None), in area order then key."""
    wanted = None if areas is None else set(areas)
    keys = [key for key in left.keys() | right.keys() if wanted is None or area_of(key) in wanted]
    return sorted(keys, key=_area_order)


def differences(
    left: dict[str, str], right: dict[str, str], *, areas: Iterable[str] | None = None
) -> list[Difference]:
    """The aspects whose values differ (an aspect only one side has counts), and every
    `error` aspect, even one both sides share: an entry neither side could observe has not
    been shown to match."""
    return [
        Difference(key, left.get(key), right.get(key))
        for key in aspects(left, right, areas=areas)
        if left.get(key) != right.get(key) or key.endswith(_ERROR)
    ]


def render(
    rows: list[Difference], left_name: str, right_name: str, *, compared: int, width: int = 120
) -> str:
    """A side-by-side table, one heading per area, and a summary line; `compared` is how many
    aspects were compared (see `aspects`). Long values wrap, and stop after a few lines."""
    summary = f"between {left_name} and {right_name} ({compared} aspects compared)"
    if not rows:
        return f"no differences {summary}"
    names = [row.key.partition(" ")[2] for row in rows]
    room = width - len(_INDENT) - 2 * len(_GAP)
    natural = max(len(name) for name in [*names, "aspect"])
    # Values first: they are what is compared; the aspect column takes what is left.
    value_width = max(_MIN_VALUE_WIDTH, (room - natural) // 2)
    aspect_width = max(_MIN_ASPECT_WIDTH, min(natural, room - 2 * value_width))
    widths = (aspect_width, value_width, value_width)
    lines = _row(("aspect", left_name, right_name), widths)
    counts: dict[str, int] = {}
    for row, name in zip(rows, names, strict=True):
        if row.area not in counts:
            lines.append(row.area)
            counts[row.area] = 0
        counts[row.area] += 1
        lines += _row((name, _shown(row.left), _shown(row.right)), widths)
    per_area = ", ".join(f"{area} {count}" for area, count in counts.items())
    plural = "" if len(rows) == 1 else "s"
    lines.append(f"{len(rows)} difference{plural} ({per_area}) {summary}")
    return "\n".join(lines)


def _jobs(environment: Environment, areas: set[str], default_s: float) -> list[_Job]:
    jobs: list[_Job] = []
    if "tls" in areas:
        jobs += [
            _Job("tls", p.label, partial(_tls, p, environment, default_s)) for p in environment.tls
        ]
    if "headers" in areas:
        jobs += [
            _Job("headers", p.label, partial(_headers, p, environment, default_s))
            for p in environment.headers
        ]
    if "ports" in areas:
        jobs += [_Job("ports", p.label, partial(_ports, p)) for p in environment.ports]
    if "containers" in areas:
        jobs += [
            _Job("containers", p.label, partial(_containers, p, default_s))
            for p in environment.containers
        ]
    return jobs


def _fail_closed(job: _Job) -> dict[str, str]:
    try:
        return job.probe()
    except GonogoError as exc:
        return {f"{job.area} {job.label}{_ERROR}": str(exc)}


def _tls(policy: TlsPolicy, environment: Environment, default_s: float) -> dict[str, str]:
    host, port = policy.address()
    facts = tls.probe(
        host,
        port,
        server_name=policy.sni(),
        timeout_s=policy.timeout_s or default_s,
        ca_file=environment.defaults.ca_file,
    )
    return tls_fingerprint(policy.label, facts)


def _headers(policy: HeaderPolicy, environment: Environment, default_s: float) -> dict[str, str]:
    defaults = environment.defaults
    response = http.fetch(
        environment.url(policy.url),
        method="GET",
        headers={},
        timeout_s=default_s,
        tls=http.tls_context(defaults.ca_file, defaults.verify_tls),
    )
    return header_fingerprint(policy.label, response)


def _ports(policy: PortPolicy) -> dict[str, str]:
    result = ports.scan(
        policy.host, policy.ports(), timeout_s=policy.timeout_s, family=_FAMILIES[policy.family]
    )
    return port_fingerprint(policy.label, result)


def _containers(policy: ContainerPolicy, default_s: float) -> dict[str, str]:
    found = containers.inspect_containers(
        policy.select, engine=policy.engine, timeout_s=policy.timeout_s or default_s
    )
    return container_fingerprint(policy.label, found)


def _area_order(key: str) -> tuple[int, str]:
    area = area_of(key)
    return (AREAS.index(area) if area in AREAS else len(AREAS), key)


def _shown(value: str | None) -> str:
    return NOT_OBSERVED if value is None else value


def _row(cells: tuple[str, str, str], widths: tuple[int, int, int]) -> list[str]:
    """One table row, each cell wrapped to its column; the row is as tall as its tallest cell."""
    wrapped = [
        # Not at hyphens: suite names and images read whole (ECDHE-ECDSA-AES128-SHA).
        textwrap.wrap(
            cell, width, max_lines=_MAX_CELL_LINES, placeholder=" ...", break_on_hyphens=False
        )
        or [""]
        for cell, width in zip(cells, widths, strict=True)
    ]
    return [
        (
            _INDENT
            + _GAP.join(part.ljust(width) for part, width in zip(parts, widths, strict=True))
        ).rstrip()
        for parts in zip_longest(*wrapped, fillvalue="")
    ]
