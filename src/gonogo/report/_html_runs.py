"""The gate report's sections about what happened after the checks: the rollback, the watch
(as a timeline of every measurement) and the notifications sent."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from gonogo.report._html_kit import (
    Markup,
    badge,
    clip,
    el,
    get_list,
    join,
    moment,
    parse_time,
    seconds,
    table,
)

__all__ = ["notifications", "rollback_section", "watch_section"]

# A rollback's output is for diagnosis; its end says why it stopped, so the end is what is kept.
_OUTPUT_TAIL = 6_000
_MARK_COLOURS = {
    "success": "#2b8a3e",
    "failure": "#c92a2a",
    "error": "#862e9c",
    "inconclusive": "#adb5bd",
}
_WIDTH, _LABEL_W, _ROW_H, _TOP, _RIGHT = 1160, 300, 28, 8, 20
_TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def rollback_section(rollback: Mapping[str, Any]) -> Markup:
    """Whether the rollback ran and worked: a rollback that ran but did not restore health, or
    that overran its budget, is the case a person has to act on now."""
    rows: list[tuple[str, object]] = [
        ("enabled", _yes_no(rollback.get("enabled"))),
        ("ran", _yes_no(rollback.get("ran"))),
    ]
    if rollback.get("note"):
        rows.append(("note", rollback["note"]))
    command = [str(part) for part in get_list(rollback, "command")]
    if command:
        rows.append(("command", el("code", shlex.join(command))))
    if rollback.get("ran"):
        timed_out = rollback.get("timed_out")
        rows += [
            ("exit code", _maybe(rollback.get("exit_code"))),
            ("timed out", badge("yes", "bad") if timed_out else "no"),
            ("duration", seconds(rollback.get("duration_s"))),
        ]
    if rollback.get("error"):
        rows.append(("error", el("pre", rollback["error"], class_="finding")))
    verify = rollback.get("verify")
    if isinstance(verify, Mapping):
        rows.append(("verification", _verification(verify)))
    restored = rollback.get("restored")
    if restored is not None:
        rows.append(("restored", badge("yes", "ok") if restored else badge("no", "bad")))
    rows.append(("total vs budget", _budget(rollback.get("total_s"), rollback.get("budget_s"))))
    facts = el("dl", *(el("dt", key) + el("dd", value) for key, value in rows), class_="facts")
    return el(
        "section", el("h2", "Rollback"), facts, _output(rollback.get("output")), id="rollback"
    )


def _verification(verify: Mapping[str, Any]) -> Markup:
    decision = verify.get("decision")
    parts: list[object] = [
        badge(str(decision)) if decision else "no decision",
        f" · exit code {_maybe(verify.get('exit_code'))}",
        f" · {seconds(verify.get('duration_s'))}",
        " · selection ",
        el("code", verify.get("selection", "")),
    ]
    failing = get_list(verify, "failing")
    if failing:
        parts.append(el("ul", *(el("li", el("code", check)) for check in failing)))
    return join(parts)


def _budget(total: object, budget: object) -> Markup:
    if not isinstance(total, int | float) or not isinstance(budget, int | float):
        return join(["-"])
    text = f"{seconds(total)} of {seconds(budget)}"
    if total > budget:
        return join([badge("over budget", "bad"), " ", text])
    return join([text])


def _output(output: object) -> Markup:
    text = str(output or "")
    if not text:
        return el("p", "The rollback printed nothing.", class_="muted")
    note = ""
    if len(text) > _OUTPUT_TAIL:
        note = f" (last {_OUTPUT_TAIL} of {len(text)} characters)"
        text = text[-_OUTPUT_TAIL:]
    return el("h3", f"Output{note}") + el("pre", text, class_="output")


def _yes_no(value: object) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _maybe(value: object) -> str:
    return "-" if value is None else str(value)


def watch_section(watch: Mapping[str, Any]) -> Markup:
    """The watch as a picture: when each probe failed matters as much as whether it did (one
    blip or a steady slide), which a table of outcomes cannot show."""
    entries = get_list(watch, "entries")
    planned = float(watch.get("duration_s") or 0)
    ran = _ran_for(watch)
    last = max(
        (float(m.get("t") or 0) for e in entries for m in get_list(e, "measurements")), default=0
    )
    span = max(planned, ran or 0, last, 1.0)
    stopped = watch.get("stopped_early")
    summary = (
        f"{seconds(ran if ran is not None else last)} of {seconds(planned)} planned, "
        f"a round every {seconds(watch.get('interval_s'))}; "
        f"{len(entries)} probe(s), from {moment(watch.get('started_at'))}."
    )
    parts = [el("p", summary)]
    if stopped:
        parts.append(el("p", badge("stopped early", "bad"), " ", stopped, class_="callout"))
    parts.append(_timeline(entries, span, ran if stopped else None))
    parts.append(_legend())
    rows = [
        (
            e.get("label", ""),
            e.get("kind", ""),
            badge(str(e.get("outcome", "?"))),
            e.get("reason", ""),
            e.get("limits", ""),
        )
        for e in entries
    ]
    head = ("probe", "kind", "outcome", "reason", "limits")
    parts.append(table(head, rows, widths=("27%", "8%", "9%", "38%", "18%")))
    return el("section", el("h2", "Watch"), *parts, id="watch")


def _ran_for(watch: Mapping[str, Any]) -> float | None:
    start, end = parse_time(watch.get("started_at")), parse_time(watch.get("ended_at"))
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _timeline(entries: Sequence[Mapping[str, Any]], span: float, stop_at: float | None) -> Markup:
    plot = _WIDTH - _LABEL_W - _RIGHT
    height = _TOP + len(entries) * _ROW_H + 28

    def x(t: float) -> float:
        return _LABEL_W + t / span * plot

    parts: list[Markup] = []
    for row, entry in enumerate(entries):
        top = _TOP + row * _ROW_H
        middle = top + _ROW_H / 2
        outcome = str(entry.get("outcome", "?"))
        label = str(entry.get("label", ""))
        if row % 2:
            parts.append(el("rect", x=0, y=top, width=_WIDTH, height=_ROW_H, fill="#f1f3f5"))
        parts.append(
            el(
                "text",
                el("title", f"{label}: {outcome}: {entry.get('reason', '')}"),
                clip(label, 30),
                el("tspan", f" {outcome}", fill=_outcome_colour(outcome), font_weight="bold"),
                x=6,
                y=middle + 4,
                font_size=12,
            )
        )
        for measurement in get_list(entry, "measurements"):
            status = str(measurement.get("status", "?"))
            t = float(measurement.get("t") or 0)
            value = measurement.get("value")
            tip = f"{t:.1f} s: {status}" + ("" if value is None else f", {value:g}")
            detail = measurement.get("detail")
            parts.append(
                el(
                    "rect",
                    el("title", f"{tip}: {detail}" if detail else tip),
                    x=f"{x(t) - 3:.1f}",
                    y=top + 6,
                    width=6,
                    height=_ROW_H - 12,
                    rx=2,
                    fill=_MARK_COLOURS.get(status, "#495057"),
                )
            )
    bottom = _TOP + len(entries) * _ROW_H
    parts.append(
        el("line", x1=_LABEL_W, y1=bottom, x2=_WIDTH - _RIGHT, y2=bottom, stroke="#868e96")
    )
    step = next((s for s in _TICK_STEPS if span / s <= 10), _TICK_STEPS[-1])
    for tick in range(0, int(span) + 1, step):
        parts.append(
            el(
                "line",
                x1=f"{x(tick):.1f}",
                y1=bottom,
                x2=f"{x(tick):.1f}",
                y2=bottom + 4,
                stroke="#868e96",
            )
        )
        parts.append(
            el(
                "text",
                f"{tick} s",
                x=f"{x(tick):.1f}",
                y=bottom + 17,
                font_size=11,
                text_anchor="middle",
            )
        )
    if stop_at is not None:
        parts.append(
            el(
                "line",
                el("title", f"stopped early at {stop_at:.1f} s"),
                x1=f"{x(stop_at):.1f}",
                y1=_TOP,
                x2=f"{x(stop_at):.1f}",
                y2=bottom,
                stroke="#c92a2a",
                stroke_dasharray="4 3",
            )
        )
    return el(
        "svg",
        *parts,
        class_="timeline",
        width=_WIDTH,
        height=height,
        viewBox=f"0 0 {_WIDTH} {height}",
        role="img",
        aria_label="watch timeline",
    )


def _outcome_colour(outcome: str) -> str:
    return {"passed": "#2b8a3e", "fired": "#c92a2a", "errored": "#862e9c"}.get(outcome, "#495057")


def _legend() -> Markup:
    swatches = (
        el("span", el("i", style=f"background:{colour}"), status, class_="key")
        for status, colour in _MARK_COLOURS.items()
    )
    return el("p", *swatches, class_="legend")


def notifications(sent: Sequence[Mapping[str, Any]]) -> Markup:
    """Who was told, and whether they heard: a failed webhook means someone is not paged."""
    rows = [
        (
            el("code", n.get("url", "")),
            _delivery(n.get("status"), n.get("error")),
            n.get("error") or "",
            seconds(n.get("duration_s")),
        )
        for n in sent
    ]
    widths = ("46%", "13%", "31%", "10%")
    body = table(("url", "status", "error", "took"), rows, numeric=(3,), widths=widths)
    return el("section", el("h2", "Notifications"), body, id="notifications")


def _delivery(status: object, error: object) -> Markup:
    failed = bool(error) or not isinstance(status, int) or status >= 400
    return badge("no response" if status is None else str(status), "bad" if failed else "ok")
