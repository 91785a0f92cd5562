"""The redirect probe against a real nginx: every way a chain ends, and where it never goes."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gonogo.errors import TargetUnreachableError
from gonogo.probes.redirects import Hop, follow
from tests.certificates import Leaf, trusted_leaf
from tests.nginx_server import free_ports, running_nginx

T = TypeVar("T")


@dataclass(frozen=True)
class Site:
    plain: str  # http://127.0.0.1:port
    secure: str  # https://127.0.0.1:port, certificate from the test CA
    closed: str  # http://127.0.0.1:port with nothing listening
    tls: ssl.SSLContext  # trusts the test CA
    log: Path  # one line per request: port, method, URI, Authorization


def _servers(directory: Path, leaf: Leaf, plain: int, secure: int, closed: int) -> str:
    long_chain = "".join(
        f"location = /long/{i} {{ return 302 /long/{i + 1}; }}\n        " for i in range(6)
    )
    return f"""
    log_format hops '$server_port $request_method $request_uri "$http_authorization"';
    server {{
        listen 127.0.0.1:{plain};
        access_log "{directory}/requests.log" hops;
        location = /to-https {{ return 301 https://127.0.0.1:{secure}$request_uri; }}
        location = /found {{ absolute_redirect off; return 302 /landing; }}
        location = /permanent {{ return 308 /landing; }}
        location = /landing {{ return 200 "landed\\n"; }}
        location = /a {{ return 302 /b; }}
        location = /b {{ return 302 /a; }}
        {long_chain}location = /long/6 {{ return 200 "end of the chain\\n"; }}
        location = /elsewhere {{ return 302 http://other.example/; }}
        location = /ftp {{ return 302 ftp://files.example/pub; }}
        location = /empty-location {{ return 302; }}
        location = /no-location {{ error_page 418 =302 /landing; return 418; }}
        location = /bad-location {{ return 302 "http://127.0.0.1:port/"; }}
        location = /dead-end {{ return 302 http://127.0.0.1:{closed}/; }}
    }}
    server {{
        listen 127.0.0.1:{secure} ssl;
        ssl_certificate "{leaf.pem}";
        ssl_certificate_key "{leaf.key}";
        access_log "{directory}/requests.log" hops;
        return 200 "secure\\n";
    }}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One nginx with a location per way a redirect chain can go; stopped by pid."""
    leaf, ca = trusted_leaf(tmp_path_factory.mktemp("pki"))
    directory = tmp_path_factory.mktemp("nginx")
    plain, secure, closed = free_ports(3)
    with running_nginx(
        directory, _servers(directory, leaf, plain, secure, closed), [plain, secure]
    ):
        yield Site(
            plain=f"http://127.0.0.1:{plain}",
            secure=f"https://127.0.0.1:{secure}",
            closed=f"http://127.0.0.1:{closed}",
            tls=ssl.create_default_context(cafile=str(ca)),
            log=directory / "requests.log",
        )


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name this process asks the resolver for while the test runs."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    return asked


def _logged(site: Site, expected: int, action: Callable[[], T]) -> tuple[T, list[str]]:
    """What `action` returned and the log lines of the requests it made (`expected` of them).

    nginx logs a request just after answering it, so the last line can trail the answer.
    """
    before = len(site.log.read_text().splitlines())
    result = action()
    deadline = time.monotonic() + 5
    while True:
        lines = site.log.read_text().splitlines()[before:]
        if len(lines) >= expected or time.monotonic() > deadline:
            return result, lines


def test_http_is_redirected_to_https_on_the_same_path(site: Site) -> None:
    chain = follow(f"{site.plain}/to-https?from=test", timeout_s=5, tls=site.tls)
    assert chain.hops == (
        Hop(f"{site.plain}/to-https?from=test", 301, f"{site.secure}/to-https?from=test"),
        Hop(f"{site.secure}/to-https?from=test", 200, None),
    )
    assert (chain.final_status, chain.loop, chain.gave_up, chain.problem) == (
        200,
        False,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [("/found", 302), ("/permanent", 308)],
    ids=["302-relative-location", "308-absolute-location"],
)
def test_location_is_resolved_against_the_request_url(site: Site, path: str, status: int) -> None:
    chain = follow(f"{site.plain}{path}", timeout_s=5)
    assert chain.hops == (
        Hop(f"{site.plain}{path}", status, f"{site.plain}/landing"),
        Hop(f"{site.plain}/landing", 200, None),
    )
    assert (chain.final_status, chain.problem) == (200, None)


def test_answer_without_redirect_is_a_chain_of_one(site: Site) -> None:
    chain = follow(f"{site.plain}/landing", timeout_s=5)
    assert chain.hops == (Hop(f"{site.plain}/landing", 200, None),)
    assert chain.final_status == 200


def test_loop_is_detected_without_requesting_a_url_twice(site: Site) -> None:
    chain, lines = _logged(site, 2, lambda: follow(f"{site.plain}/a", timeout_s=5))
    assert [hop.url for hop in chain.hops] == [f"{site.plain}/a", f"{site.plain}/b"]
    assert (chain.loop, chain.gave_up, chain.final_status) == (True, False, None)
    assert chain.problem == (f"redirect loop: {site.plain}/a -> {site.plain}/b -> {site.plain}/a")
    assert [line.split()[2] for line in lines] == ["/a", "/b"]


def test_more_redirects_than_max_hops_are_not_followed(site: Site) -> None:
    chain, lines = _logged(site, 6, lambda: follow(f"{site.plain}/long/0", timeout_s=5))
    assert [hop.status for hop in chain.hops] == [302] * 6
    assert chain.hops[-1] == Hop(f"{site.plain}/long/5", 302, f"{site.plain}/long/6")
    assert (chain.gave_up, chain.loop, chain.final_status) == (True, False, None)
    assert chain.problem == "more than 5 redirects"
    assert [line.split()[2] for line in lines] == [f"/long/{i}" for i in range(6)]


def test_a_chain_as_long_as_max_hops_is_followed_to_the_end(site: Site) -> None:
    chain = follow(f"{site.plain}/long/0", max_hops=6, timeout_s=5)
    assert [hop.status for hop in chain.hops] == [302] * 6 + [200]
    assert (chain.final_status, chain.gave_up, chain.problem) == (200, False, None)


def test_max_hops_zero_records_the_first_redirect_only(site: Site) -> None:
    chain = follow(f"{site.plain}/found", max_hops=0, timeout_s=5)
    assert chain.hops == (Hop(f"{site.plain}/found", 302, f"{site.plain}/landing"),)
    assert (chain.gave_up, chain.problem) == (True, "more than 0 redirects")


def test_negative_max_hops_is_refused() -> None:
    with pytest.raises(ValueError, match="max_hops must be 0 or more, got -1"):
        follow("http://127.0.0.1:1/", max_hops=-1, timeout_s=1)


def test_redirect_to_another_host_name_is_recorded_but_never_resolved(
    site: Site, lookups: list[str]
) -> None:
    chain, lines = _logged(site, 1, lambda: follow(f"{site.plain}/elsewhere", timeout_s=5))
    assert chain.hops == (Hop(f"{site.plain}/elsewhere", 302, "http://other.example/"),)
    assert chain.problem == (
        "redirect to http://other.example/ not followed: other.example is not declared"
    )
    assert chain.undeclared_host == "other.example"
    assert (chain.final_status, chain.loop, chain.gave_up) == (None, False, False)
    assert [line.split()[2] for line in lines] == ["/elsewhere"]
    assert "127.0.0.1" in lookups  # the spy sees what the probe resolves...
    assert "other.example" not in lookups  # ...and it never asked for the other host


def test_redirect_to_another_scheme_is_not_followed(site: Site, lookups: list[str]) -> None:
    chain = follow(f"{site.plain}/ftp", timeout_s=5)
    assert chain.hops == (Hop(f"{site.plain}/ftp", 302, "ftp://files.example/pub"),)
    assert chain.problem == "redirect to ftp://files.example/pub not followed (not http or https)"
    assert "files.example" not in lookups


@pytest.mark.parametrize(
    "path",
    ["/empty-location", "/no-location"],
    ids=["nginx-sends-empty-location", "nginx-sends-no-location"],
)
def test_redirect_without_location_ends_the_chain(site: Site, path: str) -> None:
    # `return 302;` makes nginx send "Location: " with nothing after it; an error_page that
    # turns a status into 302 sends no Location header at all. Both are the same fact.
    chain = follow(f"{site.plain}{path}", timeout_s=5)
    assert chain.hops == (Hop(f"{site.plain}{path}", 302, None),)
    assert (chain.final_status, chain.problem) == (None, "302 without Location")


def test_unparsable_location_is_reported_by_fetch_as_no_answer(site: Site) -> None:
    # httpx parses Location even when not following, and fetch reports its refusal as
    # unreachable; the text still names what was wrong.
    with pytest.raises(
        TargetUnreachableError,
        match=r"/bad-location: RemoteProtocolError: Invalid URL in location header: "
        r"Invalid port: 'port'",
    ):
        follow(f"{site.plain}/bad-location", timeout_s=5)


def test_unreachable_later_hop_is_a_problem_not_an_error(site: Site) -> None:
    chain = follow(f"{site.plain}/dead-end", timeout_s=5)
    assert chain.hops == (Hop(f"{site.plain}/dead-end", 302, f"{site.closed}/"),)
    assert chain.final_status is None
    assert chain.problem == (
        f"redirect target unreachable: GET {site.closed}/: connection refused (nothing listening?)"
    )


def test_untrusted_https_hop_is_a_problem_naming_tls(site: Site) -> None:
    chain = follow(f"{site.plain}/to-https", timeout_s=5)  # the test CA is not trusted here
    assert [hop.status for hop in chain.hops] == [301]
    assert chain.problem is not None
    assert chain.problem.startswith(
        f"redirect target unreachable: GET {site.secure}/to-https: TLS certificate rejected: "
    )


def test_unreachable_first_hop_raises(site: Site) -> None:
    with pytest.raises(TargetUnreachableError, match="connection refused"):
        follow(f"{site.closed}/", timeout_s=5)


def test_credentials_stay_with_their_origin(site: Site) -> None:
    headers = {"Authorization": "Bearer s3cret", "X-Trace": "1"}
    _, lines = _logged(
        site,
        4,
        lambda: (
            follow(f"{site.plain}/found", timeout_s=5, headers=headers),
            follow(f"{site.plain}/to-https", timeout_s=5, headers=headers, tls=site.tls),
        ),
    )
    sent = [(line.split()[2], line.split(" ", 3)[3]) for line in lines]
    assert sent == [
        ("/found", '"Bearer s3cret"'),
        ("/landing", '"Bearer s3cret"'),  # same origin
        ("/to-https", '"Bearer s3cret"'),
        ("/to-https", '"-"'),  # another port is another origin
    ]
