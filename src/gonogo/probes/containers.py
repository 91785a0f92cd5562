"""Containers as facts, read off a Docker engine: state, health, limits, privileges, ports, logs.

Knows nothing of pytest or of expectations. One `GET /containers/json` with the engine doing
the filtering, then one inspect per match, eight in flight: fifty containers cost one list and
fifty inspects. Logs are read as a stream, and the connection is dropped once `max_bytes` are
in. Clients are kept per engine URL and timeout for the life of the process.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from gonogo.environment_inside import ContainerSelector
from gonogo.errors import TargetUnreachableError

__all__ = [
    "ContainerFacts",
    "ContainerSet",
    "LogExcerpt",
    "PublishedPort",
    "close_clients",
    "inspect_containers",
    "read_logs",
]

_DEFAULT_ENGINE = "unix:///var/run/docker.sock"  # what the SDK uses when nothing says otherwise
# The SDK keeps 10 connections per engine: stay under it, so none is opened only to be dropped.
_INSPECT_THREADS = 8
_HEALTH_OUTPUT_CHARS = 300
_FRAME_HEADER = 8  # stream type, three zero bytes, payload length (big-endian)
_NEVER = "0001-01-01T00:00:00Z"  # the engine's zero time: created, never started
_ENV_KEYS = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """One host port bound to a container port; host_port 0 means the engine picks it at start."""

    host_ip: str
    host_port: int
    container_port: str  # "80/tcp"


@dataclass(frozen=True)
class ContainerFacts:
    """What `docker inspect` says about one container, in the terms the judgements use."""

    name: str
    id: str
    image: str  # the reference as configured (Config.Image), not what it resolved to
    image_id: str
    labels: dict[str, str] = field(repr=False, hash=False)
    status: str  # running, exited, restarting, created, paused, dead
    exit_code: int
    started_at: datetime | None
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    healthcheck_defined: bool
    health_output: str
    restart_policy: str
    restart_count: int
    user: str
    privileged: bool
    cap_add: tuple[str, ...]
    cpus: float | None  # None: no CPU limit
    memory: int | None  # bytes; None: no memory limit
    published_ports: tuple[PublishedPort, ...]
    read_only_rootfs: bool
    log_driver: str
    log_options: dict[str, str] = field(hash=False)
    tty: bool = False  # its log is one raw stream, not stdout and stderr frames


@dataclass(frozen=True)
class ContainerSet:
    """The containers one selector matched on one engine, sorted by name."""

    engine: str
    containers: tuple[ContainerFacts, ...]
    duration_s: float


@dataclass(frozen=True)
class LogExcerpt:
    """Stdout and stderr as the engine interleaved them, and whether the byte cap cut them."""

    text: str
    bytes_read: int
    truncated: bool


_clients: dict[tuple[str | None, ...], tuple[str, docker.DockerClient]] = {}
_clients_lock = threading.Lock()


def inspect_containers(
    selector: ContainerSelector, *, engine: str | None, timeout_s: float
) -> ContainerSet:
    """The containers `selector` matches, running or not; `engine` None: DOCKER_HOST and co."""
    started = time.perf_counter()
    url, client = _client(engine, timeout_s)
    filters: dict[str, str | list[str]] = {}
    if selector.container is not None:
        # The engine's name filter is an unanchored regular expression over "/name".
        filters["name"] = f"^/?{re.escape(selector.container)}$"
    labels = [f"{key}={value}" for key, value in sorted(selector.label_filters().items())]
    if labels:
        filters["label"] = labels
    try:
        listed = client.api.containers(all=True, filters=filters)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise _unreachable(url, exc, timeout_s, "list containers") from None
    ids = [
        str(entry["Id"])
        for entry in listed
        if selector.container is None or f"/{selector.container}" in (entry.get("Names") or ())
    ]

    def inspect(container_id: str) -> ContainerFacts | None:
        try:
            raw = client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None  # removed since the list: it is not there to judge
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            doing = f"inspect container {container_id[:12]}"
            raise _unreachable(url, exc, timeout_s, doing) from None
        return _facts(raw)

    if len(ids) <= 1:
        found = [inspect(container_id) for container_id in ids]
    else:
        threads = min(_INSPECT_THREADS, len(ids))
        with ThreadPoolExecutor(threads, thread_name_prefix="gonogo-inspect") as pool:
            found = list(pool.map(inspect, ids))
    containers = sorted((facts for facts in found if facts is not None), key=lambda f: f.name)
    return ContainerSet(url, tuple(containers), time.perf_counter() - started)


def read_logs(
    facts: ContainerFacts,
    *,
    engine: str | None,
    since: datetime,
    max_bytes: int,
    timeout_s: float,
) -> LogExcerpt:
    """Stdout and stderr written since `since`, oldest first, at most `max_bytes` of it."""
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes!r}")
    url, client = _client(engine, timeout_s)
    api = client.api
    doing = f"read the logs of {facts.name}"
    after = since.timestamp()
    # The request is made here rather than by the SDK's logs(), which inspects the container
    # again for its tty flag, rounds `since` down to the second, reads whole frames past any
    # cap, and leaves the connection open when it is dropped early or the engine says no.
    params: dict[str, str | int] = {"stdout": 1, "stderr": 1, "follow": 0, "timestamps": 0}
    if after > 0:
        params["since"] = f"{after:.6f}"
    try:
        response = api.get(
            f"{api.base_url}/v{api.api_version}/containers/{facts.id}/logs",
            params=params,
            stream=True,
            timeout=timeout_s,
        )
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise _unreachable(url, exc, timeout_s, doing) from None
    try:
        if response.status_code >= 400:
            raise _refused(url, doing, response.status_code, _message(response))
        read = _read_raw if facts.tty else _read_frames
        kept, truncated = read(response.raw, max_bytes)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise _unreachable(url, exc, timeout_s, doing) from None
    finally:
        response.close()  # unread, the rest of the log goes with the connection
    text = b"".join(kept).decode(errors="replace")
    return LogExcerpt(text, sum(len(chunk) for chunk in kept), truncated)


def _read_frames(raw: Any, max_bytes: int) -> tuple[list[bytes], bool]:
    """Payloads of the engine's multiplexed stream (8-byte header, then that many bytes)."""
    kept: list[bytes] = []
    room = max_bytes
    while True:
        header = _read_exactly(raw, _FRAME_HEADER)
        if len(header) < _FRAME_HEADER:
            return kept, False
        length = int.from_bytes(header[4:8], "big")
        if length and not room:
            return kept, True
        want = min(length, room)
        data = _read_exactly(raw, want)
        kept.append(data)
        room -= len(data)
        if len(data) < want:  # the stream ended mid-frame
            return kept, False
        if want < length:
            return kept, True


