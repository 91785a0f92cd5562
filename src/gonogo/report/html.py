"""`report.html`: the decision record as one self-contained page a person reads to act on it.

The page carries everything inline (CSS, SVG; no script, font or image from anywhere) because it
is opened from CI artefacts, mail and air-gapped hosts, and printed. The order follows the
reader's questions: what was decided and why, what failed, what the rollback and the watch did,
the load, then every check by area, the history and who was told.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gonogo.report._atomic import write_text_atomic
from gonogo.report._html_checks import area_tables, failing_checks, waiver_sections
from gonogo.report._html_kit import (
    Markup,
    badge,
    el,
    get_list,
    join,
    moment,
    seconds,
    tone_of,
)
from gonogo.report._html_runs import notifications, rollback_section, watch_section
from gonogo.report._html_trends import history_section, load_section

__all__ = ["render_html", "write_html"]

_HEADLINES = {
    "GO": "Clear to deploy.",
    "NO-GO": "Do not ship this release.",
    "ROLLBACK": "The deployment is unhealthy: roll back.",
}
_COUNT_ORDER = ("failed", "error", "passed", "skipped", "xfailed", "xpassed")
_STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212529;
  margin: 0; background: #fff; }
main, .banner > div { max-width: 1200px; margin: 0 auto; padding: 0 24px 48px; }
.banner > div { padding: 20px 24px; }
h2 { margin: 1.6em 0 .5em; padding-bottom: .2em; border-bottom: 2px solid #dee2e6; }
h3 { margin: 1.2em 0 .4em; }
code, pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
pre, code, dd, table.fixed td { overflow-wrap: anywhere; }
td { overflow-wrap: break-word; }
table.fixed { table-layout: fixed; }
pre { white-space: pre-wrap; margin: .3em 0; padding: .5em .7em; background: #f8f9fa;
  border: 1px solid #e9ecef; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin: .3em 0 1em; }
th, td { text-align: left; vertical-align: top; padding: .3em .6em;
  border-bottom: 1px solid #e9ecef; }
th { background: #f1f3f5; font-weight: 600; }
.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail-row td { background: #fff5f5; }
.muted { color: #868e96; font-weight: normal; }
.badge { display: inline-block; padding: 0 .45em; border-radius: 3px; font-size: 12px;
  font-weight: 600; color: #fff; background: #868e96; white-space: nowrap; }
.badge.ok { background: #2b8a3e; } .badge.bad { background: #c92a2a; }
.badge.err { background: #862e9c; } .badge.warn { background: #e8590c; }
.banner { color: #fff; background: #495057; }
.banner.GO { background: #2b8a3e; } .banner.NO-GO { background: #d9480f; }
.banner.ROLLBACK { background: #862e9c; border-bottom: 6px solid #c92a2a; }
.banner h1 { margin: 0; font-size: 34px; letter-spacing: .02em; }
.banner h1 small { font-size: 18px; font-weight: 500; margin-left: .6em; }
.banner p { margin: .3em 0 0; }
.banner .interrupted { display: inline-block; margin-top: .5em; padding: .2em .6em;
  background: #fff; color: #c92a2a; font-weight: 700; border-radius: 3px; }
.meta { display: flex; flex-wrap: wrap; gap: .3em 1.6em; margin-top: .6em; opacity: .95; }
.counts { margin-top: .6em; display: flex; flex-wrap: wrap; gap: .4em; }
.counts .badge { font-size: 13px; border: 1px solid rgba(255,255,255,.6); }
.reasons { margin: .8em 0 0; padding-left: 1.2em; }
nav { margin: .8em 0 0; font-size: 13px; }
nav a { margin-right: 1em; color: #fff; }
.card { border: 1px solid #dee2e6; border-left: 4px solid #c92a2a; border-radius: 4px;
  padding: .5em .8em; margin: .6em 0; break-inside: avoid; }
.card.err { border-left-color: #862e9c; } .card.warn { border-left-color: #e8590c; }
h3 + p.muted { margin-top: -.3em; }
.card-head { display: flex; flex-wrap: wrap; gap: .4em; align-items: baseline; }
.card-head .id { font-weight: 600; }
dl.evidence, dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr);
  gap: .2em 1em; margin: .4em 0; }
dl dt { font-weight: 600; color: #495057; } dl dd { margin: 0; min-width: 0; }
dl.evidence pre { margin: 0; padding: .15em .4em; }
.callout { border: 1px solid #f08c00; background: #fff9db; border-radius: 4px;
  padding: .4em .8em; margin: .6em 0; }
.callout h3 { margin-top: .3em; }
svg { max-width: 100%; height: auto; display: block; }
svg.timeline, svg.strip { margin: .5em 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; flex: 1 1 520px; min-width: 0; }
figcaption { font-weight: 600; margin: .4em 0; }
.key { margin-left: 1em; font-weight: normal; white-space: nowrap; }
.key i { display: inline-block; width: 10px; height: 10px; margin-right: .3em; }
.legend { font-size: 12px; }
footer { margin-top: 3em; color: #868e96; font-size: 12px; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 11px; } main, .banner > div { max-width: none; padding: 0 0 1em; }
  .banner > div { padding: 12px; } nav { display: none; }
  tr, figure, svg, .callout { break-inside: avoid; } h2, h3 { break-after: avoid; }
}
"""


