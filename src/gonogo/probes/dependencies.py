"""Dependencies as facts: can the suite reach, log in to and ping each database, cache, broker
or service the deployment needs, how long that took, and what the server says it is.

Knows nothing of pytest or of expectations: a dependency that cannot be reached, logged in to
or pinged raises TargetUnreachableError naming it; anything after that (a query, a round
trip, the management API) is a fact, so one failing part does not hide the others. Every
message carries the URL with its password masked, and no message or fact the password.
"""

from __future__ import annotations

import base64
import importlib.util
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gonogo.environment_dependencies import DRIVERS, Dependency
from gonogo.errors import TargetUnreachableError
from gonogo.probes._connect import connect
from gonogo.probes._dependency_facts import (
    BANNER_MAX_BYTES,
    DependencyFacts,
    Stopwatch,
    scrub,
    unreachable,
)
from gonogo.probes._dependency_rabbitmq import probe_rabbitmq
from gonogo.probes._dependency_sql import probe_mysql, probe_postgres
from gonogo.probes._dependency_stores import ROUND_TRIP_PREFIX, probe_mongodb, probe_redis
from gonogo.probes.http import fetch, tls_context

__all__ = ["ROUND_TRIP_PREFIX", "DependencyFacts", "missing_drivers", "probe_dependency"]

_Probe = Callable[[Dependency, float, Path | None, bool], DependencyFacts]


def probe_dependency(
    dependency: Dependency, *, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """Connect, authenticate and ping `dependency`, then whatever else it asks for."""
    probe = _PROBES[dependency.kind]
    return probe(dependency, timeout_s, ca_file, verify_tls)


def missing_drivers(dependencies: Sequence[Dependency]) -> list[str]:
    """One message per dependency whose driver cannot be imported, with the pip extra to
    install; checked before the run so a missing driver is never a skip that reads as GO."""
    missing = []
    for index, dependency in enumerate(dependencies):
        driver = DRIVERS.get(dependency.kind)
        if driver is None or _importable(driver[0]):
            continue
        module, extra = driver
        missing.append(
            f"dependencies[{index}] ({dependency.label}): {dependency.url_parts.scheme}:// needs "
            f"the {module} driver, which is not installed; pip install 'gonogo[{extra}]'"
        )
    return missing


def _importable(module: str) -> bool:
    """find_spec without importing; a None in sys.modules is Python's own "blocked" marker."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _probe_tcp(
    dependency: Dependency, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """Connect; with `banner` asked for, also read the first line the service volunteers.

    Latency then runs until that line: for SSH or SMTP the greeting is the service answering.
    """
    watch = Stopwatch()
    deadline = time.monotonic() + timeout_s
    where = f"{dependency.label} ({dependency.display_url})"
    with connect(dependency.host, dependency.port, timeout_s, where) as sock:
        banner = _first_line(sock, deadline, where) if dependency.banner is not None else None
        latency_ms = watch.ms
    return DependencyFacts(
        kind=dependency.kind,
        where=dependency.display_url,
        latency_ms=latency_ms,
        server=banner or "TCP open",
        banner=banner,
    )


def _first_line(sock: socket.socket, deadline: float, where: str) -> str:
    """Up to the first newline or BANNER_MAX_BYTES, whichever comes first; what came by the
    deadline if neither did ("" when nothing)."""
    received = b""
    while b"\n" not in received and len(received) < BANNER_MAX_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(BANNER_MAX_BYTES - len(received))
        except TimeoutError:
            break
        except OSError as exc:
            raise TargetUnreachableError(
                f"{where}: connection lost before a banner ({exc.strerror or exc})"
            ) from None
        if not chunk:
            break
        received += chunk
    return received.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")


def _probe_http(
    dependency: Dependency, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """One GET; the status is a fact, which statuses are fine is the check's business."""
    url, headers = dependency.url, {}
    if dependency.user is not None or dependency.password is not None:
        login = f"{dependency.username or ''}:{dependency.secret or ''}"
        headers["authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        # httpx would put the URL's own user:password over the header: the fields win.
        parts = dependency.url_parts
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    try:
        response = fetch(
            url,
            headers=headers,
            timeout_s=timeout_s,
            tls=tls_context(ca_file, verify_tls),
        )
    except TargetUnreachableError as exc:
        # fetch names the URL as given, password and all; say it again with it masked.
        reason = str(exc).removeprefix(f"GET {url}: ")
        raise unreachable(dependency, reason) from None
    return DependencyFacts(
        kind=dependency.kind,
        where=dependency.display_url,
        latency_ms=response.elapsed_ms,
        server=f"HTTP {response.status}",
        status=response.status,
        body_excerpt=scrub(response.excerpt(), dependency),
    )


_PROBES: dict[str, _Probe] = {
    "postgres": probe_postgres,
    "mysql": probe_mysql,
    "redis": probe_redis,
    "rabbitmq": probe_rabbitmq,
    "mongodb": probe_mongodb,
    "tcp": _probe_tcp,
    "http": _probe_http,
}
