"""How URLs answer beyond their status: compression, caching, and the request body limit."""

from __future__ import annotations

import ssl

import pytest

from fixtures.edge import EdgeFetcher, edge_request
from gonogo.environment import Environment
from gonogo.environment_edge import EndpointBehaviour
from gonogo.probes.limits import oversized_body

pytestmark = pytest.mark.edge


def test_response_is_compressed(
    compressed_endpoint: EndpointBehaviour, fetch_edge: EdgeFetcher
) -> None:
    offered = compressed_endpoint.compression or []
    response = fetch_edge(edge_request(compressed_endpoint.url, accept_encoding=", ".join(offered)))
    used = response.headers.get("content-encoding", "").strip().lower()
    assert used in offered, (
        f"{compressed_endpoint.label} ({response.url}, status {response.status}, "
        f"{response.headers.get('content-type', 'no content type')}): "
        f"Content-Encoding {used or '(none)'}, expected one of {', '.join(offered)}"
    )


def test_cache_headers(cached_endpoint: EndpointBehaviour, fetch_edge: EdgeFetcher) -> None:
    cache = cached_endpoint.cache
    assert cache is not None
    response = fetch_edge(edge_request(cached_endpoint.url))
    raw = response.headers.get("cache-control", "")
    directives = {}
    for part in raw.split(","):
        key, _, value = part.strip().partition("=")
        if key:
            directives[key.lower()] = value.strip('"')
    problems = [f"no {d}" for d in cache.directives if d.lower() not in directives]
    if cache.min_max_age is not None:
        max_age = directives.get("max-age", "")
        if not max_age.isdigit() or int(max_age) < cache.min_max_age:
            problems.append(f"max-age {max_age or '(none)'}, expected at least {cache.min_max_age}")
    assert not problems, (
        f"{cached_endpoint.label} ({response.url}, status {response.status}): "
        f"Cache-Control {raw or '(none)'!r}: {'; '.join(problems)}"
    )


def test_body_limit(
    body_limited_endpoint: EndpointBehaviour, environment: Environment, tls: ssl.SSLContext
) -> None:
    limit = body_limited_endpoint.body_limit_bytes
    assert limit is not None
    url = environment.url(body_limited_endpoint.url)
    fact = oversized_body(
        url,
        size_bytes=limit + 1,
        method=body_limited_endpoint.body_limit_method,
        timeout_s=environment.defaults.timeout_s,
        tls=tls,
    )
    answered = f"status {fact.status}" if fact.status is not None else "no status"
    assert fact.status == 413, (
        f"{body_limited_endpoint.label} ({body_limited_endpoint.body_limit_method} {url}): "
        f"a {limit + 1}-byte body got {answered} ({fact.detail}); expected 413 above "
        f"{limit} bytes"
    )