def _read_raw(raw: Any, max_bytes: int) -> tuple[list[bytes], bool]:
    """A tty container's log: one plain stream; one byte past the cap says there was more."""
    return [_read_exactly(raw, max_bytes)], bool(raw.read(1))


def _read_exactly(raw: Any, size: int) -> bytes:
    """`size` bytes, or fewer only where the stream ends."""
    parts: list[bytes] = []
    while size > 0:
        part = raw.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def close_clients() -> None:
    """Close every cached engine client (their connection pools); the next call opens anew."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for _, client in clients:
        client.close()


def _client(engine: str | None, timeout_s: float) -> tuple[str, docker.DockerClient]:
    """The engine's URL (for messages) and a client, made once per engine and timeout."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    env = tuple(os.environ.get(key) for key in _ENV_KEYS) if engine is None else ()
    key = (engine, str(timeout_s), *env)
    with _clients_lock:
        cached = _clients.get(key)
    if cached is not None:
        return cached
    url = engine or _env_engine()
    if url.startswith("unix://"):
        _knock(url, timeout_s)
    try:
        # Building a client asks the engine for its API version: the first round trip.
        if engine is None:
            client = docker.from_env(timeout=timeout_s)
        else:
            client = docker.DockerClient(base_url=engine, timeout=timeout_s)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise _unreachable(url, exc, timeout_s, None) from None
    with _clients_lock:
        kept = _clients.setdefault(key, (url, client))
    if kept[1] is not client:  # another thread got there first
        client.close()
    return kept


def _knock(url: str, timeout_s: float) -> None:
    """Connect to a unix socket once ourselves: the SDK leaks its socket when that fails."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(url.removeprefix("unix://"))
        except OSError as exc:
            raise _unreachable(url, exc, timeout_s, None) from None


def _env_engine() -> str:
    """The engine docker.from_env() picks: DOCKER_HOST, the current CLI context, the socket."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    try:
        from docker.context import ContextAPI  # the SDK's own lookup, so both agree

        return str(ContextAPI.kwargs_from_context().get("base_url") or _DEFAULT_ENGINE)
    except (AttributeError, ImportError, docker.errors.DockerException, OSError, ValueError):
        return _DEFAULT_ENGINE


def _unreachable(
    url: str, exc: BaseException, timeout_s: float, doing: str | None
) -> TargetUnreachableError:
    """A TargetUnreachableError saying which engine, what happened in words, and what to try."""
    if isinstance(exc, docker.errors.APIError) and exc.response is not None:
        exc.response.close()  # a streamed answer would otherwise keep its connection
        explanation = str(exc.explanation or exc.response.reason or "").strip()
        return _refused(url, doing or "answer", exc.response.status_code, explanation)
    what, hint = _in_words(url, exc, timeout_s)
    asked = f" (asked to {doing})" if doing else ""
    return TargetUnreachableError(f"Docker engine at {url} did not answer: {what}{asked}; {hint}")


def _refused(url: str, doing: str, status: int, explanation: str) -> TargetUnreachableError:
    return TargetUnreachableError(
        f"Docker engine at {url} could not {doing}: {status} {explanation}"
    )


def _message(response: requests.Response) -> str:
    """The engine's own words for an error: {"message": ...}, else the body's start."""
    try:
        return str(response.json()["message"]).strip()
    except (ValueError, KeyError, TypeError):
        return response.text.strip()[:200] or str(response.reason)


_ANSWER_HINT = "is dockerd running, or is DOCKER_HOST set to the right engine?"


