"""This run's load KPIs against a baseline run's: fixed limits per KPI, and a rank test on the
two latency distributions.

A p95 that moved 15 % can be noise or a real regression; a limit alone cannot tell. The
Mann-Whitney U test asks whether this run's latencies are stochastically greater than the
baseline's, using every response rather than one percentile, and makes no assumption about
the distributions' shape (latencies are anything but normal). Significance alone flags
trivial shifts on large runs, so a regression must also move the median by more than
`min_shift_pct`.

The latencies arrive as the load stage's log-bucketed histogram, each bucket a group of tied
observations, so ranks, the tie correction and the medians all come from the buckets: the
cost follows the number of buckets (a few hundred), not of responses (millions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gonogo.environment_gate import BaselineKpi, LatencyTest

__all__ = [
    "KpiComparison",
    "LatencyComparison",
    "MannWhitney",
    "compare_kpi",
    "latency_regression",
    "mann_whitney_u",
]

# [value_ms, count] per bucket, as the record's `latency_bins` and Histogram.bins() give them.
Bins = Iterable[Sequence[float]]
_UNITS = {"rps": "requests/s", "error_rate": "%"}  # every other KPI is in ms


@dataclass(frozen=True)
class KpiComparison:
    kpi: str
    current: float
    baseline: float
    change_pct: float | None  # None when the baseline is 0
    regressed: bool
    detail: str


@dataclass(frozen=True)
class MannWhitney:
    """U counts the (baseline, current) pairs in which the current response was slower, ties
    counting half; p is one-sided, for "the current run is slower"."""

    n_baseline: int
    n_current: int
    u: float
    z: float
    p_value: float
    baseline_median_ms: float | None  # None when that side has no samples
    current_median_ms: float | None

    @property
    def enough_samples(self) -> bool:
        return self.n_baseline > 0 and self.n_current > 0


@dataclass(frozen=True)
class LatencyComparison:
    test: MannWhitney
    shift_pct: float | None  # of the median; None without samples or with a median of 0
    regressed: bool
    detail: str


def compare_kpi(
    rule: BaselineKpi, current: float, baseline: float, *, baseline_run: int | None = None
) -> KpiComparison:
    """Apply every limit `rule` sets; a value exactly at a limit passes. Against a baseline of
    0 a percentage limit allows no increase at all: any rise from 0 is an infinite one."""
    change_pct = None if baseline == 0 else (current - baseline) / baseline * 100
    within = []
    if rule.max_increase_pct is not None:
        within.append(_at_most(current, baseline * (1 + rule.max_increase_pct / 100)))
    if rule.max_increase is not None:
        within.append(_at_most(current, baseline + rule.max_increase))
    if rule.max_decrease_pct is not None:
        within.append(_at_most(baseline * (1 - rule.max_decrease_pct / 100), current))
    kpi = rule.kpi
    if change_pct is not None:
        change = [f"{change_pct:+.1f} %"]
    else:
        change = ["unchanged" if current == 0 else "up from 0"]
    if rule.max_increase is not None:
        change.append(_show_delta(kpi, current - baseline))
    limits = [
        *([f"+{_number(rule.max_increase_pct)} %"] if rule.max_increase_pct is not None else []),
        *([_show_delta(kpi, rule.max_increase)] if rule.max_increase is not None else []),
        *([f"-{_number(rule.max_decrease_pct)} %"] if rule.max_decrease_pct is not None else []),
    ]
    detail = (
        f"{kpi} {_show(kpi, current)} vs {_show(kpi, baseline)}{_in_run(baseline_run)}"
        f" ({', '.join(change)}), limit{'s' if len(limits) > 1 else ''} {' and '.join(limits)}"
    )
    return KpiComparison(
        kpi=kpi,
        current=current,
        baseline=baseline,
        change_pct=change_pct,
        regressed=not all(within),
        detail=detail,
    )


def mann_whitney_u(baseline_bins: Bins, current_bins: Bins) -> MannWhitney:
    """The one-sided Mann-Whitney U test of "current is slower", by the normal approximation
    with the tie correction and a continuity correction of 0.5 (the usual choice for samples
    this large). Either side empty: p = 1, and `enough_samples` says why."""
    baseline, current = _counts(baseline_bins), _counts(current_bins)
    n1, n2 = sum(baseline.values()), sum(current.values())
    medians = _median(baseline, n1), _median(current, n2)
    if not (n1 and n2):
        return MannWhitney(n1, n2, 0.0, 0.0, 1.0, *medians)
    # Doubled, the average ranks of tied groups are integers, so the rank sum is exact at any n.
    below = twice_rank_sum = ties = 0
    for value in sorted(baseline.keys() | current.keys()):
        tied = baseline.get(value, 0) + current.get(value, 0)
        twice_rank_sum += current.get(value, 0) * (2 * below + tied + 1)
        ties += tied**3 - tied
        below += tied
    u = (twice_rank_sum - n2 * (n2 + 1)) / 2
    n = n1 + n2
    variance = n1 * n2 * ((n + 1) * n * (n - 1) - ties) / (12 * n * (n - 1))
    if variance <= 0:  # every observation tied: no evidence either way
        return MannWhitney(n1, n2, u, 0.0, 1.0, *medians)
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return MannWhitney(n1, n2, u, z, 0.5 * math.erfc(z / math.sqrt(2)), *medians)


def latency_regression(
    test: LatencyTest, baseline_bins: Bins, current_bins: Bins, *, baseline_run: int | None = None
) -> LatencyComparison:
    """Regressed when the shift is significant (p < alpha) and the median moved up by more
    than `min_shift_pct`; without samples on both sides, not regressed and the detail says so."""
    result = mann_whitney_u(baseline_bins, current_bins)
    where = _in_run(baseline_run) or " in the baseline"
    if result.baseline_median_ms is None or result.current_median_ms is None:
        detail = (
            f"latency test skipped: not enough samples ({result.n_current} in this run,"
            f" {result.n_baseline}{where})"
        )
        return LatencyComparison(test=result, shift_pct=None, regressed=False, detail=detail)
    current, baseline = result.current_median_ms, result.baseline_median_ms
    shift_pct = None if baseline == 0 else (current - baseline) / baseline * 100
    shifted = current > baseline if shift_pct is None else shift_pct > test.min_shift_pct
    significant = result.p_value < test.alpha
    shift = "up from 0" if shift_pct is None else f"{shift_pct:+.1f} %"
    verdict = "below" if significant else "not below"
    detail = (
        f"median latency {_show('p50_ms', current)} vs {_show('p50_ms', baseline)}{where}"
        f" ({shift}, limit +{_number(test.min_shift_pct)} %); Mann-Whitney U {_number(result.u)},"
        f" p {_p_value(result.p_value)} ({verdict} alpha {_number(test.alpha)});"
        f" {result.n_current} samples in this run, {result.n_baseline}{where}"
    )
    return LatencyComparison(
        test=result, shift_pct=shift_pct, regressed=significant and shifted, detail=detail
    )


def _counts(bins: Bins) -> dict[float, int]:
    counts: dict[float, int] = {}
    for value, count in bins:
        if count < 0 or count != int(count):
            raise ValueError(
                f"latency bin at {value} ms: expected a whole count >= 0, found {count}"
            )
        if count:
            counts[float(value)] = counts.get(float(value), 0) + int(count)
    return counts


def _median(counts: dict[float, int], total: int) -> float | None:
    """The middle value, or the mean of the two middle values, as statistics.median gives."""
    if not total:
        return None
    ordered = sorted(counts.items())
    return (_at_rank(ordered, (total - 1) // 2) + _at_rank(ordered, total // 2)) / 2


def _at_rank(ordered: list[tuple[float, int]], rank: int) -> float:
    """The value at 0-based `rank` of the observations the (value, count) pairs stand for."""
    seen = 0
    for value, count in ordered:
        seen += count
        if seen > rank:
            return value
    return ordered[-1][0]


def _at_most(value: float, bound: float) -> bool:
    """value <= bound, with equality allowed to survive float rounding (20 % of 480 ms)."""
    return value <= bound or math.isclose(value, bound, rel_tol=1e-9)


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def _p_value(p: float) -> str:
    """Far beyond any alpha, the normal tail underflows to 0, which would read as certainty."""
    return "< 1e-300" if p == 0 else f"{p:.2g}"


def _show(kpi: str, value: float) -> str:
    if kpi == "error_rate":
        return f"{_number(value * 100)} %"
    return f"{_number(value)} {_UNITS.get(kpi, 'ms')}"


def _show_delta(kpi: str, delta: float) -> str:
    if kpi == "error_rate":
        points = _number(delta * 100)
        plural = "" if points in ("1", "-1") else "s"
        return f"{'+' if delta >= 0 else ''}{points} percentage point{plural}"
    return f"{'+' if delta >= 0 else ''}{_show(kpi, delta)}"


def _in_run(run_id: int | None) -> str:
    return "" if run_id is None else f" in run {run_id}"
