"""`load.html`: the load run a person reads, with its charts as inline SVG (no CDN, no script).

Latency percentiles and requests/s over time come from the per-second timeline; the
response-time distribution from the run's merged histogram, so the charts show the same
numbers the KPI checks judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment

from gonogo.latency import Histogram
from gonogo.load_kpis import LoadSummary

__all__ = ["LATENCY_SERIES", "RPS_COLOUR", "distribution_chart", "line_chart", "load_report_html"]

_WIDTH, _HEIGHT, _PAD = 720, 220, 40
LATENCY_SERIES = (("p50_ms", "#2b8a3e"), ("p95_ms", "#e67700"), ("p99_ms", "#c92a2a"))
RPS_COLOUR = "#1971c2"
_TEMPLATE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gonogo load: {{ name }}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; border-bottom: 1px solid #ddd; }
th { text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg { background: #fafafa; border: 1px solid #ddd; margin: .5em 0 1.5em; }
.note { color: #a61e4d; }
</style></head><body>
<h1>Load: {{ name }}</h1>
<p>{{ "%.0f"|format(summary.duration_s) }} s of {{ "%g"|format(summary.planned_s) }} s planned;
stopped by {{ summary.stop_reason }}; {{ summary.workers }} Locust process(es).</p>
{% if summary.saturated %}
<p class="note">Latency inconclusive: {{ summary.saturated }}</p>
{% endif %}
<table><tr><th>requests</th><th>count</th><th>failed</th><th>req/s</th><th>p50</th><th>p95</th>
<th>p99</th><th>max</th><th>avg</th></tr>
{% for label, s in rows %}<tr><td>{{ label }}</td><td class="n">{{ s.count }}</td>
<td class="n">{{ "%.2f"|format(100 * s.error_rate) }} %</td>
<td class="n">{{ "%.1f"|format(s.rps) }}</td>
{% for v in (s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.avg_ms) %}
<td class="n">{{ "%.1f"|format(v) }} ms</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>Latency over time (ms): p50, p95, p99</h2>{{ latency | safe }}
<h2>Requests per second</h2>{{ rps | safe }}
<h2>Response-time distribution</h2>{{ distribution | safe }}
</body></html>
"""
)


def load_report_html(name: str, summary: LoadSummary, results: Mapping[str, Any]) -> str:
    """The whole page; `results` is the Locust side's document, for the distribution."""
    rows = [("all", summary.total), *summary.per_request.items()]
    times = [point.t for point in summary.timeline]
    latency = line_chart(
        times,
        [
            ([getattr(point, key) for point in summary.timeline], colour)
            for key, colour in LATENCY_SERIES
        ],
    )
    rps = line_chart(times, [([point.rps for point in summary.timeline], RPS_COLOUR)])
    return _TEMPLATE.render(
        name=name,
        summary=summary,
        rows=rows,
        latency=latency,
        rps=rps,
        distribution=_distribution(results),
    )


def line_chart(
    times: Sequence[int],
    series: Sequence[tuple[Sequence[float | None], str]],
    x_label: str = "{} s",
) -> str:
    """Polylines over a shared time axis; a second without data breaks its line. `x_label`
    formats the axis ends, for an axis counted in something other than seconds."""
    values = [v for points, _ in series for v in points if v is not None]
    if not times or not values:
        return "<p>no data</p>"
    top = max(values) * 1.1 or 1.0
    span = max(1, times[-1] - times[0])

    def x(t: int) -> float:
        return _PAD + (t - times[0]) / span * (_WIDTH - 2 * _PAD)

    def y(v: float) -> float:
        return _HEIGHT - _PAD - v / top * (_HEIGHT - 2 * _PAD)

    lines = []
    for points, colour in series:
        segment: list[str] = []
        for t, v in zip(times, points, strict=True):
            if v is None:
                lines.append(_polyline(segment, colour))
                segment = []
            else:
                segment.append(f"{x(t):.1f},{y(v):.1f}")
        lines.append(_polyline(segment, colour))
    return _svg([*lines, *_axes(f"{top:.4g}", x_label.format(times[0]), x_label.format(times[-1]))])


def _distribution(results: Mapping[str, Any]) -> str:
    """Forty bars over the run's response times on a log axis (counts merged over the run)."""
    merged = Histogram()
    for piece in results.get("slices", []):
        merged.merge(Histogram.from_dict(piece["histogram"]))
    return distribution_chart(merged.bins(), merged.min_ms, merged.max_ms)


def distribution_chart(bins: Sequence[tuple[float, int]], min_ms: float, max_ms: float) -> str:
    """The bars for histogram `bins` ((ms, count) pairs, as `Histogram.bins()` and the decision
    record's `latency_bins` give them), so load.html and the gate report draw them alike."""
    if not any(count for _, count in bins):
        return "<p>no data</p>"
    low, high = math.log10(max(min_ms, 0.01)), math.log10(max(max_ms, 0.011))
    edges = 40
    width = max(high - low, 1e-6) / edges
    counts = [0] * edges
    for value_ms, count in bins:
        value = math.log10(max(value_ms, 0.01))
        counts[min(edges - 1, max(0, int((value - low) / width)))] += count
    tallest = max(counts)
    bar, room = (_WIDTH - 2 * _PAD) / edges, _HEIGHT - 2 * _PAD
    bars = [
        f'<rect x="{_PAD + i * bar:.1f}" y="{_HEIGHT - _PAD - c / tallest * room:.1f}"'
        f' width="{bar - 1:.1f}" height="{c / tallest * room:.1f}" fill="#1971c2"/>'
        for i, c in enumerate(counts)
        if c
    ]
    return _svg([*bars, *_axes(str(tallest), f"{min_ms:.3g} ms", f"{max_ms:.4g} ms")])


def _polyline(points: list[str], colour: str) -> str:
    if not points:
        return ""
    return (
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>'
    )


def _axes(top: str, left: str, right: str) -> list[str]:
    bottom = _HEIGHT - _PAD
    return [
        f'<line x1="{_PAD}" y1="{bottom}" x2="{_WIDTH - _PAD}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{bottom}" stroke="#888"/>',
        f'<text x="4" y="{_PAD}" font-size="11">{top}</text>',
        f'<text x="{_PAD}" y="{bottom + 16}" font-size="11">{left}</text>',
        f'<text x="{_WIDTH - _PAD}" y="{bottom + 16}" font-size="11" '
        f'text-anchor="end">{right}</text>',
    ]


def _svg(parts: list[str]) -> str:
    body = "".join(part for part in parts if part)
    return f'<svg width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}">{body}</svg>'
