"""Paths that must never be served: VCS metadata, env files, status pages, debug consoles."""

from __future__ import annotations

import pytest

from fixtures.edge import EdgeFetcher, edge_request
from gonogo.environment_edge import ExposedPath

pytestmark = pytest.mark.edge

_LISTING_MARKERS = (b"<title>Index of /", b"<h1>Index of /", b"Directory listing for /")


def test_path_not_served(exposed_path: ExposedPath, fetch_edge: EdgeFetcher) -> None:
    response = fetch_edge(edge_request(exposed_path.url))
    listing = any(marker in response.body for marker in _LISTING_MARKERS)
    expected = " or ".join(str(code) for code in exposed_path.status)
    assert response.status in exposed_path.status and not listing, (
        f"{exposed_path.label} ({response.url}): served with status {response.status}"
        f"{' as a directory listing' if listing else ''}; expected {expected}; "
        f"body: {response.excerpt(120)}"
    )
