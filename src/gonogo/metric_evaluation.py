"""One metrics query measured and judged: the fetch from Prometheus, the verdict, and the
evidence a report shows next to it.

The only I/O around metric_judge.judge: an instant query when the bound has no `for`, otherwise
a range query over the `for` window ending now, so the verdict follows alert-rule semantics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gonogo.environment_gate import MetricQuery
from gonogo.metric_judge import QueryVerdict, judge
from gonogo.probes.prometheus import Series, instant_query, range_query

__all__ = ["Evaluation", "evaluate"]

_EVIDENCE_CHARS = 600
_PROMQL_CHARS = 200
_SERIES_SHOWN = 5


@dataclass(frozen=True)
class Evaluation:
    """The verdict with what it rests on: the PromQL, the window judged (None for an instant
    query), and an excerpt of the result."""

    verdict: QueryVerdict
    promql: str
    window: tuple[float, float] | None
    evidence: str


def evaluate(
    query: MetricQuery,
    base_url: str,
    *,
    now: float,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    verify: bool = True,
    ca_file: Path | None = None,
) -> Evaluation:
    """Fetch and judge `query` as of `now` (unix time); TargetUnreachableError when Prometheus
    gives no usable answer."""
    window: tuple[float, float] | None = None
    if query.for_s:
        window = (now - query.for_s, now)
        series = range_query(
            base_url,
            query.query,
            start=window[0],
            end=now,
            step=query.resolution_s,
            timeout_s=timeout_s,
            headers=headers,
            verify=verify,
            ca_file=ca_file,
        )
    else:
        series = instant_query(
            base_url,
            query.query,
            at=now,
            timeout_s=timeout_s,
            headers=headers,
            verify=verify,
            ca_file=ca_file,
        )
    verdict = judge(query, series, start=window[0] if window else now, end=now)
    return Evaluation(verdict, query.query, window, _evidence(query.query, series, verdict))


def _evidence(promql: str, series: list[Series], verdict: QueryVerdict) -> str:
    """The judged series first, then the rest as Prometheus returned them."""
    text = " ".join(promql.split())
    if len(text) > _PROMQL_CHARS:
        text = text[:_PROMQL_CHARS] + "..."
    listed = sorted(series, key=lambda s: s.label_text != verdict.series)
    parts = [_latest(s) for s in listed[:_SERIES_SHOWN]]
    if len(series) > _SERIES_SHOWN:
        parts.append(f"and {len(series) - _SERIES_SHOWN} more")
    found = f"{len(series)} series" + (": " + "; ".join(parts) if parts else "")
    evidence = f"PromQL {text} returned {found}"
    if len(evidence) > _EVIDENCE_CHARS:
        evidence = evidence[: _EVIDENCE_CHARS - 3] + "..."
    return evidence


def _latest(series: Series) -> str:
    values = [value for _, value in series.points if not math.isnan(value)]
    latest = f"{values[-1]:.6g}" if values else "NaN"
    of = f" (latest of {len(series.points)} samples)" if len(series.points) > 1 else ""
    return f"{series.label_text} = {latest}{of}"
