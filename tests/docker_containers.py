"""Real containers for the container tests: a Docker engine, the test images, and a factory.

Every container this session creates carries the label org.gonogo.test=<session id> and a
name made of the pid and a counter, so parallel workers never see each other's containers.
They are removed by id when the session ends, and gonogo's own engine is stopped if that
leaves it empty.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import pytest
import requests.exceptions

from gonogo.docker_engine import Engine, ensure_engine, stop_own_engine_if_idle
from gonogo.docker_images import build_image
from gonogo.environment_inside import ContainerSelector
from gonogo.errors import DemoError
from gonogo.probes.containers import close_clients

SESSION_LABEL = "org.gonogo.test"
ROLE_LABEL = "org.gonogo.test.role"
REPOSITORY = "gonogo-test-containers"

# Serves /www on 127.0.0.1:$PORT (host network) and checks itself with wget every second.
HEALTHY_DOCKERFILE = """\
FROM {base}
USER app
ENV PORT=8080
HEALTHCHECK --interval=1s --timeout=2s --retries=1 \
  CMD wget -q -O /dev/null http://127.0.0.1:$PORT/ || exit 1
CMD httpd -f -h /www -p 127.0.0.1:$PORT
"""
# No USER, no HEALTHCHECK: root, and health unknown.
ROOT_DOCKERFILE = """\
FROM {base}
CMD ["sleep", "600"]
"""


@dataclass
class DockerLab:
    """The engine, the images, and every container made through `run` (ids, for cleanup)."""

    engine: str
    client: docker.DockerClient
    session: str
    healthy_image: str
    root_image: str
    latest_image: str
    created: list[str] = field(default_factory=list)
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def run(self, role: str, image: str, *, labels: dict[str, str] | None = None, **kw: Any):
        """Create and start a container labelled with this session and `role`."""
        name = f"gonogo-test-{os.getpid()}-{next(self._counter)}"
        all_labels = {SESSION_LABEL: self.session, ROLE_LABEL: role, **(labels or {})}
        container = self.client.containers.create(image, name=name, labels=all_labels, **kw)
        self.created.append(container.id)  # before start: a failed start is cleaned up too
        container.start()
        return container

    def select(self, role: str) -> ContainerSelector:
        return ContainerSelector(labels={SESSION_LABEL: self.session, ROLE_LABEL: role})

    def remove_all(self) -> None:
        for container_id in self.created:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(container_id, force=True)
        self.created.clear()


def engine_or_fail() -> Engine:
    """A Docker engine that answers (gonogo's own if none did), or the test fails saying why."""
    try:
        return ensure_engine()
    except DemoError as exc:
        pytest.fail(f"container tests need a Docker engine: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def docker_lab() -> Iterator[DockerLab]:
    """A Docker engine with the test images built; this session's containers removed at the end."""
    engine = engine_or_fail()
    client = engine.client(timeout_s=60)
    try:
        lab = DockerLab(
            engine=engine.base_url,
            client=client,
            session=f"{os.getpid()}-{secrets.token_hex(4)}",
            healthy_image=build_image(client, f"{REPOSITORY}:healthy-1", HEALTHY_DOCKERFILE),
            root_image=build_image(client, f"{REPOSITORY}:root-1", ROOT_DOCKERFILE),
            latest_image=build_image(client, f"{REPOSITORY}:latest", ROOT_DOCKERFILE),
        )
        try:
            yield lab
        finally:
            lab.remove_all()
    finally:
        client.close()
        close_clients()
        stop_own_engine_if_idle()


def free_ports(count: int) -> list[int]:
    """`count` distinct 127.0.0.1 ports nothing listens on right now, ascending."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return sorted(int(probe.getsockname()[1]) for probe in probes)


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll `condition` every 0.2 s until it holds; fail the test with `what` if it never does."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(
            docker.errors.DockerException, requests.exceptions.RequestException
        ):
            if condition():
                return
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout_s:g} s waiting for {what}", pytrace=False)
        time.sleep(0.2)
