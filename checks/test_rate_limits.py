"""Rate limits hold: one request past the limit within the window is refused with 429.

These run last in a session (the plugin moves them): the burst spends the limit's allowance,
and the other checks of the run must not meet the refusals it leaves behind.
"""

from __future__ import annotations

import ssl
from collections import Counter

import pytest

from gonogo.environment import Environment
from gonogo.environment_edge import RateLimit
from gonogo.probes.limits import burst

pytestmark = pytest.mark.edge


def test_rate_limited(rate_limit: RateLimit, environment: Environment, tls: ssl.SSLContext) -> None:
    request = rate_limit.request
    url = environment.url(request)
    fact = burst(
        url,
        count=rate_limit.most_requests(),
        method=request.method,
        headers=request.headers,
        json_body=request.json_body,
        timeout_s=environment.timeout_of(request),
        tls=tls,
        limited_status=rate_limit.status,
        within_s=rate_limit.window_s,
    )
    seen = ", ".join(f"{status} x{count}" for status, count in Counter(fact.statuses).items())
    assert fact.first_limited is not None, (
        f"{rate_limit.label} ({request.method} {url}): {len(fact.statuses)} requests in "
        f"{fact.elapsed_s:.1f} s, none refused with {rate_limit.status} ({seen}); expected "
        f"{rate_limit.status} after {rate_limit.limit} within {rate_limit.window_s:g} s"
    )
