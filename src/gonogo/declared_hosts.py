"""Which hosts a run may send traffic to: those the environment names, and no other.

A redirect's Location, a value a flow captured from an answer, a remote `$ref` in an OpenAPI
document: each is a response steering a request somewhere. Whoever follows such a pointer asks
`DeclaredHosts.allows` first, so a deployment (or whoever answers in its place) cannot send the
suite, its credentials and its DNS queries to a host nobody wrote into the environment file.

Host names compare case-insensitively (and without a trailing dot); IP literals compare as
addresses, so `::1`, `[::1]` and `0:0::1` are one host, and an IPv4-mapped IPv6 address is its
IPv4 address. Nothing here resolves a name: `db.internal` and the address it resolves to are
two different hosts, and only the one written down is allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # only read here; the probes that import this module stay free of pydantic
    from gonogo.environment import Environment

__all__ = ["DeclaredHosts", "declared_hosts_of", "host_of"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# testinfra backends whose spec names a network host (`ssh://user@host:22`); the others name
# a container, a pod or an inventory entry, none of which is an address gonogo connects to.
_NETWORK_BACKENDS = ("ssh", "paramiko")


@dataclass(frozen=True)
class DeclaredHosts:
    """A set of hosts; `allows(host)` says whether a request may go there."""

    names: frozenset[str] = frozenset()
    addresses: frozenset[Address] = frozenset()

    @classmethod
    def of(cls, hosts: Iterable[str | None]) -> DeclaredHosts:
        """The hosts given; empty and missing ones are left out."""
        names: set[str] = set()
        addresses: set[Address] = set()
        for host in hosts:
            key = _key(host or "")
            if isinstance(key, str):
                names.add(key)
            elif key is not None:
                addresses.add(key)
        return cls(frozenset(names), frozenset(addresses))

    @classmethod
    def of_urls(cls, urls: Iterable[str | None]) -> DeclaredHosts:
        """The host of each URL; paths and URLs without a host add nothing."""
        return cls.of(host_of(url or "") for url in urls)

    def __or__(self, other: DeclaredHosts) -> DeclaredHosts:
        return DeclaredHosts(self.names | other.names, self.addresses | other.addresses)

    def allows(self, host: str) -> bool:
        """Whether `host` (a name or an IP literal, bracketed or not) is one of these."""
        key = _key(host)
        if key is None:
            return False
        return key in self.names if isinstance(key, str) else key in self.addresses

    def allows_url(self, url: str) -> bool:
        """Whether the URL's host is one of these; a URL without a host is not."""
        return self.allows(host_of(url))


def host_of(url: str) -> str:
    """The host of an absolute URL (brackets removed), or "" for a path or a malformed URL."""
    try:
        return urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""


def declared_hosts_of(environment: Environment) -> DeclaredHosts:
    """Every host the environment names as a place to connect to.

    Not counted: `redirects[].to` and CORS origins (expectations about a header's value, not
    requests the environment asks for), `tls[].server_name` (a name sent in the handshake),
    a `hosts` backend other than ssh:// (a container, a pod, an inventory alias), and a flow
    URL's host that is a `{{ variable }}` (filled in from an answer: exactly the kind of
    pointer this set exists to check).
    """
    hosts = DeclaredHosts.of_urls(_urls(environment))
    return hosts | DeclaredHosts.of(_hosts(environment))


def _urls(environment: Environment) -> Iterator[str | None]:
    yield environment.base_url
    # The environment's own list of every URL a check sends a request to, so a section added
    # there is counted here too. A flow URL whose host is a `{{ variable }}`, or that is all
    # one, adds nothing (see `_key`).
    for _, url in environment._urls():
        yield url
    for dependency in environment.dependencies:
        yield dependency.url
        yield dependency.management_url
    for container in environment.containers:
        yield container.engine  # tcp://host:2376, ssh://user@host; unix:// has no host
    for host in environment.hosts:
        if host.backend.partition("://")[0] in _NETWORK_BACKENDS:
            yield host.backend
    if environment.metrics is not None:
        yield environment.metrics.prometheus
    for notification in environment.notify:
        yield notification.url


def _hosts(environment: Environment) -> Iterator[str]:
    for policy in environment.ports:
        yield policy.host
    for entry in environment.reachability:
        yield entry.address()[0]


def _key(host: str) -> str | Address | None:
    """How a host compares: an address for an IP literal, else the lower-case name."""
    text = host.strip().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        name = text.lower().removesuffix(".")
        # Braces are a `{{ variable }}` not filled in yet, never a host.
        return name if name and "{" not in name and "}" not in name else None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
