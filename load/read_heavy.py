"""Read-heavy traffic: GETs spread evenly over a few paths, as most production traffic is.

GONOGO_LOAD_PATHS: comma-separated paths, each its own request name (default
"/api/v1/status,/api/v1/catalog"). Run by gonogo, the file also honours GONOGO_LOAD_SCENARIO:
the environment's default headers, its TLS trust and the scenario's wait. Run by hand, it needs
only `--host`. It imports nothing of gonogo: the runner adds the recorder itself.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable
from typing import Any

from locust import FastHttpUser, between

_SETTINGS = json.loads(os.environ.get("GONOGO_LOAD_SCENARIO", "{}"))
_PATHS = [
    path.strip()
    for path in os.environ.get("GONOGO_LOAD_PATHS", "/api/v1/status,/api/v1/catalog").split(",")
    if path.strip()
]


def _reader(path: str) -> Callable[[FastHttpUser], None]:
    def read(user: FastHttpUser) -> None:
        user.client.get(path, name=path)

    return read


def _trusting(ca_file: str) -> Callable[..., ssl.SSLContext]:
    """geventhttpclient calls the factory with a `cafile` of its own (certifi's bundle): the
    factory ignores what it is given, so the environment's CA is the one trusted."""

    def context(*_: Any, **__: Any) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=ca_file)

    return context


class ReadHeavyUser(FastHttpUser):
    wait_time = between(*_SETTINGS.get("wait_s", (0, 0)))
    default_headers = _SETTINGS.get("headers") or None
    insecure = not _SETTINGS.get("verify", False)  # by hand: Locust's default, no checks
    if _SETTINGS.get("verify") and _SETTINGS.get("ca_file"):
        ssl_context_factory = _trusting(_SETTINGS["ca_file"])
    tasks = [_reader(path) for path in _PATHS]  # noqa: RUF012 - Locust reads the class attribute
