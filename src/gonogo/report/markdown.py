"""The decision as GitHub-flavoured Markdown, for a CI job's summary page ($GITHUB_STEP_SUMMARY).

The summary answers "can this ship, and if not, why" at a glance and links to the HTML report for
the rest. Findings are user data, so every piece of record text is escaped: a `|` would split a
table cell, a `<` open HTML, a leading `#` make a heading. Long tables end in "and N more", and a
last guard keeps the page under `LIMIT_BYTES`, well inside GitHub's 1 MiB per step.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

__all__ = ["LIMIT_BYTES", "markdown_summary"]

LIMIT_BYTES = 60_000
_ROWS = {"blocking": 30, "triggers": 15, "warnings": 15, "waived": 15, "reasons": 15, "loads": 15}
_STATUS = {"GO": "CLEARED", "NO-GO": "BLOCKED", "ROLLBACK": "ROLLED BACK"}
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~&#!])")
_S, _MS = "{:.1f} s", "{:.1f} ms"
_LEADING = re.compile(r"^(\d+)([.)])|^([-+=])")


def markdown_summary(record: Mapping[str, Any], *, report_link: str | None = None) -> str:
    """The whole summary; `report_link` (an artefact URL or a path) is linked at the end."""
    decision = str(record.get("decision", "?"))
    environment = str(record.get("environment", "?"))
    parts = [
        f"## gonogo {_text(decision)}: {_status(record)} ({_text(environment, 100)})",
        _facts(record),
    ]
    if record.get("interrupted"):
        parts.append("> **Interrupted:** the run did not finish; only the checks that ran count.")
    parts.append(_counts(record.get("counts") or {}))
    reasons = [str(reason) for reason in record.get("reasons") or []]
    if reasons:
        shown = [f"- {_text(reason, 300)}" for reason in reasons[: _ROWS["reasons"]]]
        parts.append("### Reasons\n\n" + "\n".join(shown + _more(reasons, "reasons")))
    parts += _check_tables(record)
    rollback = record.get("rollback")
    if isinstance(rollback, Mapping):
        parts.append(_rollback(rollback))
    parts += _waivers(record)
    load = record.get("load")
    if isinstance(load, Mapping):
        parts.append(_load(load))
    if report_link:
        parts.append(f"[Full HTML report](<{quote(report_link, safe=':/?#@!$&*+,;=%~')}>)")
    return _bounded("\n\n".join(part for part in parts if part) + "\n")


def _status(record: Mapping[str, Any]) -> str:
    """One word for the outcome, refined where the decision alone would mislead."""
    if record.get("interrupted"):
        return "INTERRUPTED"
    rollback = record.get("rollback")
    if record.get("decision") == "ROLLBACK" and isinstance(rollback, Mapping):
        if not rollback.get("ran"):
            return "ROLLBACK NEEDED"
        if rollback.get("restored") is False:
            return "ROLLBACK FAILED"
    return _STATUS.get(str(record.get("decision")), "UNKNOWN")


def _facts(record: Mapping[str, Any]) -> str:
    return (
        f"**Environment:** {_text(str(record.get('environment', '?')))} · "
        f"**Duration:** {_num(record.get('duration_s'), _S)} · "
        f"**Exit code:** {_text(str(record.get('exit_code', '?')))} · "
        f"**Finished:** {_text(str(record.get('finished_at', '?')))}"
    )


def _counts(counts: Mapping[str, Any]) -> str:
    if not counts:
        return ""
    rows = [f"| {_cell(outcome)} | {_cell(n)} |" for outcome, n in counts.items()]
    return "| outcome | checks |\n| --- | ---: |\n" + "\n".join(rows)


def _check_tables(record: Mapping[str, Any]) -> list[str]:
    """Blocking checks, then fired triggers and warnings not already listed."""
    by_id = {str(check.get("id")): check for check in record.get("checks") or []}
    shown: set[str] = set()
    tables = []
    for key, title in (
        ("blocking", "Blocking checks"),
        ("triggers", "Rollback triggers"),
        ("warnings", "Warnings"),
    ):
        ids = [str(i) for i in record.get(key) or [] if str(i) not in shown]
        shown.update(ids)
        if not ids:
            continue
        rows = []
        for check_id in ids[: _ROWS[key]]:
            check = by_id.get(check_id, {})
            finding = _cell(_first(check.get("message")), 140)
            rows.append(
                f"| {_cell(check_id, 100)} | {_cell(check.get('severity', ''))} "
                f"| {_cell(check.get('outcome', ''))} | {finding} |"
            )
        head = "| check | severity | outcome | finding |\n| --- | --- | --- | --- |"
        tables.append("\n".join([f"### {title} ({len(ids)})", "", head, *rows, *_more(ids, key)]))
    return tables


def _rollback(rollback: Mapping[str, Any]) -> str:
    lines = ["### Rollback", ""]
    if not rollback.get("ran"):
        note = rollback.get("note") or "the rollback did not run"
        return "\n".join([*lines, f"- Not run: {_text(str(note), 300)}"])
    command = shlex.join(str(part) for part in rollback.get("command") or [])
    timed_out = " (timed out)" if rollback.get("timed_out") else ""
    lines += [
        f"- Command: {_text(command, 300)}",
        f"- Exit code: {_text(str(rollback.get('exit_code')))}{timed_out}, "
        f"took {_num(rollback.get('duration_s'), _S)}",
    ]
    verify = rollback.get("verify")
    if isinstance(verify, Mapping):
        failing = len(verify.get("failing") or [])
        lines.append(
            f"- Verification: {_text(str(verify.get('decision')))}, {failing} check(s) failing"
        )
    restored = rollback.get("restored")
    lines.append(
        f"- Restored: {'unknown' if restored is None else 'yes' if restored else '**no**'}"
    )
    total, budget = rollback.get("total_s"), rollback.get("budget_s")
    if isinstance(total, int | float) and isinstance(budget, int | float):
        over = " **over budget**" if total > budget else ""
        lines.append(f"- Total: {_num(total, _S)} of {_num(budget, _S)} budget{over}")
    if rollback.get("error"):
        lines.append(f"- Error: {_text(str(rollback['error']), 300)}")
    return "\n".join(lines)


def _waivers(record: Mapping[str, Any]) -> list[str]:
    parts = []
    waived = list(record.get("waived") or [])
    if waived:
        rows = [
            f"| {_cell(w.get('id', ''), 100)} | {_cell(w.get('reason', ''), 140)} "
            f"| {_cell(w.get('expires', ''))} |"
            for w in waived[: _ROWS["waived"]]
        ]
        head = "| check | reason | expires |\n| --- | --- | --- |"
        parts.append(
            "\n".join([f"### Waived ({len(waived)})", "", head, *rows, *_more(waived, "waived")])
        )
    for key, title in (
        ("expired_waivers", "Expired waivers"),
        ("unused_waivers", "Unused waivers"),
    ):
        waivers = list(record.get(key) or [])
        if waivers:
            names = ", ".join(
                f"{_text(str(w.get('check', '')), 100)} ({_text(str(w.get('expires', '')))})"
                for w in waivers[:10]
            )
            more = f", and {len(waivers) - 10} more" if len(waivers) > 10 else ""
            parts.append(f"**{title} ({len(waivers)}):** {names}{more}")
    return parts


def _load(load: Mapping[str, Any]) -> str:
    per_request = sorted((load.get("per_request") or {}).items())
    rows = [("all", load.get("total") or {}), *per_request[: _ROWS["loads"]]]
    lines = [
        "### Load KPIs",
        "",
        "| requests | p95 | p99 | req/s | error rate |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, stats in rows:
        p95, p99 = _num(stats.get("p95_ms"), _MS), _num(stats.get("p99_ms"), _MS)
        rps, errors = _num(stats.get("rps"), "{:.1f}"), _num(stats.get("error_rate"), "{:.2%}")
        lines.append(f"| {_cell(name, 100)} | {p95} | {p99} | {rps} | {errors} |")
    lines += _more(per_request, "loads", "requests")
    if load.get("saturated"):
        lines += ["", f"Latency inconclusive: {_text(str(load['saturated']), 300)}"]
    return "\n".join(lines)


def _more(items: Sequence[object], key: str, noun: str = "") -> list[str]:
    hidden = len(items) - _ROWS[key]
    if hidden <= 0:
        return []
    return ["", f"…and {hidden} more{' ' + noun if noun else ''}, in the HTML report."]


def _text(text: str, limit: int = 1000) -> str:
    """Record text made inert: one line, clipped, Markdown and HTML characters escaped."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    escaped = _SPECIAL.sub(r"\\\1", flat)
    return _LEADING.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", escaped)


def _cell(value: object, limit: int = 60) -> str:
    return _text(str(value), limit)


def _first(message: object) -> str:
    lines = str(message or "").strip().splitlines()
    return lines[0] if lines else ""


def _num(value: object, form: str) -> str:
    """A number from the record in `form`; "?" where the record has none."""
    return form.format(value) if isinstance(value, int | float) else "?"


def _bounded(text: str) -> str:
    """The last guard on size: cut at a line end, so no table row is left half written."""
    if len(text.encode()) <= LIMIT_BYTES:
        return text
    cut = text.encode()[: LIMIT_BYTES - 200].decode(errors="ignore")
    return cut[: cut.rfind("\n") + 1] + "\n…summary truncated; the HTML report has everything.\n"
