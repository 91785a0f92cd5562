"""Redirect chains as facts: each hop's status and Location, and why following stopped.

Knows nothing of pytest or of expectations. Each hop is one `fetch` with its own deadline, so
a chain costs at most (max_hops + 1) * timeout_s; httpx's own following would hide the hops.
Only the host asked about and the hosts the caller declares are ever contacted: a Location
naming any other host (an IP literal and localhost included) is recorded, not fetched, so no
traffic and no DNS query goes anywhere we were not told to go. Whether a hop to another host
is acceptable is for the checks to judge.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx

from gonogo.declared_hosts import DeclaredHosts
from gonogo.errors import TargetUnreachableError
from gonogo.probes.http import fetch

__all__ = ["Hop", "RedirectChain", "follow"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Meant for the origin they were given for; a browser would not carry them elsewhere either.
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class Hop:
    """One request of the chain: where it went, the status, and where a redirect pointed."""

    url: str
    status: int
    location: str | None  # a redirect's Location resolved against `url`; None if not a redirect


@dataclass(frozen=True)
class RedirectChain:
    """The hops in order and how following ended.

    `final_status` is the status the chain ended on, a non-redirect answer; None when
    following stopped before one, and then `problem` says why.
    """

    hops: tuple[Hop, ...]
    final_status: int | None
    loop: bool  # a Location named a URL already requested
    gave_up: bool  # more than max_hops redirects
    problem: str | None
    # The host of the last hop's Location when it was not followed because nobody declared it.
    undeclared_host: str | None = None


def follow(
    url: str,
    *,
    hosts: DeclaredHosts | None = None,
    max_hops: int = 5,
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> RedirectChain:
    """GET `url`, then each Location in turn, following at most `max_hops` redirects.

    A Location is followed only to `url`'s own host or one `hosts` allows (without `hosts`,
    only `url`'s host); any other ends the chain with `undeclared_host` set, unfetched.
    `headers` go with every hop, except credentials (Authorization, Cookie) on a hop to
    another origin, as a browser would. Raises TargetUnreachableError when `url` itself gets
    no answer; a later hop that gets none ends the chain with a `problem`, keeping the hops
    before it, which are the facts a check needs.
    """
    if max_hops < 0:
        raise ValueError(f"max_hops must be 0 or more, got {max_hops}")
    origin = httpx.URL(url)
    allowed = DeclaredHosts.of([origin.host]) | (hosts or DeclaredHosts())
    hops: list[Hop] = []
    target = str(origin)  # the form Locations resolve to, so a loop back to it is seen at once
    while True:
        try:
            # The bodies of redirects say nothing a check needs; none of them is read.
            answer = fetch(
                target,
                headers=_headers_for(httpx.URL(target), origin, headers or {}),
                timeout_s=timeout_s,
                tls=tls,
                max_body_bytes=0,
            )
        except TargetUnreachableError as exc:
            if not hops:
                raise
            return _stopped(hops, f"redirect target unreachable: {exc}")
        if answer.status not in _REDIRECTS:
            hops.append(Hop(target, answer.status, None))
            return RedirectChain(
                tuple(hops), answer.status, loop=False, gave_up=False, problem=None
            )
        # fetch has already parsed Location as httpx does (it raises when it cannot), so this
        # join, the same one, cannot fail.
        raw = answer.headers.get("location", "").strip()
        location = str(httpx.URL(target).join(raw)) if raw else None
        hops.append(Hop(target, answer.status, location))
        if location is None:
            return _stopped(hops, f"{answer.status} without Location")
        visited = [hop.url for hop in hops]
        if location in visited:
            cycle = [*visited[visited.index(location) :], location]
            return _stopped(hops, "redirect loop: " + " -> ".join(cycle), loop=True)
        following = httpx.URL(location)
        if following.scheme not in ("http", "https"):
            return _stopped(hops, f"redirect to {location} not followed (not http or https)")
        if not allowed.allows(following.host):
            problem = f"redirect to {location} not followed: {following.host} is not declared"
            return _stopped(hops, problem, undeclared_host=following.host)
        if len(hops) > max_hops:
            return _stopped(hops, f"more than {max_hops} redirects", gave_up=True)
        target = location


def _stopped(
    hops: list[Hop],
    problem: str,
    *,
    loop: bool = False,
    gave_up: bool = False,
    undeclared_host: str | None = None,
) -> RedirectChain:
    return RedirectChain(tuple(hops), None, loop, gave_up, problem, undeclared_host)


def _headers_for(target: httpx.URL, origin: httpx.URL, headers: dict[str, str]) -> dict[str, str]:
    """The caller's headers, without credentials once the chain leaves the origin.

    Like httpx, an upgrade of the same host from http (port 80) to https (port 443) keeps
    them. Ports are None when they are the scheme's default.
    """
    kept = target.host == origin.host and (
        (target.scheme, target.port) == (origin.scheme, origin.port)
        or (origin.scheme, origin.port, target.scheme, target.port) == ("http", None, "https", None)
    )
    if kept:
        return headers
    return {key: value for key, value in headers.items() if key.lower() not in _CREDENTIALS}
