"""`gonogo snapshot`'s observation: one look at a live deployment, with the checks' own probes.

What is seen here becomes an environment file (see snapshot_draft), so everything is asked
the way the checks will later ask it: the same TLS probe, the same port scan, the same GET
without redirects, the same container inspection, the same testinfra listeners.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from gonogo.containers import since_for
from gonogo.declared_hosts import DeclaredHosts
from gonogo.environment_inside import ContainerPolicy, ContainerSelector, HostPolicy
from gonogo.errors import GonogoError, TargetUnreachableError
from gonogo.probes import hosts
from gonogo.probes.containers import ContainerSet, LogExcerpt, inspect_containers, read_logs
from gonogo.probes.http import HttpResponse, fetch, tls_context
from gonogo.probes.ports import ScanResult, scan
from gonogo.probes.redirects import RedirectChain, follow
from gonogo.probes.tls import TlsFacts, probe

__all__ = [
    "ABSENT_PATH",
    "HEALTH_PATHS",
    "RISKY_PORTS",
    "Answer",
    "Observation",
    "Site",
    "SnapshotTargets",
    "observe",
    "path_of",
]

# Where services commonly say they are alive or ready; each is asked once, and only those
# that answer become smoke checks.
HEALTH_PATHS = (
    "/health",
    "/health/live",
    "/health/ready",
    "/healthz",
    "/livez",
    "/readyz",
    "/api/health",
    "/api/v1/health",
    "/api/v1/status",
    "/status",
    "/ping",
    "/actuator/health",
)
# Asked to tell a health endpoint from a catch-all route (an SPA answers 200 to everything).
ABSENT_PATH = "/gonogo-snapshot-no-such-page"
# Stores, brokers and admin endpoints that should never answer where clients connect.
RISKY_PORTS = {
    21: "FTP",
    23: "Telnet",
    2375: "Docker API",
    2376: "Docker API (TLS)",
    3306: "MySQL",
    5432: "PostgreSQL",
    5672: "RabbitMQ",
    6379: "Redis",
    8500: "Consul",
    9200: "Elasticsearch",
    11211: "memcached",
    15672: "RabbitMQ management",
    27017: "MongoDB",
}
_WORKERS = 16
_LOG_BYTES = 1024**2  # the logs check's default cap
# Logs are read from where the logs check reads them by default: only its `logs` is used.
_DEFAULT_POLICY = ContainerPolicy(select=ContainerSelector(container="snapshot"))


@dataclass(frozen=True)
class SnapshotTargets:
    """What to look at: the URLs a client uses, and optionally ports, containers and hosts."""

    urls: tuple[str, ...]
    ports: tuple[tuple[int, int], ...] = ()  # ranges to scan on each URL's host
    paths: tuple[str, ...] = ()  # more paths to try as smoke checks
    server_name: str | None = None
    ca_file: Path | None = None
    request_headers: dict[str, str] = field(default_factory=dict, repr=False)
    docker: str | None = None  # engine URL, "" for DOCKER_HOST or the local socket
    project: str | None = None  # compose project to keep; None: every container
    host_backends: tuple[str, ...] = ()
    timeout_s: float = 5.0

    def hosts(self) -> list[str]:
        return sorted({urlsplit(url).hostname or "" for url in self.urls})


@dataclass(frozen=True)
class Answer:
    """One GET of one path: the response, or why there was none."""

    path: str
    response: HttpResponse | None
    error: str | None = None


@dataclass(frozen=True)
class Site:
    """One URL as a client meets it."""

    url: str
    page: Answer  # the URL itself, for headers and cookies
    tls: TlsFacts | None = None
    tls_error: str | None = None
    redirect: RedirectChain | None = None  # http:// URLs only
    health: tuple[Answer, ...] = ()  # the base URL only
    absent: Answer | None = None  # a path no service has: what a catch-all route answers

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def https(self) -> bool:
        return urlsplit(self.url).scheme == "https"


@dataclass(frozen=True)
class Observation:
    """Everything one snapshot saw, and how long it took."""

    targets: SnapshotTargets
    sites: tuple[Site, ...]
    scans: tuple[ScanResult, ...]
    containers: ContainerSet | None
    container_logs: dict[str, LogExcerpt]  # by container id, since its start
    listeners: dict[str, tuple[hosts.ListenerFact, ...]]
    duration_s: float


def observe(
    targets: SnapshotTargets, progress: Callable[[str], None] = lambda _: None
) -> Observation:
    """Probe every target, side by side; raise TargetUnreachableError when the first URL (the
    base URL every smoke check is written against) does not answer at all."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        scans = pool.submit(_scans, targets, progress)
        containers = pool.submit(_containers, targets, progress)
        listeners = pool.submit(_listeners, targets, progress)
        sites = [
            _site(pool, targets, url, index == 0, progress)
            for index, url in enumerate(targets.urls)
        ]
        found, logs = containers.result()
        return Observation(
            targets=targets,
            sites=tuple(sites),
            scans=scans.result(),
            containers=found,
            container_logs=logs,
            listeners=listeners.result(),
            duration_s=time.perf_counter() - started,
        )


