"""A load run's KPIs from the Locust side's per-second slices: the whole run, each request, windows.

Every number comes from the same mergeable histograms (`gonogo.latency`), so the p95 of the run,
of one request and of any 300 s window each lie within 0.5 % of the exact nearest-rank value of
the responses they cover, and none exceeds the max. Every request, failed or not, is assumed to
be in its slice's histogram, so a histogram's count is the number of requests.

The run's measured length is from its start through the last second in which a request
completed: the ramp-up counts, because a throughput floor asks what the run sustained, and the
shutdown after the last response does not, because that times the runner, not the target.

A limit is met at equality, since `max_error_rate: 0` has to be meetable, and a run without
requests meets no KPI: nothing measured is nothing proven.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gonogo.environment_load import WindowRule
from gonogo.latency import Histogram

__all__ = [
    "Breach",
    "LoadSummary",
    "Stats",
    "TimePoint",
    "judge_kpi",
    "summarise",
    "window_breaches",
]

FORMAT = 1
SPAWN_S = 2.0  # CPU samples before this time the users spawning, not the load
SATURATED_PERCENT = 90.0
_PERCENTILES = {"p50_ms": 0.5, "p90_ms": 0.9, "p95_ms": 0.95, "p99_ms": 0.99}
# Kpis' field names and WindowRule's KPI names, each to the Stats field it reads.
_FIELDS = {
    **{name: name for name in (*_PERCENTILES, "max_ms", "avg_ms", "rps", "error_rate")},
    "min_rps": "rps",
    "max_error_rate": "error_rate",
}
_LABELS = {"avg_ms": "average", "rps": "throughput", "error_rate": "error rate"}  # else p95, max


@dataclass(frozen=True)
class Stats:
    """The KPIs of one request name, or of all of them."""

    count: int
    failures: int
    error_rate: float
    rps: float  # count over the run's measured length
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    avg_ms: float
    statuses: dict[str, int]

    def value(self, kpi: str) -> float:
        """A Kpis field ("min_rps") or a WindowRule KPI ("rps") alike, as limits name them."""
        return float(getattr(self, _field(kpi)))


@dataclass(frozen=True)
class TimePoint:
    """One second across all requests, for charts. Latency and error rate are None in a second
    without responses, so a chart leaves a gap rather than drawing 0 ms."""

    t: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None


@dataclass(frozen=True)
class LoadSummary:
    """A run's KPIs, and whether its latencies can be trusted at all."""

    duration_s: float
    total: Stats
    per_request: dict[str, Stats]
    stop_reason: str
    saturated: str | None  # why the latency KPIs are inconclusive, or None
    timeline: list[TimePoint]
    planned_s: float
    workers: int
    cpu_percent: float | None  # the generator's mean after spawning, as percent of all cores
    cores: int
    # (ms, count) of every response: what a baseline's Mann-Whitney test compares.
    latency_bins: list[tuple[float, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for load.json and the decision record: every KPI, asked for or not, so a
        reader can hold the run to a limit the gate did not set."""
        return asdict(self)


@dataclass(frozen=True)
class Breach:
    """Seconds start_s through end_s (inclusive) broke a window rule; value is the worst seen."""

    start_s: int
    end_s: int
    value: float


@dataclass
class _Tally:
    """Responses merged across names, workers or seconds."""

    histogram: Histogram = field(default_factory=Histogram)
    failures: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def add(self, histogram: Histogram, failures: int, statuses: Mapping[str, int]) -> None:
        self.histogram.merge(histogram)
        self.failures += failures
        self.statuses.update(statuses)

    def stats(self, duration_s: float) -> Stats:
        histogram, count = self.histogram, self.histogram.count
        return Stats(
            count=count,
            failures=self.failures,
            error_rate=self.failures / count if count else 0.0,
            rps=count / duration_s if duration_s else 0.0,
            **{name: histogram.percentile(fraction) for name, fraction in _PERCENTILES.items()},
            max_ms=histogram.max_ms,
            avg_ms=histogram.average_ms,
            statuses=dict(sorted(self.statuses.items())),
        )


def summarise(
    results: Mapping[str, Any], cpu: Sequence[tuple[float, float]], cores: int
) -> LoadSummary:
    """The run's KPIs from the results document and the generator's CPU samples
    (seconds since start, percent of all `cores`)."""
    slices = _slices(results)
    seconds = [_Tally() for _ in range(_run_seconds(slices))]
    names: dict[str, _Tally] = {}
    for piece in slices:
        histogram = Histogram.from_dict(piece["histogram"])
        failures, statuses = int(piece["failures"]), piece["statuses"]
        names.setdefault(str(piece["name"]), _Tally()).add(histogram, failures, statuses)
        seconds[int(piece["t"])].add(histogram, failures, {})
    total = _Tally()
    for tally in names.values():
        total.add(tally.histogram, tally.failures, tally.statuses)
    duration = float(len(seconds))
    cpu_percent = _mean_cpu(cpu)
    return LoadSummary(
        duration_s=duration,
        total=total.stats(duration),
        per_request={name: names[name].stats(duration) for name in sorted(names)},
        stop_reason=str(results["stop_reason"]),
        saturated=_saturation(cpu_percent, cores),
        timeline=[_point(t, tally.histogram, tally.failures) for t, tally in enumerate(seconds)],
        planned_s=float(results["planned_s"]),
        workers=int(results["workers"]),
        cpu_percent=cpu_percent,
        cores=cores,
        latency_bins=total.histogram.bins(),
    )


def judge_kpi(stats: Stats, kpi: str, limit: float) -> str | None:
    """None when `kpi` (a Kpis field name) meets `limit`; else the finding, with both numbers.
    Throughput is a floor, every other KPI a ceiling."""
    measured = stats.value(kpi)
    name = _field(kpi)
    bound = f"{'floor' if name == 'rps' else 'limit'} {_show(name, limit, exact=True)}"
    label = _LABELS.get(name, name.removesuffix("_ms"))
    if not stats.count:
        return f"no requests were made: {label} unmeasured, {bound}"
    if (measured >= limit) if name == "rps" else (measured <= limit):
        return None
    failed = f" ({stats.failures} of {stats.count} requests failed)" if name == "error_rate" else ""
    return f"{label} {_show(name, measured, exact=False)}{failed}, {bound}"


def window_breaches(results: Mapping[str, Any], rule: WindowRule) -> list[Breach]:
    """Where the run broke `rule`, as maximal spans of seconds.

    `for_s`: the KPI of each 1 s slice broke the bound in every second of a run at least that
    long. A second without responses has no latency and no error rate, so it ends a run; its
    throughput is 0, which is a value. `over_s`: the KPI over a window that long (any start,
    1 s apart; the whole run when shorter) broke the bound; breaking windows that overlap or
    touch merge into one Breach.
    """
    slices = _slices(results)
    seconds = [_Tally() for _ in range(_run_seconds(slices))]
    for piece in slices:
        if rule.request is None or piece["name"] == rule.request:
            histogram = Histogram.from_dict(piece["histogram"])
            seconds[int(piece["t"])].add(histogram, int(piece["failures"]), {})
    if rule.for_s is not None:
        return _runs(seconds, rule, rule.for_s)
    assert rule.over_s is not None  # noqa: S101 - WindowRule asks for exactly one of the two
    return _windows(seconds, rule, min(len(seconds), math.ceil(rule.over_s)))


def _runs(seconds: list[_Tally], rule: WindowRule, for_s: float) -> list[Breach]:
    breaches: list[Breach] = []
    run: list[float] = []
    values = [_measure(rule.kpi, tally.histogram, tally.failures, 1) for tally in seconds]
    for t, value in enumerate([*values, None]):  # None closes the last run
        if value is not None and _broken(rule, value):
            run.append(value)
            continue
        if run and len(run) >= for_s:
            breaches.append(Breach(t - len(run), t - 1, _worst(rule, run)))
        run = []
    return breaches


def _windows(seconds: list[_Tally], rule: WindowRule, width: int) -> list[Breach]:
    """Slides one histogram along the run, adding the second that enters and subtracting the
    one that leaves; min and max cannot be subtracted, so monotonic queues of the seconds'
    extremes give the window's."""
    buckets: Counter[int] = Counter()
    count, total_ms, failures = 0, 0.0, 0
    highs: deque[tuple[int, float]] = deque()
    lows: deque[tuple[int, float]] = deque()
    breaches: list[Breach] = []
    for end, entering in enumerate(seconds):
        buckets.update(entering.histogram.buckets)
        count += entering.histogram.count
        total_ms += entering.histogram.total_ms
        failures += entering.failures
        if entering.histogram.count:
            while highs and highs[-1][1] <= entering.histogram.max_ms:
                highs.pop()
            highs.append((end, entering.histogram.max_ms))
            while lows and lows[-1][1] >= entering.histogram.min_ms:
                lows.pop()
            lows.append((end, entering.histogram.min_ms))
        start = end - width + 1
        if start > 0:
            leaving = seconds[start - 1].histogram
            for bucket, removed in leaving.buckets.items():
                buckets[bucket] -= removed
                if not buckets[bucket]:
                    del buckets[bucket]
            count -= leaving.count
            total_ms -= leaving.total_ms
            failures -= seconds[start - 1].failures
        while highs and highs[0][0] < start:
            highs.popleft()
        while lows and lows[0][0] < start:
            lows.popleft()
        if start < 0:
            continue
        window = Histogram(
            buckets=buckets,
            count=count,
            total_ms=total_ms,
            min_ms=lows[0][1] if lows else math.inf,
            max_ms=highs[0][1] if highs else 0.0,
        )
        value = _measure(rule.kpi, window, failures, width)
        if value is None or not _broken(rule, value):
            continue
        if breaches and start <= breaches[-1].end_s + 1:
            last = breaches.pop()
            value = _worst(rule, [last.value, value])
            start = last.start_s
        breaches.append(Breach(start, end, value))
    return breaches


def _measure(kpi: str, histogram: Histogram, failures: int, span_s: int) -> float | None:
    """The KPI over `span_s` seconds; None when no response gives it a value."""
    if kpi == "rps":
        return histogram.count / span_s
    if not histogram.count:
        return None
    if kpi == "error_rate":
        return failures / histogram.count
    if kpi in _PERCENTILES:
        return histogram.percentile(_PERCENTILES[kpi])
    return histogram.max_ms if kpi == "max_ms" else histogram.average_ms


def _broken(rule: WindowRule, value: float) -> bool:
    if rule.above is not None:
        return value > rule.above
    return rule.below is not None and value < rule.below


def _worst(rule: WindowRule, values: list[float]) -> float:
    return max(values) if rule.above is not None else min(values)


def _point(t: int, histogram: Histogram, failures: int) -> TimePoint:
    def latency(fraction: float) -> float | None:
        return histogram.percentile(fraction) if histogram.count else None

    return TimePoint(
        t=t,
        rps=float(histogram.count),
        p50_ms=latency(0.5),
        p95_ms=latency(0.95),
        p99_ms=latency(0.99),
        error_rate=failures / histogram.count if histogram.count else None,
    )


def _mean_cpu(cpu: Sequence[tuple[float, float]]) -> float | None:
    loaded = [percent for at, percent in cpu if at >= SPAWN_S]
    return sum(loaded) / len(loaded) if loaded else None


def _saturation(cpu_percent: float | None, cores: int) -> str | None:
    """A generator short of CPU queues its own requests, and that wait is timed as latency."""
    if cpu_percent is None or cpu_percent <= SATURATED_PERCENT:
        return None
    return (
        f"load generator CPU at {cpu_percent:.0f} % of {cores} core{'' if cores == 1 else 's'}: "
        "the latency measured includes the generator's own queueing; add workers (processes) "
        "or machines"
    )


def _slices(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if results.get("format") != FORMAT:
        raise ValueError(f"results format {results.get('format')!r}; expected {FORMAT}")
    slices: list[Mapping[str, Any]] = list(results["slices"])
    if any(int(piece["t"]) < 0 for piece in slices):
        raise ValueError("results: a slice before the run started (negative t)")
    return slices


def _run_seconds(slices: Sequence[Mapping[str, Any]]) -> int:
    return max((int(piece["t"]) for piece in slices), default=-1) + 1


def _field(kpi: str) -> str:
    try:
        return _FIELDS[kpi]
    except KeyError:
        raise ValueError(f"unknown KPI {kpi!r}; expected one of {sorted(_FIELDS)}") from None


def _show(name: str, value: float, *, exact: bool) -> str:
    """A limit as written; a measurement to a precision that shows which side of it it fell."""
    if name == "error_rate":
        return f"{value * 100:{'g' if exact else '.3g'}} %"
    unit = "requests/s" if name == "rps" else "ms"
    return f"{value:{'g' if exact else '.1f'}} {unit}"
