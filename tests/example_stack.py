"""A local reproduction of a reference example's edge: its API as a stand-in upstream, and
the example run against it with `pytest --env examples/NAME.yaml`, as a reader would run it.

The stand-in answers the document's health endpoints with the document's own bodies; nginx
(tests/nginx_server.py) and the real stores (tests/dependency_servers.py) are started by each
example's test, since their configuration is the document's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, start_http_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gonogo.demo._prometheus import prometheus_argv
from gonogo.probes.prometheus import instant_query
from tests.asgi_server import serve
from tests.nginx_server import free_ports
from tests.server_kit import HOST, end, spawn, wait_until

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Answer:
    """What the stand-in answers on one path: a status, a JSON body, extra headers."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@contextmanager
def stand_in(answers: Mapping[str, Answer]) -> Iterator[str]:
    """The document's API as far as the checks see it, on a free loopback port; yields its
    base URL (http://127.0.0.1:PORT). Any other path answers 404 with a JSON body."""

    def route(answer: Answer) -> Any:
        async def respond(request: Request) -> Response:
            return JSONResponse(answer.body, answer.status, answer.headers)

        return respond

    methods = ["GET", "HEAD", "POST"]
    app = Starlette(routes=[Route(path, route(a), methods=methods) for path, a in answers.items()])
    with serve(app) as url:
        yield url


@contextmanager
def serving_metrics(
    registry: CollectorRegistry, tick: Callable[[], None] | None = None
) -> Iterator[str]:
    """`registry` on a loopback /metrics; `tick` runs every 20 ms (steady traffic) until the
    end. Yields host:port, the form a scrape target takes."""
    stop = threading.Event()

    def traffic() -> None:
        while tick is not None and not stop.wait(0.02):
            tick()

    server, thread = start_http_server(0, addr=HOST, registry=registry)
    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        yield f"{HOST}:{server.server_port}"
    finally:
        stop.set()
        worker.join(timeout=5)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running_prometheus(
    directory: Path, scrape_configs: list[dict[str, Any]], ready_query: str
) -> Iterator[str]:
    """The distribution's Prometheus scraping every second, until `ready_query` has a result
    (rates need two scrapes); yields its URL and stops it by its pid afterwards."""
    config = directory / "prometheus.yml"
    global_ = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config.write_text(yaml.safe_dump({"global": global_, "scrape_configs": scrape_configs}))
    (port,) = free_ports(1)
    url = f"http://{HOST}:{port}"
    log = directory / "prometheus.log"
    argv = prometheus_argv(
        "/usr/bin/prometheus", config=config, data_dir=directory / "data", port=port
    )
    process = spawn(argv, log)
    try:

        def ready() -> None:
            if not instant_query(url, ready_query, timeout_s=2):
                raise AssertionError(f"no result yet for {ready_query}")

        wait_until(ready, process, log, "prometheus's first rates", 30)
        yield url
    finally:
        end(process)


def run_example(
    name: str, variables: Mapping[str, str], report_dir: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`pytest --env examples/NAME.yaml` in its own process; its output and decision record."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--env={EXAMPLES / name}",
            f"--report-dir={report_dir}",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=REPO,
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=300,
    )
    record_file = report_dir / "decision.json"
    if not record_file.is_file():
        raise AssertionError(f"no decision record; pytest said:\n{done.stdout[-3000:]}")
    return done, json.loads(record_file.read_text())


def outcomes(record: Mapping[str, Any]) -> dict[str, str]:
    """Each check's id and outcome (passed, failed, error, skipped)."""
    return {check["id"]: check["outcome"] for check in record["checks"]}


def not_passed(record: Mapping[str, Any]) -> set[str]:
    return {check for check, outcome in outcomes(record).items() if outcome != "passed"}
