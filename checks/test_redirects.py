"""http:// sends clients to https:// on the same host and path, permanently, without loops."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import pytest

from gonogo.declared_hosts import DeclaredHosts
from gonogo.environment import Environment
from gonogo.environment_edge import Redirect
from gonogo.probes.redirects import follow

pytestmark = pytest.mark.edge

_TEMPORARY = {302: "302 (temporary)", 303: "303 (see other)", 307: "307 (temporary)"}


def test_http_redirects_to_https(
    redirect: Redirect,
    environment: Environment,
    tls: ssl.SSLContext,
    declared_hosts: DeclaredHosts,
) -> None:
    url = environment.url(redirect.url)
    target = environment.url(redirect.target(url))
    chain = follow(
        url,
        hosts=declared_hosts,
        max_hops=redirect.max_hops,
        timeout_s=environment.defaults.timeout_s,
        tls=tls,
    )
    expected_status = " or ".join(str(code) for code in redirect.status)
    first = chain.hops[0]
    if first.location is None:
        pytest.fail(
            f"{redirect.label}: {url} answered {first.status} without a Location; "
            f"expected {expected_status} to {target}",
            pytrace=False,
        )
    problems = []
    if first.status not in redirect.status:
        answered = _TEMPORARY.get(first.status, str(first.status))
        problems.append(f"answered {answered}")
    if first.location != target:
        problems.append(f"points to {first.location}{_why(first.location, target)}")
    # Stopping at the expected target is what was asked (`to` alone declares no host to visit).
    if chain.undeclared_host is not None and chain.hops[-1].location != target:
        problems.append(
            f"redirect to {chain.undeclared_host}, a host the environment does not declare, "
            "not followed"
        )
    if chain.loop or chain.gave_up:
        problems.append(chain.problem or "redirects do not end")
    where = redirect.label if redirect.label == url else f"{redirect.label} ({url})"
    assert not problems, f"{where}: {'; '.join(problems)}; expected {expected_status} to {target}"


def _why(location: str, target: str) -> str:
    got, want = urlsplit(location), urlsplit(target)
    if got.scheme != want.scheme:
        return f" (stays on {got.scheme}://)"
    if got.hostname != want.hostname:
        return f" (another host: {got.hostname})"
    if got.port != want.port:
        return f" (port {got.port or 'default'})"
    return " (another path)"
