"""Cross-origin access: the listed origins get in, any other origin does not."""

from __future__ import annotations

import pytest

from fixtures.edge import EdgeFetcher, edge_request
from gonogo.environment_edge import Cors
from gonogo.probes.http import HttpResponse

pytestmark = pytest.mark.edge


def test_cors_allows_listed_origins(cors_policy: Cors, fetch_edge: EdgeFetcher) -> None:
    problems = []
    for origin in cors_policy.allowed_origins:
        if origin == "*":
            continue
        for kind, response in _asked(cors_policy, origin, fetch_edge):
            allowed = response.headers.get("access-control-allow-origin")
            if allowed not in (origin, "*"):
                problems.append(f"{kind} from {origin}: Access-Control-Allow-Origin {allowed!r}")
            problems += _credentials_with_wildcard(kind, origin, response)
    assert not problems, (
        f"{cors_policy.label}: {'; '.join(problems)}; expected the listed origins "
        f"{', '.join(cors_policy.allowed_origins)} to be allowed"
    )


def test_cors_refuses_other_origins(cors_policy: Cors, fetch_edge: EdgeFetcher) -> None:
    origin = cors_policy.disallowed_origin
    problems = []
    for kind, response in _asked(cors_policy, origin, fetch_edge):
        allowed = response.headers.get("access-control-allow-origin")
        if allowed == origin or (allowed == "*" and "*" not in cors_policy.allowed_origins):
            problems.append(f"{kind} from {origin}: Access-Control-Allow-Origin {allowed!r}")
        problems += _credentials_with_wildcard(kind, origin, response)
    assert not problems, (
        f"{cors_policy.label}: {'; '.join(problems)}; expected only "
        f"{', '.join(cors_policy.allowed_origins)} to be allowed"
    )


def _asked(cors: Cors, origin: str, fetch_edge: EdgeFetcher) -> list[tuple[str, HttpResponse]]:
    """The preflight a browser sends first, and the request itself."""
    preflight = edge_request(
        cors.url, "OPTIONS", origin=origin, access_control_request_method=cors.method
    )
    actual = edge_request(cors.url, cors.method, origin=origin)
    return [("preflight", fetch_edge(preflight)), (cors.method, fetch_edge(actual))]


def _credentials_with_wildcard(kind: str, origin: str, response: HttpResponse) -> list[str]:
    wildcard = response.headers.get("access-control-allow-origin") == "*"
    credentials = response.headers.get("access-control-allow-credentials", "").lower() == "true"
    if wildcard and credentials:
        return [f"{kind} from {origin}: Access-Control-Allow-Origin * with credentials allowed"]
    return []
