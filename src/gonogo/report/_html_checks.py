"""The gate report's check sections: what failed (first, whole findings and evidence), what was
waived, waivers that need attention, and every area's table of checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from gonogo.report._html_kit import (
    Markup,
    badge,
    days_left,
    el,
    first_line,
    get_list,
    join,
    seconds,
    split_id,
    table,
)

__all__ = ["area_tables", "failing_checks", "waiver_sections"]

# The areas a reviewer looks at first, in this order; the rest follow in the order they ran.
_LEADING_AREAS = ("tls", "headers", "containers")
_AREA_TITLES = {
    "tls": "TLS",
    "cors": "CORS",
    "openapi": "OpenAPI",
    "kpis": "Load KPIs",
    "exposed_paths": "Exposed paths",
    "rate_limits": "Rate limits",
    "bad_input": "Bad input",
}
_GROUPS = (
    ("blocking", "Blocking", "these checks decided the outcome", "bad"),
    ("triggers", "Rollback triggers", "these checks fired a rollback", "err"),
    ("warnings", "Warnings", "these did not block the release but need a look", "warn"),
)
_EVIDENCE = ("measured", "threshold", "detail")
_AREA_HEAD = ("target", "check", "outcome", "severity", "finding")
_AREA_WIDTHS = ("18%", "25%", "10%", "8%", "39%")
_WAIVED_WIDTHS = ("34%", "10%", "38%", "18%")
_WAIVER_WIDTHS = ("34%", "48%", "18%")


def failing_checks(record: Mapping[str, Any]) -> Markup:
    """Blocking, then triggers, then warnings; a check in two lists is shown once, where it
    first appears, so a blocking trigger is not read as two problems."""
    by_id = {str(check.get("id")): check for check in get_list(record, "checks")}
    triggers = {str(i) for i in get_list(record, "triggers")}
    shown: set[str] = set()
    groups = []
    for key, title, why, tone in _GROUPS:
        ids = [str(i) for i in get_list(record, key) if str(i) not in shown]
        shown.update(ids)
        if ids:
            cards = (_card(i, by_id.get(i), tone, trigger=i in triggers) for i in ids)
            groups.append(
                el("h3", f"{title} ({len(ids)})") + el("p", why, class_="muted") + join(cards)
            )
    body = join(groups) if groups else el("p", "Nothing failed.", class_="muted")
    return el("section", el("h2", "Failing checks"), body, id="failing")


def _card(check_id: str, check: Mapping[str, Any] | None, tone: str, *, trigger: bool) -> Markup:
    if check is None:
        missing = el("p", "not in this record's checks", class_="muted")
        return el("article", el("code", check_id, class_="id"), missing, class_=f"card {tone}")
    tags = [badge(str(check.get("severity", "?"))), badge(str(check.get("outcome", "?")))]
    if trigger or check.get("trigger"):
        tags.append(badge("rollback trigger", "err"))
    head = el(
        "div",
        join(tags, " "),
        " ",
        el("code", check_id, class_="id"),
        el("span", f"{check.get('area', '')} · {seconds(check.get('duration_s'))}", class_="muted"),
        class_="card-head",
    )
    message = str(check.get("message") or "").rstrip()
    finding = el("pre", message, class_="finding") if message else el("p", "no finding recorded")
    return el("article", head, finding, _evidence(check.get("evidence")), class_=f"card {tone}")


def _evidence(evidence: object) -> Markup:
    if not isinstance(evidence, Mapping):
        return Markup()
    items = [
        el("dt", key) + el("dd", el("pre", str(evidence[key])))
        for key in _EVIDENCE
        if evidence.get(key) is not None
    ]
    return el("dl", *items, class_="evidence") if items else Markup()


def waiver_sections(record: Mapping[str, Any]) -> Markup:
    """Waived checks with why and until when; expired waivers (no longer shielding anything)
    and unused ones (matching nothing, likely stale) called out, as both need a person."""
    today = _run_day(record)
    outcomes = {str(c.get("id")): str(c.get("outcome", "")) for c in get_list(record, "checks")}
    parts = []
    waived = get_list(record, "waived")
    if waived:
        rows = [
            (
                el("code", w.get("id", "")),
                badge(outcomes.get(str(w.get("id")), "?")),
                w.get("reason", ""),
                _expiry(w.get("expires"), today),
            )
            for w in waived
        ]
        parts.append(el("h3", f"Waived ({len(waived)})"))
        parts.append(table(("check", "outcome", "reason", "expires"), rows, widths=_WAIVED_WIDTHS))
    for key, title, why in (
        ("expired_waivers", "Expired waivers", "no longer applied: renew them or fix the checks"),
        ("unused_waivers", "Unused waivers", "matched no check in this run: remove them"),
    ):
        waivers = get_list(record, key)
        if waivers:
            listed = [
                (
                    el("code", w.get("check", "")),
                    w.get("reason", ""),
                    _expiry(w.get("expires"), today),
                )
                for w in waivers
            ]
            parts.append(
                el(
                    "div",
                    el("h3", f"{title} ({len(waivers)})"),
                    el("p", why),
                    table(("pattern", "reason", "expires"), listed, widths=_WAIVER_WIDTHS),
                    class_="callout",
                )
            )
    if not parts:
        return Markup()
    return el("section", el("h2", "Waivers"), *parts, id="waivers")


def _run_day(record: Mapping[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(record.get("finished_at", ""))[:10])
    except ValueError:
        return None


def _expiry(expires: object, today: date | None) -> Markup:
    left = days_left(expires, today)
    return join([str(expires or "-"), el("span", f" ({left})", class_="muted") if left else ""])


def area_tables(record: Mapping[str, Any]) -> Markup:
    """One table per area, the leading areas first; failing rows tinted so they stand out in
    an otherwise green table."""
    areas: dict[str, list[Mapping[str, Any]]] = {area: [] for area in _LEADING_AREAS}
    for check in get_list(record, "checks"):
        areas.setdefault(str(check.get("area") or "other"), []).append(check)
    sections = [_area(area, checks) for area, checks in areas.items() if checks]
    if not sections:
        return Markup()
    return el("section", el("h2", "Checks by area"), *sections, id="areas")


def _area(area: str, checks: list[Mapping[str, Any]]) -> Markup:
    tally: dict[str, int] = {}
    rows, tints = [], []
    for check in checks:
        outcome = str(check.get("outcome", "?"))
        tally[outcome] = tally.get(outcome, 0) + 1
        name, target = split_id(str(check.get("id", "")))
        shown = badge(outcome)
        if check.get("waived"):
            shown = shown + el("span", " waived", class_="muted")
        rows.append(
            (
                target,
                el("code", name),
                shown,
                check.get("severity", ""),
                first_line(check.get("message")),
            )
        )
        tints.append(None if outcome in ("passed", "skipped", "xfailed") else "fail-row")
    title = _AREA_TITLES.get(area, area.replace("_", " ").capitalize())
    summary = ", ".join(f"{n} {outcome}" for outcome, n in tally.items())
    return el(
        "div",
        el("h3", title, el("span", f" {summary}", class_="muted")),
        table(_AREA_HEAD, rows, row_class=tints, widths=_AREA_WIDTHS),
        class_="area",
        id=f"area-{area}",
    )
