"""Signed-in browsing: each user logs in once, then lists items with its bearer token.

GONOGO_LOAD_USERNAME and GONOGO_LOAD_PASSWORD (default: the demo's "demo" and
$GONOGO_DEMO_PASSWORD); GONOGO_LOAD_LOGIN_PATH (default /api/v1/login, JSON username and
password, answering {"access_token": ...}) and GONOGO_LOAD_BROWSE_PATH (default /api/v1/items).
A user whose login fails stops there, counted as one failed "login", rather than browsing
without a token: its 401s would time the wrong thing. Run by gonogo, the file also honours
GONOGO_LOAD_SCENARIO (default headers, TLS trust, wait); it imports nothing of gonogo.
"""

from __future__ import annotations

import functools
import json
import os
import ssl

from locust import FastHttpUser, between, task
from locust.exception import StopUser

_SETTINGS = json.loads(os.environ.get("GONOGO_LOAD_SCENARIO", "{}"))
_USERNAME = os.environ.get("GONOGO_LOAD_USERNAME", "demo")
_PASSWORD = os.environ.get("GONOGO_LOAD_PASSWORD") or os.environ.get("GONOGO_DEMO_PASSWORD", "")
_LOGIN_PATH = os.environ.get("GONOGO_LOAD_LOGIN_PATH", "/api/v1/login")
_BROWSE_PATH = os.environ.get("GONOGO_LOAD_BROWSE_PATH", "/api/v1/items")


def _token(body: str | None) -> str | None:
    try:
        answer = json.loads(body or "")
    except ValueError:
        return None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    return token if isinstance(token, str) else None


class BrowsingUser(FastHttpUser):
    wait_time = between(*_SETTINGS.get("wait_s", (0, 0)))
    default_headers = _SETTINGS.get("headers") or None
    insecure = not _SETTINGS.get("verify", False)  # by hand: Locust's default, no checks
    if _SETTINGS.get("verify") and _SETTINGS.get("ca_file"):
        ssl_context_factory = functools.partial(
            ssl.create_default_context, cafile=_SETTINGS["ca_file"]
        )

    def on_start(self) -> None:
        credentials = {"username": _USERNAME, "password": _PASSWORD}
        with self.client.post(
            _LOGIN_PATH, json=credentials, name="login", catch_response=True
        ) as response:
            token = _token(response.text) if response.status_code == 200 else None
            if not token:
                response.failure(f"login answered {response.status_code} without a token")
                raise StopUser
        self.authorization = {"Authorization": f"Bearer {token}"}

    @task
    def browse(self) -> None:
        self.client.get(_BROWSE_PATH, name="items", headers=self.authorization)
