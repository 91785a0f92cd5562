"""A real webhook receiver on loopback: it records every request, refuses on /fail and
redirects on /moved, for the notifier's tests and the suite's notification tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.asgi_server import serve


@dataclass
class Receiver:
    """Every request it was sent, in order: path, lower-cased headers, body."""

    base_url: str
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[Any]:
        return [json.loads(body) for _, _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    record: list[tuple[str, dict[str, str], bytes]] = []

    async def accept(request: Request) -> Response:
        record.append((request.url.path, dict(request.headers), await request.body()))
        if request.url.path.endswith("/fail"):
            return PlainTextResponse(f"no_service at {request.url.path}", status_code=500)
        if request.url.path.endswith("/moved"):
            return RedirectResponse("/elsewhere", status_code=302)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/{path:path}", accept, methods=["POST"])])
    with serve(app) as base_url:
        yield Receiver(base_url, record)
