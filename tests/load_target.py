"""A load target whose truth is known: server-side delays from a fixed cycle, exact failures.

`/delayed` sleeps through a shuffled cycle of 100 delays (60 x 20 ms, 30 x 40 ms, 8 x 100 ms,
2 x 300 ms) and answers every 50th request with a 500 (2 %); `/fast` answers at once, so its
latency is what the loopback, the server and the client add to every request. Counting when the
answer is sent lets a test compare the served requests with the recorded ones exactly.

Served from a thread like tests/asgi_server.py, but on a socket made with IPPROTO_TCP: asyncio
sets TCP_NODELAY only on such sockets, and without it every answer on a kept-alive connection
waits some 40 ms for a delayed ACK (Nagle), which would swamp the delays under test.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.asgi_server import serve

_CYCLE = [0.020] * 60 + [0.040] * 30 + [0.100] * 8 + [0.300] * 2
random.Random(7).shuffle(_CYCLE)  # noqa: S311 - a fixed order, not a secret


@dataclass
class Served:
    """What the target answered, as the server saw it."""

    delays_ms: list[float] = field(default_factory=list)  # measured, per answered /delayed
    authorizations: set[str] = field(default_factory=set)  # as /delayed received them
    failed: int = 0
    fast: int = 0
    arrived: int = 0


@contextmanager
def serve_target() -> Iterator[tuple[str, Served]]:
    """The target on a free loopback port: its base URL and its counters; stopped afterwards."""
    application, served = _target()
    with serve(application) as url:
        yield url, served


def _target() -> tuple[Starlette, Served]:
    served = Served()

    async def delayed(request: Request) -> Response:
        started = time.perf_counter()
        index = served.arrived
        served.arrived += 1
        served.authorizations.add(request.headers.get("authorization", ""))
        await asyncio.sleep(_CYCLE[index % len(_CYCLE)])
        served.delays_ms.append((time.perf_counter() - started) * 1000)  # the loop may oversleep
        if index % 50 == 49:
            served.failed += 1
            return PlainTextResponse("planned failure", status_code=500)
        return PlainTextResponse("ok")

    async def fast(request: Request) -> Response:
        served.fast += 1
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/delayed", delayed), Route("/fast", fast)]), served
