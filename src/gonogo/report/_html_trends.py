"""The gate report's numbers over time: the load run's KPIs (drawn by load.html's own chart code,
so both pages show a run alike) and the environment's history across runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gonogo.report._html_kit import (
    Markup,
    badge,
    el,
    get_list,
    join,
    moment,
    ms,
    percent,
    seconds,
    table,
)
from gonogo.report.load_html import LATENCY_SERIES, RPS_COLOUR, distribution_chart, line_chart

__all__ = ["history_section", "load_section"]

_DECISION_COLOURS = {"GO": "#2b8a3e", "NO-GO": "#e8590c", "ROLLBACK": "#862e9c"}
_STRIP_RUNS = 60  # the strip's most recent runs: enough to see a pattern, narrow enough to print
_CELL, _GAP = 15, 3
_KPI_HEAD = (
    *("requests", "count", "failed", "error rate", "req/s"),
    *("p50", "p90", "p95", "p99", "max", "avg", "statuses"),
)


def load_section(load: Mapping[str, Any]) -> Markup:
    """The run's KPIs as the gate judged them, with the charts that show whether a breach was
    a spike or the whole run."""
    facts = (
        f"{seconds(load.get('duration_s'))} of {seconds(load.get('planned_s'))} planned; "
        f"stopped by {load.get('stop_reason', '-')}; {load.get('workers', '?')} Locust process(es)"
    )
    if load.get("cpu_percent") is not None:
        facts += f"; generator CPU {load['cpu_percent']:.0f} % of {load.get('cores', '?')} core(s)"
    parts = [el("p", facts + ".")]
    if load.get("saturated"):
        parts.append(
            el("p", badge("latency inconclusive", "warn"), " ", load["saturated"], class_="callout")
        )
    per_request = load.get("per_request") or {}
    rows = [("all", load.get("total") or {}), *sorted(per_request.items())]
    parts.append(
        table(
            _KPI_HEAD,
            (_kpi_row(name, stats) for name, stats in rows),
            numeric=range(1, 11),
        )
    )
    parts.append(
        _charts(get_list(load, "timeline"), get_list(load, "latency_bins"), load.get("total") or {})
    )
    return el("section", el("h2", "Load KPIs"), *parts, id="load")


def _kpi_row(name: str, stats: Mapping[str, Any]) -> list[object]:
    statuses = stats.get("statuses") or {}
    return [
        el("code", name),
        stats.get("count", "-"),
        stats.get("failures", "-"),
        percent(stats.get("error_rate")),
        f"{stats.get('rps', 0):.1f}",
        *(
            ms(stats.get(key))
            for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "avg_ms")
        ),
        ", ".join(f"{code}: {n}" for code, n in statuses.items()),
    ]


def _charts(
    timeline: Sequence[Mapping[str, Any]],
    bins: Sequence[Sequence[float]],
    total: Mapping[str, Any],
) -> Markup:
    times = [int(point["t"]) for point in timeline]
    latency = line_chart(
        times, [([point.get(key) for point in timeline], colour) for key, colour in LATENCY_SERIES]
    )
    rps = line_chart(times, [([point.get("rps") for point in timeline], RPS_COLOUR)])
    pairs = [(float(value), int(count)) for value, count in bins]
    charts = [
        _figure("Latency over time (ms)", latency, _key(LATENCY_SERIES)),
        _figure("Requests per second", rps, Markup()),
    ]
    if pairs:
        high = max(float(total.get("max_ms") or 0), pairs[-1][0])
        histogram = distribution_chart(pairs, pairs[0][0], high)
        charts.append(_figure("Response-time distribution (log scale)", histogram, Markup()))
    return el("div", *charts, class_="charts")


def _figure(title: str, svg: str, key: Markup) -> Markup:
    """`svg` comes from load_html's chart code, which draws numbers only: no record text."""
    return el("figure", el("figcaption", title, key), Markup(svg))


def _key(series: Sequence[tuple[str, str]]) -> Markup:
    return join(
        el("span", el("i", style=f"background:{colour}"), name.removesuffix("_ms"), class_="key")
        for name, colour in series
    )


def history_section(trend: Mapping[str, Any]) -> Markup:
    """Whether this outcome is news: a NO-GO after twenty GOs reads differently from the fifth
    in a row, and a flaky check's failure is weaker evidence than a steady one's."""
    runs = sorted(get_list(trend, "runs"), key=lambda run: int(run.get("run_id", 0)))
    decisions = trend.get("decisions") or {}
    tally = join((badge(name) + f" {decisions.get(name, 0)}" for name in _DECISION_COLOURS), " ")
    parts = [el("p", f"{len(runs)} run(s) of {trend.get('environment', '?')}: ", tally)]
    if runs:
        parts.append(_strip(runs[-_STRIP_RUNS:]))
        parts.append(_kpi_trend(runs))
    flaky = get_list(trend, "flaky")
    if flaky:
        rows = [
            (
                el("code", f.get("id", "")),
                f.get("flips", 0),
                f.get("runs", 0),
                badge(str(f.get("last_outcome", "?"))),
            )
            for f in flaky
        ]
        parts.append(el("h3", f"Flaky checks ({len(flaky)})"))
        head = ("check", "flips", "runs", "last outcome")
        widths = ("64%", "10%", "10%", "16%")
        parts.append(table(head, rows, numeric=(1, 2), widths=widths))
    return el("section", el("h2", "History"), *parts, id="history")


def _strip(runs: Sequence[Mapping[str, Any]]) -> Markup:
    cells = [
        el(
            "rect",
            el(
                "title",
                f"run {run.get('run_id')}, {moment(run.get('started_at'))}: {run.get('decision')}, "
                f"{run.get('not_passed', 0)} not passed, {seconds(run.get('duration_s'))}",
            ),
            x=i * (_CELL + _GAP),
            y=0,
            width=_CELL,
            height=24,
            rx=2,
            fill=_DECISION_COLOURS.get(str(run.get("decision")), "#adb5bd"),
        )
        for i, run in enumerate(runs)
    ]
    width = len(runs) * (_CELL + _GAP)
    ends = [
        el("text", f"run {runs[0].get('run_id')}", x=0, y=40, font_size=11),
        el(
            "text",
            f"run {runs[-1].get('run_id')}",
            x=width - _GAP,
            y=40,
            font_size=11,
            text_anchor="end",
        ),
    ]
    return el(
        "svg",
        *cells,
        *ends,
        class_="strip",
        width=max(width, 120),
        height=46,
        viewBox=f"0 0 {max(width, 120)} 46",
        role="img",
        aria_label="decisions over time",
    )


def _kpi_trend(runs: Sequence[Mapping[str, Any]]) -> Markup:
    """Only runs with a load stage, joined up: a run without one measured nothing, and a gap
    in the line would read as an outage."""
    measured = [run for run in runs if run.get("kpis")]
    if not measured:
        return el("p", "No run in this history had a load stage.", class_="muted")
    ids = [int(run.get("run_id", 0)) for run in measured]
    kpis = [run["kpis"] for run in measured]
    p95 = line_chart(ids, [([k.get("p95_ms") for k in kpis], LATENCY_SERIES[1][1])], "run {}")
    rps = line_chart(ids, [([k.get("rps") for k in kpis], RPS_COLOUR)], "run {}")
    return el(
        "div",
        _figure("p95 latency per run (ms)", p95, Markup()),
        _figure("Requests per second per run", rps, Markup()),
        class_="charts",
    )
