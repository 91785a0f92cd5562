"""Response times as a mergeable log-bucketed histogram: percentiles within 0.5 %, any count.

Locust rounds its percentiles into coarse buckets (10 ms steps below 1 s, 100 ms up to
10 s), which is how its users see a p99 above the max. Here a value lands in the bucket
`round(log(value_us) / log(1.01))`, whose representative value is within 0.5 % of every value
in it; min, max and the sum are kept exactly. Histograms from many processes and seconds merge
by adding counts, so a run's KPIs and any window's come from the same recording.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RELATIVE_ERROR", "Histogram"]

_BASE = 1.01
_LOG_BASE = math.log(_BASE)
RELATIVE_ERROR = (_BASE**0.5) - 1  # half a bucket: about 0.5 %


def _bucket(value_ms: float) -> int:
    """Sub-microsecond values share bucket 0 (a representative of 1 µs)."""
    microseconds = value_ms * 1000
    return 0 if microseconds <= 1 else round(math.log(microseconds) / _LOG_BASE)


def _value_ms(bucket: int) -> float:
    return (_BASE**bucket) / 1000


@dataclass
class Histogram:
    """Counts per bucket, with the exact count, sum, min and max of what was recorded."""

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    total_ms: float = 0.0
    min_ms: float = math.inf
    max_ms: float = 0.0

    def record(self, value_ms: float) -> None:
        value_ms = max(0.0, value_ms)
        self.buckets[_bucket(value_ms)] += 1
        self.count += 1
        self.total_ms += value_ms
        self.min_ms = min(self.min_ms, value_ms)
        self.max_ms = max(self.max_ms, value_ms)

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total_ms += other.total_ms
        self.min_ms = min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)

    @property
    def average_ms(self) -> float:
        return self.total_ms / self.count if self.count else 0.0

    def percentile(self, fraction: float) -> float:
        """The value below which `fraction` of the recordings fall (nearest rank), clamped to
        the exact min and max so that no percentile ever exceeds the max."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(self.max_ms, max(self.min_ms, _value_ms(bucket)))
        return self.max_ms

    def bins(self) -> list[tuple[float, int]]:
        """(representative value in ms, count) per bucket, smallest first: for distributions."""
        return [(_value_ms(bucket), self.buckets[bucket]) for bucket in sorted(self.buckets)]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: bucket keys as strings, since JSON keys must be."""
        return {
            "buckets": {str(bucket): count for bucket, count in self.buckets.items()},
            "count": self.count,
            "total_ms": self.total_ms,
            "min_ms": self.min_ms if self.count else None,
            "max_ms": self.max_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        buckets = Counter({int(bucket): int(count) for bucket, count in data["buckets"].items()})
        minimum = data.get("min_ms")
        return cls(
            buckets=buckets,
            count=int(data["count"]),
            total_ms=float(data["total_ms"]),
            min_ms=math.inf if minimum is None else float(minimum),
            max_ms=float(data["max_ms"]),
        )
