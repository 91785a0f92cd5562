"""The HTTP probe against real servers: facts on success, a clear reason when there is no answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from gonogo.demo.deployment import DemoConfig
from gonogo.errors import TargetUnreachableError
from gonogo.probes.http import fetch, tls_context
from tests.asgi_server import serve


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


def test_answer_is_recorded_as_facts(service: str) -> None:
    response = fetch(f"{service}/health/live", timeout_s=5)
    assert (response.status, response.method, response.http_version) == (200, "GET", "HTTP/1.1")
    assert response.json() == {"status": "alive", "checks": {"db": {"status": "ok"}}}
    assert response.headers["content-type"] == "application/json"
    assert 0 < response.elapsed_ms < 5000


def test_body_is_capped(service: str) -> None:
    response = fetch(f"{service}/not-json", timeout_s=5, max_body_bytes=5)
    assert (response.body, response.truncated) == (b"<html", True)
    with pytest.raises(ValueError, match="not parsed"):
        response.json()


def test_non_json_body_says_why(service: str) -> None:
    response = fetch(f"{service}/not-json", timeout_s=5)
    with pytest.raises(ValueError, match="body is not JSON"):
        response.json()
    assert response.excerpt() == "<html>oops</html>"


def test_refused_connection(service: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(TargetUnreachableError) as caught:
        fetch(f"http://127.0.0.1:{port}/x", timeout_s=2)
    assert (
        str(caught.value)
        == f"GET http://127.0.0.1:{port}/x: connection refused (nothing listening?)"
    )


def test_silent_server_times_out_within_the_deadline(silent_port: int) -> None:
    with pytest.raises(TargetUnreachableError) as caught:
        fetch(f"http://127.0.0.1:{silent_port}/", timeout_s=0.3)
    assert "no complete answer within 0.3 s" in str(caught.value)


def test_tls_against_the_demo_ca_and_against_the_system_store(demo: DemoConfig) -> None:
    response = fetch(f"{demo.url}/health/live", timeout_s=5, tls=tls_context(demo.ca_file))
    assert response.status == 200
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    with pytest.raises(TargetUnreachableError) as caught:
        fetch(f"{demo.url}/health/live", timeout_s=5, tls=tls_context(None))
    reason = "TLS certificate rejected: self-signed certificate in certificate chain"
    assert reason in str(caught.value)


def test_gzip_answers_are_decoded(demo: DemoConfig) -> None:
    response = fetch(
        f"{demo.url}/api/v1/catalog",
        headers={"accept-encoding": "gzip"},
        timeout_s=5,
        tls=tls_context(demo.ca_file),
    )
    assert response.headers.get("content-encoding") == "gzip"
    assert len(response.json()["products"]) == 3
