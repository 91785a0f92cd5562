"""Judge Prometheus results against a query's bound the way Prometheus judges an alert's `for`:
a breach is every sample of the window breaching, never one bad scrape.

Pure: takes series already fetched, returns a verdict with one sentence for the operator. NaN
samples are no data (a 0/0 error ratio with no traffic is not an error rate), and "no data" is
the environment's `no_data` policy, because an absent series may be a broken query as easily
as a quiet service.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

from gonogo.durations import format_duration
from gonogo.environment_gate import AlertRule, MetricQuery
from gonogo.probes.prometheus import AlertRuleState, Series

__all__ = ["QueryVerdict", "judge", "judge_alert"]

State = Literal["ok", "breach", "pending", "inconclusive"]
_NO_DATA_STATE: dict[str, State] = {"inconclusive": "inconclusive", "fail": "breach", "pass": "ok"}
_LOADED_SHOWN = 20
_EPSILON_S = 0.001  # Prometheus returns millisecond timestamps


@dataclass(frozen=True)
class QueryVerdict:
    """What one query's result means against its bound; `value` and `series` are the worst
    series' (the breaching one when there is a breach), None and "" when there was no data."""

    state: State
    value: float | None
    series: str
    detail: str


def judge(query: MetricQuery, series: list[Series], *, start: float, end: float) -> QueryVerdict:
    """Instant samples when `query.for_s` is 0; otherwise a range result over [start, end] at
    `query.resolution_s`, where a series breaches only if its samples cover the whole window
    without a gap and every one breaches. Breaching now but not for long enough is pending."""
    present = [Series(s.labels, [p for p in s.points if not math.isnan(p[1])]) for s in series]
    present = [s for s in present if s.points]
    if not present:
        return _no_data(query, series)
    if not query.for_s:
        return _judge_instant(query, present)
    return _judge_window(query, present, start, end)


def judge_alert(rule: AlertRule, states: list[AlertRuleState]) -> tuple[bool, str]:
    """Passes when Prometheus has the rule loaded, healthy and not firing (pending only when
    `rule.pending_ok`). A name may be loaded more than once (one rule per severity): every
    copy must pass."""
    loaded = [state for state in states if state.name == rule.name]
    if not loaded:
        names = sorted({state.name for state in states})
        shown = ", ".join(names[:_LOADED_SHOWN]) + (
            f" and {len(names) - _LOADED_SHOWN} more" if len(names) > _LOADED_SHOWN else ""
        )
        return False, (
            f"alert rule {rule.name}: expected it loaded in Prometheus, found no alerting rule "
            f"of that name; loaded: {shown or 'none'}"
        )
    problems = [problem for state in loaded if (problem := _alert_problem(rule, state))]
    described = "; ".join(_described(state) for state in loaded)
    if problems:
        return False, f"alert rule {rule.name}: {'; '.join(problems)} ({described})"
    return True, f"alert rule {rule.name}: loaded, healthy and not firing ({described})"


def _alert_problem(rule: AlertRule, state: AlertRuleState) -> str:
    if state.health != "ok":
        why = f", last error: {state.last_error}" if state.last_error else ""
        not_yet = " (not evaluated yet)" if state.health == "unknown" else ""
        return f"expected health ok, found {state.health}{not_yet}{why}"
    if state.state == "firing":
        return f"expected not firing, found firing with {_alerts(state.active)}"
    if state.state == "pending" and not rule.pending_ok:
        return (
            "expected not pending (pending_ok is false), "
            f"found pending with {_alerts(state.active)}"
        )
    return ""


def _described(state: AlertRuleState) -> str:
    return f"group {state.group}: state {state.state}, health {state.health}"


def _alerts(count: int) -> str:
    return f"{count} active alert{'' if count == 1 else 's'}"


def _no_data(query: MetricQuery, series: list[Series]) -> QueryVerdict:
    if series:
        why = (
            f"every sample of the {len(series)} series is NaN (a 0/0 ratio: no traffic to "
            "divide by)"
        )
    else:
        why = "the query returned no series (no traffic yet, or a label that matches nothing)"
    return QueryVerdict(
        _NO_DATA_STATE[query.no_data], None, "", f"no data: {why}; policy no_data: {query.no_data}"
    )


def _judge_instant(query: MetricQuery, present: list[Series]) -> QueryVerdict:
    worst = max(present, key=lambda s: _badness(query, s.points[-1][1]))
    value = worst.points[-1][1]
    if not _breaches(query, value):
        return _ok(query, worst, present, "")
    count = sum(_breaches(query, s.points[-1][1]) for s in present)
    others = f" ({count} of {len(present)} series breach)" if len(present) > 1 else ""
    detail = f"{_number(query, value)} {query.bound}: series {worst.label_text}{others}"
    return QueryVerdict("breach", value, worst.label_text, detail)


