"""A small real HTTP service for plugin tests: uvicorn serving a Starlette app in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


async def _live(request: Request) -> Response:
    return JSONResponse({"status": "alive", "checks": {"db": {"status": "ok"}}})


async def _not_ready(request: Request) -> Response:
    return JSONResponse({"status": "not ready"}, status_code=503)


async def _slow(request: Request) -> Response:
    await asyncio.sleep(0.3)
    return JSONResponse({"status": "slow"})


async def _not_json(request: Request) -> Response:
    return PlainTextResponse("<html>oops</html>")


async def _echo_auth(request: Request) -> Response:
    """Echoes the credential back, as careless error pages do, to prove redaction."""
    return JSONResponse({"detail": f"bad token {request.headers.get('authorization')}"}, 403)


app = Starlette(
    routes=[
        Route("/health/live", _live),
        Route("/health/ready", _not_ready),
        Route("/slow", _slow),
        Route("/not-json", _not_json),
        Route("/echo-auth", _echo_auth),
    ]
)


@contextmanager
def serve(application: Starlette = app, log_level: str = "warning") -> Iterator[str]:
    """Run an app (by default the one above) on a free loopback port; yields its base URL and
    stops it afterwards."""
    # IPPROTO_TCP, not 0: only then does asyncio set TCP_NODELAY, and without it a kept-alive
    # connection waits ~40 ms (delayed ACK) on every response of a timed test.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(application, log_level=log_level, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