def render_html(record: Mapping[str, Any], trend: Mapping[str, Any] | None = None) -> str:
    """The whole page for one decision record; `trend` (the environment's history) adds the
    history section."""
    sections: list[tuple[str, str, Markup]] = [
        ("failing", "Failing", failing_checks(record)),
        ("waivers", "Waivers", waiver_sections(record)),
    ]
    for key, anchor, title, render in (
        ("rollback", "rollback", "Rollback", rollback_section),
        ("watch", "watch", "Watch", watch_section),
        ("load", "load", "Load", load_section),
    ):
        if isinstance(record.get(key), Mapping):
            sections.append((anchor, title, render(record[key])))
    sections.append(("areas", "Checks", area_tables(record)))
    if trend is not None:
        sections.append(("history", "History", history_section(trend)))
    sent = get_list(record, "notifications")
    if sent:
        sections.append(("notifications", "Notifications", notifications(sent)))
    present = [(anchor, title, body) for anchor, title, body in sections if body]
    nav = el("nav", *(el("a", title, href=f"#{anchor}") for anchor, title, _ in present))
    decision = str(record.get("decision", "?"))
    page = el(
        "html",
        el(
            "head",
            el("meta", charset="utf-8"),
            el("meta", name="viewport", content="width=device-width, initial-scale=1"),
            el("title", f"gonogo {decision}: {record.get('environment', '?')}"),
            el("style", Markup(_STYLE)),
        ),
        el(
            "body",
            _banner(record, nav),
            el("main", *(body for _, _, body in present), _footer(record)),
        ),
        lang="en",
    )
    return f"<!doctype html>\n{page}\n"


def write_html(
    path: Path, record: Mapping[str, Any], trend: Mapping[str, Any] | None = None
) -> None:
    """Write atomically: a browser or an artefact upload never gets half a page."""
    write_text_atomic(path, render_html(record, trend))


def _banner(record: Mapping[str, Any], nav: Markup) -> Markup:
    decision = str(record.get("decision", "?"))
    headline = _HEADLINES.get(decision, "")
    if decision == "ROLLBACK" and record.get("exit_code") == 7:
        headline = "Rolled back, and health was not restored: act now."
    parts: list[object] = [
        el("h1", decision, el("small", headline)),
    ]
    if record.get("interrupted"):
        parts.append(
            el(
                "div",
                "Interrupted: the run did not finish; only the checks that ran are judged.",
                class_="interrupted",
            )
        )
    parts.append(
        el(
            "div",
            el("span", "environment ", el("b", record.get("environment", "?"))),
            el("span", f"{moment(record.get('started_at'))} → {moment(record.get('finished_at'))}"),
            el("span", f"took {seconds(record.get('duration_s'))}"),
            el("span", f"exit code {record.get('exit_code', '?')}"),
            class_="meta",
        )
    )
    counts = record.get("counts") or {}
    ordered = sorted(counts, key=lambda o: _COUNT_ORDER.index(o) if o in _COUNT_ORDER else 99)
    parts.append(el("div", *(_count(o, counts[o]) for o in ordered), class_="counts"))
    reasons = get_list(record, "reasons")
    if reasons:
        parts.append(el("ul", *(el("li", reason) for reason in reasons), class_="reasons"))
    return el("header", el("div", *parts, nav), class_=f"banner {decision}")


def _count(outcome: str, n: int) -> Markup:
    return badge(f"{n} {outcome}", tone_of(outcome))


def _footer(record: Mapping[str, Any]) -> Markup:
    history = record.get("history")
    where: list[object] = [
        f"gonogo {record.get('gonogo_version', '?')}",
        f" · record schema {record.get('schema_version', '?')} · ",
        el("code", record.get("environment_file", "")),
    ]
    if isinstance(history, Mapping):
        where += [
            f" · history run {history.get('run_id')} in ",
            el("code", history.get("file", "")),
        ]
    return el("footer", join(where))
