"""Users for the demo: a bounded stream of ordinary requests through nginx, so the watch window
and Prometheus have traffic to judge.

One request in five is a feedback form without its rating, as an older client sends it:
blue answers 422, green's hand-rolled parsing answers 500. That is the regression green's
5xx ratio shows under real traffic and no smoke check exercises.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx

from gonogo.demo.config import DemoConfig

__all__ = ["MAX_DURATION_S", "MAX_RATE", "TrafficStats", "send_traffic"]

MAX_DURATION_S = 3600.0
MAX_RATE = 200.0
_TIMEOUT_S = 5.0
_MIX: tuple[tuple[str, str, dict[str, object] | None], ...] = (
    ("GET", "/health/live", None),
    ("POST", "/api/v1/feedback", {"email": "a@demo.test", "rating": 5, "message": "works"}),
    ("GET", "/health/live", None),
    ("POST", "/api/v1/feedback", {"email": "b@demo.test", "message": "no rating: old client"}),
    ("GET", "/health/live", None),
)


@dataclass(frozen=True)
class TrafficStats:
    sent: int
    statuses: dict[str, int]  # status code, or the error's name, to count
    elapsed_s: float


def send_traffic(
    config: DemoConfig,
    *,
    duration_s: float,
    rate: float = 20.0,
    stop: threading.Event | None = None,
) -> TrafficStats:
    """About `rate` requests a second for `duration_s`, one at a time; ends early on `stop`."""
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration: expected 0 < seconds <= {MAX_DURATION_S:g}, not {duration_s}")
    if not 0 < rate <= MAX_RATE:
        raise ValueError(f"rate: expected 0 < requests/s <= {MAX_RATE:g}, not {rate}")
    stop = stop or threading.Event()
    statuses: Counter[str] = Counter()
    started = time.monotonic()
    limit = int(duration_s * rate) + 1  # the count bounds the loop as well as the clock
    tls = ssl.create_default_context(cafile=str(config.ca_file))
    with httpx.Client(
        base_url=config.url, verify=tls, timeout=_TIMEOUT_S, trust_env=False
    ) as client:
        for number in range(limit):
            due = started + number / rate
            if due - started >= duration_s or stop.wait(max(0.0, due - time.monotonic())):
                break
            method, path, body = _MIX[number % len(_MIX)]
            try:
                answer = client.request(method, path, json=body)
                statuses[str(answer.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
    return TrafficStats(sum(statuses.values()), dict(statuses), time.monotonic() - started)