def _site(
    pool: ThreadPoolExecutor,
    targets: SnapshotTargets,
    url: str,
    base: bool,
    progress: Callable[[str], None],
) -> Site:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    progress(f"asking {url}")
    tls = pool.submit(_tls, targets, url) if parts.scheme == "https" else None
    paths = [*HEALTH_PATHS, *targets.paths] if base else []
    health = [pool.submit(_get, targets, origin, path) for path in dict.fromkeys(paths)]
    absent = pool.submit(_get, targets, origin, ABSENT_PATH) if base else None
    redirect = pool.submit(_follow, targets, url) if parts.scheme == "http" else None
    page = _get(targets, origin, path_of(url))
    if base and page.response is None and page.error:
        raise TargetUnreachableError(f"snapshot: {url} did not answer: {page.error}")
    tls_facts, tls_error = tls.result() if tls else (None, None)
    return Site(
        url=url,
        page=page,
        tls=tls_facts,
        tls_error=tls_error,
        redirect=redirect.result() if redirect else None,
        health=tuple(answer.result() for answer in health),
        absent=absent.result() if absent else None,
    )


def _get(targets: SnapshotTargets, origin: str, path: str) -> Answer:
    try:
        response = fetch(
            origin + path,
            headers=dict(targets.request_headers),
            timeout_s=targets.timeout_s,
            tls=tls_context(targets.ca_file),
        )
    except GonogoError as exc:
        return Answer(path, None, str(exc))
    return Answer(path, response)


def _tls(targets: SnapshotTargets, url: str) -> tuple[TlsFacts | None, str | None]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        facts = probe(
            host,
            port,
            server_name=targets.server_name or host,
            timeout_s=targets.timeout_s,
            ca_file=targets.ca_file,
        )
    except GonogoError as exc:
        return None, str(exc)
    return facts, None


def _follow(targets: SnapshotTargets, url: str) -> RedirectChain | None:
    """The URLs given on the command line are the hosts a redirect may be followed to."""
    try:
        return follow(
            url,
            hosts=DeclaredHosts.of_urls(targets.urls),
            timeout_s=targets.timeout_s,
            tls=tls_context(targets.ca_file),
        )
    except GonogoError:
        return None  # the page itself says why: the same request, unanswered


def _scans(targets: SnapshotTargets, progress: Callable[[str], None]) -> tuple[ScanResult, ...]:
    found = []
    for host in targets.hosts():
        wanted = set(_url_ports(targets, host)) | set(RISKY_PORTS)
        for first, last in targets.ports:
            wanted.update(range(first, last + 1))
        progress(f"scanning {len(wanted)} ports of {host}")
        found.append(scan(host, sorted(wanted), timeout_s=min(targets.timeout_s, 1.0)))
    return tuple(found)


def _containers(
    targets: SnapshotTargets, progress: Callable[[str], None]
) -> tuple[ContainerSet | None, dict[str, LogExcerpt]]:
    """The containers, and each one's log since it started (read as the logs check reads it)."""
    if targets.docker is None:
        return None, {}
    engine = targets.docker or None
    progress(f"inspecting containers on {targets.docker or 'the default engine'}")
    found = inspect_containers(
        _every_container(targets.project), engine=engine, timeout_s=targets.timeout_s
    )
    logs = {}
    now = datetime.now(UTC)
    for facts in found.containers:
        if facts.log_driver != "none":
            logs[facts.id] = read_logs(
                facts,
                engine=engine,
                since=since_for(_DEFAULT_POLICY, facts, now),
                max_bytes=_LOG_BYTES,
                timeout_s=targets.timeout_s,
            )
    return found, logs


def _every_container(project: str | None) -> ContainerSelector:
    """A compose project's containers, or every container: the environment file has no way to
    ask for all of them (an entry names what it judges), so that selector is built unchecked;
    with no name and no label, inspect_containers filters nothing."""
    if project is not None:
        return ContainerSelector(labels={"com.docker.compose.project": project})
    return ContainerSelector.model_construct(container=None, service=None, project=None, labels={})


def _listeners(
    targets: SnapshotTargets, progress: Callable[[str], None]
) -> dict[str, tuple[hosts.ListenerFact, ...]]:
    found = {}
    for backend in targets.host_backends:
        progress(f"listing listening sockets on {backend}")
        host = hosts.connect(HostPolicy(backend=backend), targets.timeout_s)
        found[backend] = hosts.listeners(host)
    return found


def _url_ports(targets: SnapshotTargets, host: str) -> list[int]:
    ports = []
    for url in targets.urls:
        parts = urlsplit(url)
        if parts.hostname == host:
            ports.append(parts.port or (443 if parts.scheme == "https" else 80))
    return ports


def path_of(url: str) -> str:
    """The path and query a request for `url` names (`/` when it has no path)."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
