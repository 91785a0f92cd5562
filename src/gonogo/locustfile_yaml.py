"""The locustfile for a YAML scenario: one weighted task per request, and a shape for stages.

Loaded only by Locust (`-f`), like the recorder it imports. The scenario comes as JSON in
GONOGO_LOAD_SCENARIO, not as arguments, because its headers may carry tokens and arguments are
visible to every user of the machine. Each request's headers arrive already merged with the
environment's defaults. Redirects are not followed, so a status is the request's own, as in the
HTTP probe. A request goes only to the scenario's host (the environment's base_url): one whose
URL would go elsewhere is never sent, and each time it is due it counts as a failure.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import sys
from collections.abc import Callable
from typing import Any

from locust import FastHttpUser, LoadTestShape, between

import gonogo.locust_recorder  # noqa: F401  (registers the recording listeners)
from gonogo.declared_hosts import DeclaredHosts, host_of

_SCENARIO: dict[str, Any] = json.loads(os.environ["GONOGO_LOAD_SCENARIO"])
_ABSOLUTE = re.compile(r"^https?://", re.IGNORECASE)  # what FastHttpSession sends as given


class RefusedError(Exception):
    """A request whose URL names a host other than the scenario's: not sent."""


def _refusal(request: dict[str, Any], host: str) -> str | None:
    """Why the request may not be sent, or None: the URL Locust would build (an absolute one as
    given, anything else appended to `host`, the base URL) must name the base URL's host."""
    path = str(request["path"])
    if path.startswith("//"):
        # geventhttpclient would raise on it inside the task, where Locust counts no request.
        return (
            f"request {request['name']}: {path} starts with //, which reads as another host "
            "(//host/path); not sent"
        )
    url = path if _ABSOLUTE.match(path) else f"{host}{path}"
    if DeclaredHosts.of_urls([host]).allows_url(url):
        return None
    return (
        f"request {request['name']}: {url} goes to {host_of(url) or 'no host'}, not to "
        f"{host_of(host)}, the host the environment declares; not sent"
    )


def _task(request: dict[str, Any]) -> Callable[[FastHttpUser], None]:
    """A task judging the status as the scenario says: listed statuses, else anything below 400.
    No status at all (no answer) is left to Locust, which already counts it as a failure."""
    expected: list[int] | None = request["expect_status"]
    refusal = _refusal(request, _SCENARIO["host"])
    if refusal is not None:
        print(f"gonogo load: {refusal}", file=sys.stderr)

    def run(user: FastHttpUser) -> None:
        if refusal is not None:
            user.environment.events.request.fire(
                request_type=request["method"],
                name=request["name"],
                response_time=0,
                response_length=0,
                response=None,
                context={},
                exception=RefusedError(refusal),
            )
            return
        with user.client.request(
            request["method"],
            request["path"],
            name=request["name"],
            headers=request["headers"],
            json=request["json"],
            allow_redirects=False,
            catch_response=True,
        ) as response:
            status = response.status_code
            if not status:
                return
            if status in expected if expected else status < 400:
                response.success()
            else:
                response.failure(f"status {status}, expected {expected or 'below 400'}")

    return run


def _tls_factory() -> Callable[..., ssl.SSLContext] | None:
    """A CA file becomes the only trust store; without one, Locust's default (or no checks).

    geventhttpclient calls the factory with its own `cafile` (certifi's bundle), so the
    factory takes and ignores whatever it is given: the environment's CA must win.
    """
    ca_file = _SCENARIO["ca_file"]
    if not (_SCENARIO["verify"] and ca_file):
        return None

    def context(*_: Any, **__: Any) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=ca_file)

    return context


class ScenarioUser(FastHttpUser):
    host = _SCENARIO["host"]
    wait_time = between(*_SCENARIO["wait_s"])
    insecure = not _SCENARIO["verify"]
    ssl_context_factory = _tls_factory()
    # A task listed `weight` times is what Locust makes of {task: weight} too.
    tasks = [  # noqa: RUF012  (Locust reads the class attribute)
        task for request in _SCENARIO["requests"] for task in [_task(request)] * request["weight"]
    ]


if _SCENARIO["stages"]:

    class StagedShape(LoadTestShape):
        """Each stage's users at its spawn rate for its duration; then the run ends."""

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()  # type: ignore[no-untyped-call]
            end = 0.0
            for stage in _SCENARIO["stages"]:
                end += stage["duration_s"]
                if elapsed < end:
                    return int(stage["users"]), float(stage["spawn_rate"])
            return None
