"""The limit probes against a real nginx: 413 before the body, 429 after the burst, and never
more requests or bytes than the probe promises (counted in nginx's own access log)."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gonogo.errors import TargetUnreachableError
from gonogo.probes.limits import MAX_BODY_BYTES, burst, oversized_body
from tests.certificates import Leaf, trusted_leaf
from tests.nginx_server import free_ports, running_nginx

MIB = 1024 * 1024


@dataclass(frozen=True)
class Site:
    plain: str  # http://127.0.0.1:port
    secure: str  # https://127.0.0.1:port, certificate from the test CA
    tls: ssl.SSLContext  # trusts the test CA
    log: Path  # one line per request: port, connection number, method, URI, status


def _servers(directory: Path, leaf: Leaf, plain: int, secure: int, backend: int) -> str:
    # proxy_pass reads the whole body before passing it on, as an application would. It also
    # answers in the content phase, after limit_req; `return` would answer before it runs.
    uploads = f"""
        client_max_body_size 1k;
        location = /upload {{ proxy_pass http://127.0.0.1:{backend}/stored; }}
        access_log "{directory}/requests.log" limits;"""
    return f"""
    log_format limits '$server_port $connection $request_method $request_uri $status';
    limit_req_zone $binary_remote_addr zone=strict:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=paced:1m rate=10r/s;
    server {{
        listen 127.0.0.1:{plain};
        {uploads}
        location = /hang-up {{ client_max_body_size 512m; return 444; }}
        location = /limited {{
            limit_req zone=strict burst=2 nodelay;
            limit_req_status 429;
            error_page 429 = @limited;
            proxy_pass http://127.0.0.1:{backend}/stored;
        }}
        location @limited {{ add_header Retry-After 60 always; return 429 "slow down\\n"; }}
        location = /open {{ return 200 "ok\\n"; }}
        location = /paced {{
            limit_req zone=paced burst=1000;
            proxy_pass http://127.0.0.1:{backend}/stored;
        }}
    }}
    server {{
        listen 127.0.0.1:{secure} ssl;
        ssl_certificate "{leaf.pem}";
        ssl_certificate_key "{leaf.key}";
        {uploads}
    }}
    server {{
        listen 127.0.0.1:{backend};
        access_log off;
        location = /stored {{ return 200 "stored\\n"; }}
    }}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One nginx: a 1 KiB body limit over HTTP and HTTPS, and rate-limited locations."""
    leaf, ca = trusted_leaf(tmp_path_factory.mktemp("pki"))
    directory = tmp_path_factory.mktemp("nginx")
    ports = free_ports(3)
    with running_nginx(directory, _servers(directory, leaf, *ports), ports):
        yield Site(
            plain=f"http://127.0.0.1:{ports[0]}",
            secure=f"https://127.0.0.1:{ports[1]}",
            tls=ssl.create_default_context(cafile=str(ca)),
            log=directory / "requests.log",
        )


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_ports(1)[0]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose backlog completes connections that nobody ever reads or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def _mark(site: Site) -> int:
    return len(site.log.read_text().splitlines())


def _requests_since(site: Site, mark: int, expected: int) -> list[list[str]]:
    """The log lines (split) written after `mark`, once there are `expected` of them.

    nginx logs a request just after answering it, so the last line can trail the answer;
    a short wait after that would let an unexpected extra line show up too.
    """
    deadline = time.monotonic() + 5
    while len(site.log.read_text().splitlines()) - mark < expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    time.sleep(0.2)
    return [line.split() for line in site.log.read_text().splitlines()[mark:]]


def _url(site: Site, scheme: str, path: str) -> str:
    return f"{site.plain if scheme == 'http' else site.secure}{path}"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_body_over_the_limit_gets_413(site: Site, scheme: str) -> None:
    fact = oversized_body(_url(site, scheme, "/upload"), size_bytes=2048, timeout_s=5, tls=site.tls)
    assert (fact.status, fact.declared_bytes) == (413, 2048)
    assert 0 <= fact.sent_bytes <= 2048
    assert fact.detail.startswith("answered 'HTTP/1.1 413 Request Entity Too Large' after sending ")
    assert 0 < fact.elapsed_ms < 5000


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_body_under_the_limit_reaches_the_application(site: Site, scheme: str) -> None:
    fact = oversized_body(_url(site, scheme, "/upload"), size_bytes=512, timeout_s=5, tls=site.tls)
    assert (fact.status, fact.sent_bytes, fact.declared_bytes) == (200, 512, 512)
    assert fact.detail == "answered 'HTTP/1.1 200 OK' after sending 512 of 512 body bytes"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_sending_stops_once_the_server_answers(site: Site, scheme: str) -> None:
    fact = oversized_body(
        _url(site, scheme, "/upload"), size_bytes=64 * MIB, timeout_s=10, tls=site.tls
    )
    assert fact.status == 413
    assert fact.sent_bytes < 64 * MIB  # nginx answered on reading Content-Length
    assert fact.detail.endswith(f"of {64 * MIB} body bytes")


def test_hang_up_before_any_answer_is_a_fact_not_an_error(site: Site) -> None:
    # nginx's `return 444` closes without answering: seen as closed, or as reset when body
    # bytes were still unread on nginx's side; which one depends on timing.
    # Far more than loopback socket buffers hold, so the hang-up comes before the last byte.
    fact = oversized_body(f"{site.plain}/hang-up", size_bytes=64 * MIB, timeout_s=5)
    assert fact.status is None
    assert fact.sent_bytes < 64 * MIB
    assert fact.detail.startswith("connection ")
    assert fact.detail.endswith(
        f"by the server after sending {fact.sent_bytes} of {64 * MIB} body bytes, before any answer"
    )


def test_refused_connection_raises(closed_port: int) -> None:
    with pytest.raises(
        TargetUnreachableError,
        match=rf"POST http://127.0.0.1:{closed_port}/: connection refused \(nothing listening\?\)",
    ):
        oversized_body(f"http://127.0.0.1:{closed_port}/", size_bytes=2048, timeout_s=5)


def test_untrusted_certificate_raises(site: Site) -> None:
    with pytest.raises(TargetUnreachableError, match="/upload: TLS certificate rejected: "):
        oversized_body(f"{site.secure}/upload", size_bytes=2048, timeout_s=5)


def test_tls_to_a_plain_port_raises(site: Site) -> None:
    port = site.plain.rsplit(":", 1)[1]
    with pytest.raises(TargetUnreachableError, match="TLS handshake failed: WRONG_VERSION_NUMBER"):
        oversized_body(f"https://127.0.0.1:{port}/upload", size_bytes=2048, timeout_s=5)


@pytest.mark.parametrize("size", [2048, 64 * MIB], ids=["all-sent", "stuck-sending"])
def test_silence_raises_after_the_deadline(silent_port: int, size: int) -> None:
    started = time.monotonic()
    with pytest.raises(
        TargetUnreachableError, match=rf"no answer within 0\.5 s \(sent \d+ of {size} body bytes\)"
    ):
        oversized_body(f"http://127.0.0.1:{silent_port}/", size_bytes=size, timeout_s=0.5)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("size", [-1, MAX_BODY_BYTES + 1])
def test_size_outside_the_cap_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match=f"size_bytes must be 0 to {MAX_BODY_BYTES}, got {size}"):
        oversized_body("http://127.0.0.1:1/", size_bytes=size, timeout_s=1)


@pytest.mark.parametrize(
    ("url", "method", "content_type", "message"),
    [
        ("http://127.0.0.1:1/", "POST / HTTP/1.0\r\n", "text/plain", "is not an HTTP method name"),
        ("http://127.0.0.1:1/", "POST", "text/plain\r\nX-Injected: 1", "would break the request"),
        ("ftp://127.0.0.1:1/", "POST", "text/plain", "only http and https URLs can be probed"),
    ],
    ids=["method", "content-type", "scheme"],
)
def test_request_that_cannot_be_written_is_refused(
    url: str, method: str, content_type: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        oversized_body(url, size_bytes=1, method=method, content_type=content_type, timeout_s=1)


def test_burst_stops_at_the_first_limited_answer(site: Site) -> None:
    # rate=1r/m with burst=2 nodelay: one request, two more in the burst, then 429.
    mark = _mark(site)
    fact = burst(f"{site.plain}/limited", count=10, timeout_s=5, within_s=60)
    lines = _requests_since(site, mark, 4)
    assert fact.statuses == (200, 200, 200, 429)
    assert (fact.first_limited, fact.retry_after) == (4, "60")
    assert [(line[3], line[4]) for line in lines] == [
        ("/limited", s) for s in ("200",) * 3 + ("429",)
    ]
    assert len({line[1] for line in lines}) == 1  # one keep-alive connection


def test_burst_without_a_limit_sends_exactly_count(site: Site) -> None:
    mark = _mark(site)
    fact = burst(f"{site.plain}/open", count=10, timeout_s=5, within_s=60)
    lines = _requests_since(site, mark, 10)
    assert fact.statuses == (200,) * 10
    assert (fact.first_limited, fact.retry_after) == (None, None)
    assert len(lines) == 10
    assert len({line[1] for line in lines}) == 1


def test_burst_stops_when_its_window_has_passed(site: Site) -> None:
    # nginx holds each request to 10 per second, so a 0.35 s window fits about four.
    mark = _mark(site)
    fact = burst(f"{site.plain}/paced", count=100, timeout_s=5, within_s=0.35)
    lines = _requests_since(site, mark, len(fact.statuses))
    assert 2 <= len(fact.statuses) <= 6
    assert set(fact.statuses) == {200}
    assert fact.first_limited is None
    assert fact.elapsed_s < 1.5
    assert len(lines) == len(fact.statuses)


def test_burst_against_nothing_raises(closed_port: int) -> None:
    with pytest.raises(
        TargetUnreachableError,
        match=r"request 1 of a burst of 3: connection refused \(nothing listening\?\) "
        r"\(0 answered before it\)",
    ):
        burst(f"http://127.0.0.1:{closed_port}/", count=3, timeout_s=5, within_s=10)


@pytest.mark.parametrize("count", [0, 1001])
def test_burst_count_outside_the_cap_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match=f"count must be 1 to 1000, got {count}"):
        burst("http://127.0.0.1:1/", count=count, timeout_s=1, within_s=1)


def test_burst_without_a_window_is_refused() -> None:
    with pytest.raises(ValueError, match="within_s must be positive, got 0"):
        burst("http://127.0.0.1:1/", count=1, timeout_s=1, within_s=0)