def _in_words(url: str, exc: BaseException, timeout_s: float) -> tuple[str, str]:
    """What went wrong, judged by the innermost cause we recognise, and a next step."""
    for cause in _causes(exc):
        if isinstance(cause, FileNotFoundError):
            path = url.removeprefix("unix://") if url.startswith("unix://") else None
            return (f"no socket at {path}" if path else "no such file"), _ANSWER_HINT
        if isinstance(cause, PermissionError):
            return "permission denied", "is this user in the docker group (or root)?"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", _ANSWER_HINT
        if isinstance(
            cause, TimeoutError | requests.exceptions.Timeout | urllib3.exceptions.TimeoutError
        ):
            return (
                f"no answer within {timeout_s:g} s",
                "is the engine overloaded, or timeout_s too short for it?",
            )
        if isinstance(cause, socket.gaierror):
            return f"host name does not resolve ({cause.strerror})", "is the engine URL right?"
        if isinstance(cause, ssl.SSLError):
            return (
                f"TLS failed ({cause.reason or cause})",
                "check DOCKER_TLS_VERIFY and the certificates in DOCKER_CERT_PATH",
            )
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "the connection was reset", _ANSWER_HINT
    text = str(exc).removeprefix("Error while fetching server API version: ")
    if "paramiko" in text:  # the SDK speaks ssh:// only through paramiko or the ssh binary
        return text, "pip install paramiko, or reach the engine over tcp:// with TLS"
    return text or type(exc).__name__, _ANSWER_HINT


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """What `exc` wraps, innermost first: chained exceptions, urllib3 reasons, exception args."""
    found = [exc]
    for current in found:  # grows while it is walked: breadth first, outermost first
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner += [arg for arg in current.args if isinstance(arg, BaseException)]
        found += [
            e for e in inner if isinstance(e, BaseException) and all(e is not f for f in found)
        ]
    return reversed(found)


def _facts(raw: dict[str, Any]) -> ContainerFacts:
    """Read the inspect document; fields an older engine leaves out read as their zero."""
    state = raw.get("State") or {}
    config = raw.get("Config") or {}
    host = raw.get("HostConfig") or {}
    health = state.get("Health") or None
    test = (config.get("Healthcheck") or {}).get("Test") or []
    log_config = host.get("LogConfig") or {}
    return ContainerFacts(
        name=str(raw.get("Name", "")).removeprefix("/"),
        id=str(raw.get("Id", ""))[:12],
        image=str(config.get("Image", "")),
        image_id=str(raw.get("Image", "")),
        labels=dict(config.get("Labels") or {}),
        status=str(state.get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        started_at=_time(state.get("StartedAt")),
        health=str(health["Status"]) if health and health.get("Status") else None,
        healthcheck_defined=bool(test) and test[0] != "NONE",
        health_output=_last_output(health),
        restart_policy=str((host.get("RestartPolicy") or {}).get("Name") or "no"),
        restart_count=int(raw.get("RestartCount") or 0),
        user=str(config.get("User") or ""),
        privileged=bool(host.get("Privileged")),
        cap_add=tuple(str(cap) for cap in host.get("CapAdd") or ()),
        cpus=_cpus(host),
        memory=int(host.get("Memory") or 0) or None,
        published_ports=_published(host, raw.get("NetworkSettings") or {}),
        read_only_rootfs=bool(host.get("ReadonlyRootfs")),
        log_driver=str(log_config.get("Type") or ""),
        log_options={str(k): str(v) for k, v in (log_config.get("Config") or {}).items()},
        tty=bool(config.get("Tty")),
    )


def _time(value: Any) -> datetime | None:
    if not value or value == _NEVER:
        return None
    try:
        return datetime.fromisoformat(str(value))  # 3.11 reads the Z and the nanoseconds
    except ValueError:
        return None


def _last_output(health: dict[str, Any] | None) -> str:
    log = (health or {}).get("Log") or []
    return str(log[-1].get("Output") or "").strip()[:_HEALTH_OUTPUT_CHARS] if log else ""


def _cpus(host: dict[str, Any]) -> float | None:
    nano = int(host.get("NanoCpus") or 0)
    if nano:
        return nano / 1e9
    quota = int(host.get("CpuQuota") or 0)
    if quota > 0:
        return quota / (int(host.get("CpuPeriod") or 0) or 100_000)  # the kernel's default period
    return None


def _published(host: dict[str, Any], network: dict[str, Any]) -> tuple[PublishedPort, ...]:
    """Configured bindings, with what the engine actually bound (when running) taking over."""
    configured = host.get("PortBindings") or {}
    actual = network.get("Ports") or {}
    ports: set[PublishedPort] = set()
    for container_port in {*configured, *actual}:
        bindings = actual.get(container_port) or configured.get(container_port) or []
        for binding in bindings:
            host_port = str(binding.get("HostPort") or "0").partition("-")[0]
            ports.add(
                PublishedPort(
                    str(binding.get("HostIp") or ""),
                    int(host_port) if host_port.isdigit() else 0,
                    str(container_port),
                )
            )
    return tuple(sorted(ports, key=lambda p: (p.host_port, p.host_ip, p.container_port)))
