"""What every dependency probe returns, and the one way each of them says it got no answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gonogo.environment_dependencies import Dependency
from gonogo.errors import TargetUnreachableError

__all__ = ["BANNER_MAX_BYTES", "DependencyFacts", "Stopwatch", "scrub", "unreachable"]

BANNER_MAX_BYTES = 1024


@dataclass(frozen=True)
class DependencyFacts:
    """What a dependency answered. Optional parts stay None when not asked for.

    `latency_ms` covers connect + authenticate + ping, the documents' "DB answers in < 100 ms";
    a query's own time is `query_ms`, so a slow report query does not read as a slow database.
    """

    kind: str
    where: str  # the URL with its password masked
    latency_ms: float
    server: str  # what it says it is: "PostgreSQL 15.8", "Redis 7.0.15", "HTTP 200", ...
    query_value: Any = None
    query_ms: float | None = None
    query_error: str | None = None
    round_trip_done: bool = False
    round_trip_error: str | None = None
    management: str | None = None
    management_error: str | None = None
    banner: str | None = None
    status: int | None = None
    body_excerpt: str = ""


class Stopwatch:
    """Milliseconds since it was made: perf_counter, immune to clock steps."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000


def scrub(text: str, dependency: Dependency) -> str:
    """`text` on one line without the password: drivers echo what they were given, and some
    servers echo what they were sent."""
    secret = dependency.secret
    if secret:
        text = text.replace(secret, "***")
    return " ".join(text.split())


def unreachable(dependency: Dependency, reason: str) -> TargetUnreachableError:
    """The error every probe raises when it cannot connect, log in or get a ping answered."""
    return TargetUnreachableError(
        f"{dependency.label} ({dependency.display_url}): {scrub(reason, dependency)}"
    )
