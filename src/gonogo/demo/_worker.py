"""The demo's container: a `worker` service in a real Docker engine, one release at a time.

Blue's container is what the documents ask for: healthy, non-root, CPU and memory limits,
a pinned tag, restart `unless-stopped`, read-only root, rotated logs, quiet. Green's is the
release that slipped: root, unlimited, `:latest`, an added capability, no rotation, an
ERROR line at start and a health check that fails. Switching releases replaces the
container, as a compose deploy would. Containers are found by their compose labels, so a
demo only ever touches its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from gonogo.demo.config import DemoConfig
from gonogo.docker_engine import Engine
from gonogo.docker_images import build_image
from gonogo.errors import DemoError

__all__ = ["SERVICE", "WorkerState", "ensure_worker", "remove_workers", "worker_state"]

SERVICE = "worker"
_RELEASE_LABEL = "org.gonogo.demo.release"
_SECOND_NS = 1_000_000_000
_IMAGES = {"blue": "gonogo-demo-worker:1.4.2", "green": "gonogo-demo-worker:latest"}
_DOCKERFILES = {
    "blue": "FROM {base}\nUSER app\nWORKDIR /www\n",
    # No USER: the image runs as root, the regression the non-root check catches.
    "green": "FROM {base}\nWORKDIR /www\n",
}
_POLL_S = 0.25


@dataclass(frozen=True)
class WorkerState:
    """The demo's worker container as found now: running, its main pid, which release."""

    running: bool
    pid: int | None = None
    release: str = ""


def ensure_worker(config: DemoConfig, colour: str, engine: Engine, deadline: float) -> str:
    """The worker of `colour`, running (and healthy for blue); others of this demo removed."""
    client = engine.client()
    try:
        ours = _containers(client, config)
        keep = [c for c in ours if c.labels.get(_RELEASE_LABEL) == colour and c.status == "running"]
        for container in ours:
            if container not in keep:
                container.remove(force=True)
        container = keep[0] if keep else _start(client, config, colour)
        _wait(container, colour, deadline)
        return str(container.short_id)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DemoError(f"worker ({colour}) on {engine.base_url}: {exc}") from None
    finally:
        client.close()


def remove_workers(config: DemoConfig, engine: Engine) -> list[str]:
    """Remove this demo's worker containers; their names, for the `down` line."""
    client = engine.client()
    try:
        removed = []
        for container in _containers(client, config):
            container.remove(force=True)
            removed.append(str(container.name))
        return removed
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DemoError(f"removing the demo's worker on {engine.base_url}: {exc}") from None
    finally:
        client.close()


def worker_state(config: DemoConfig, engine: Engine | None) -> WorkerState:
    if engine is None:
        return WorkerState(running=False)
    client = engine.client(timeout_s=5.0)
    try:
        for container in _containers(client, config):
            if container.status == "running":
                pid = int(container.attrs["State"].get("Pid") or 0) or None
                return WorkerState(True, pid, container.labels.get(_RELEASE_LABEL, ""))
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        pass
    finally:
        client.close()
    return WorkerState(running=False)


def _containers(client: docker.DockerClient, config: DemoConfig) -> list[Any]:
    labels = [
        f"com.docker.compose.project={config.project}",
        f"com.docker.compose.service={SERVICE}",
    ]
    return list(client.containers.list(all=True, filters={"label": labels}))


def _start(client: docker.DockerClient, config: DemoConfig, colour: str) -> Any:
    image = build_image(client, _IMAGES[colour], _DOCKERFILES[colour])
    listen = f"{config.host}:{config.worker_port}"
    serve = ["httpd", "-f", "-v", "-p", listen, "-h", "/www"]
    labels = {
        "com.docker.compose.project": config.project,
        "com.docker.compose.service": SERVICE,
        _RELEASE_LABEL: colour,
    }
    common: dict[str, Any] = {
        "name": f"{config.project}-{SERVICE}-{colour}",
        "labels": labels,
        "network_mode": "host",
        "detach": True,
    }
    if colour == "blue":
        return client.containers.run(
            image,
            serve,
            healthcheck=_healthcheck(f"http://{listen}/"),
            mem_limit="64m",
            nano_cpus=_SECOND_NS // 4,
            restart_policy={"Name": "unless-stopped"},
            read_only=True,
            log_config={"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
            **common,
        )
    complaint = "ERROR worker: queue at 127.0.0.1:5672 refused the connection"
    start = f"echo '{complaint}' >&2; exec {' '.join(serve)}"
    return client.containers.run(
        image,
        ["sh", "-c", start],
        healthcheck=_healthcheck(f"http://{listen}/health"),  # httpd has no /health: 404
        cap_add=["NET_ADMIN"],
        log_config={"Type": "json-file", "Config": {}},
        **common,
    )


def _healthcheck(url: str) -> dict[str, Any]:
    return {
        "test": ["CMD-SHELL", f"wget -q -O /dev/null {url} || exit 1"],
        "interval": _SECOND_NS,
        "timeout": 2 * _SECOND_NS,
        "retries": 2,
    }


def _wait(container: Any, colour: str, deadline: float) -> None:
    """Blue must be healthy before `up` returns; green only running (its health fails)."""
    while True:
        container.reload()
        state = container.attrs["State"]
        health = (state.get("Health") or {}).get("Status")
        if state["Status"] == "running" and (colour != "blue" or health == "healthy"):
            return
        if state["Status"] in ("exited", "dead"):
            logs = container.logs(tail=10).decode(errors="replace")
            raise DemoError(
                f"worker ({colour}) exited with status {state.get('ExitCode')}; last lines:\n{logs}"
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"worker ({colour}) not ready in time: status {state['Status']}, health {health}"
            )
        time.sleep(_POLL_S)