def _judge_window(
    query: MetricQuery, present: list[Series], start: float, end: float
) -> QueryVerdict:
    resolution = query.resolution_s
    breaching: list[Series] = []
    pending: list[tuple[Series, list[tuple[float, float]]]] = []
    for series in present:
        run = _trailing_breach(query, series.points, resolution)
        if not run:
            continue
        covers = run[0][0] <= start + resolution + _EPSILON_S
        current = run[-1][0] >= end - resolution - _EPSILON_S
        if len(run) == len(series.points) and covers and current:
            breaching.append(series)
        else:
            pending.append((series, run))
    if breaching:
        worst = max(breaching, key=lambda s: _badness(query, s.points[-1][1]))
        value, points = worst.points[-1][1], worst.points
        others = f" (and {len(breaching) - 1} more series)" if len(breaching) > 1 else ""
        detail = (
            f"{_number(query, value)} {query.bound}: every one of {len(points)} samples from "
            f"{_clock(points[0][0])} to {_clock(points[-1][0])} breached; "
            f"series {worst.label_text}{others}"
        )
        return QueryVerdict("breach", value, worst.label_text, detail)
    if pending:
        worst, run = max(pending, key=lambda item: _badness(query, item[0].points[-1][1]))
        value = worst.points[-1][1]
        if run[-1][0] < end - resolution - _EPSILON_S:
            short = f"but its samples stop at {_clock(run[-1][0])}"
        else:
            short = f"but only since {_clock(run[0][0])}"
        detail = (
            f"pending: {_number(query, value)} {_comparison(query)} now, {short} "
            f"(needs {format_duration(query.for_s)}); series {worst.label_text}"
        )
        return QueryVerdict("pending", value, worst.label_text, detail)
    worst = max(present, key=lambda s: _badness(query, s.points[-1][1]))
    return _ok(query, worst, present, _recovered(query, present))


def _trailing_breach(
    query: MetricQuery, points: list[tuple[float, float]], resolution: float
) -> list[tuple[float, float]]:
    """The latest unbroken run of breaching samples: a gap wider than two steps (a missed
    scrape, a restart) starts the count again, as a gap resets a pending alert."""
    run: list[tuple[float, float]] = []
    for point in reversed(points):
        if not _breaches(query, point[1]):
            break
        if run and run[-1][0] - point[0] > 2 * resolution + _EPSILON_S:
            break
        run.append(point)
    return run[::-1]


def _ok(query: MetricQuery, worst: Series, present: list[Series], note: str) -> QueryVerdict:
    value = worst.points[-1][1]
    which = f"worst of {len(present)} series" if len(present) > 1 else "series"
    within = f"<= {query.max:g}" if query.max is not None else f">= {query.min:g}"
    detail = f"{_number(query, value)}, within {within} ({which} {worst.label_text}){note}"
    return QueryVerdict("ok", value, worst.label_text, detail)


def _recovered(query: MetricQuery, present: list[Series]) -> str:
    """Earlier breaches inside the window: not a breach, but worth the operator's eye."""
    peaks = [(s, p) for s in present for p in s.points if _breaches(query, p[1])]
    if not peaks:
        return ""
    series, (at, value) = max(peaks, key=lambda item: _badness(query, item[1][1]))
    return (
        f"; {series.label_text} breached earlier in the window (peak {_number(query, value)} "
        f"at {_clock(at)}) but recovered"
    )


def _breaches(query: MetricQuery, value: float) -> bool:
    if query.max is not None:
        return value > query.max
    return query.min is not None and value < query.min


def _badness(query: MetricQuery, value: float) -> float:
    return value if query.max is not None else -value


def _comparison(query: MetricQuery) -> str:
    return f"> {query.max:g}" if query.max is not None else f"< {query.min:g}"


def _number(query: MetricQuery, value: float) -> str:
    """Four significant digits, unless rounding would put the value on the other side of (or
    onto) the bound: "0.05 > 0.05" would read as a bug."""
    limit = query.max if query.max is not None else query.min
    text = f"{value:.4g}"
    if limit is None or math.isinf(value):
        return text
    rounded = float(text)
    if (rounded > limit, rounded < limit) == (value > limit, value < limit):
        return text
    return f"{value:.12g}"


def _clock(unix_time: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(unix_time))
