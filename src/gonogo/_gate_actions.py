"""What the gate does once it has decided: roll back (when told to), remember the run, tell
whoever asked to be told, and write every report from the one decision record."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gonogo.environment_file import LoadedEnvironment
from gonogo.errors import GonogoError
from gonogo.gate import EXIT_ROLLBACK_FAILED, CheckResult, Decision, Verdict
from gonogo.history import History
from gonogo.notify import notify
from gonogo.report.html import write_html
from gonogo.report.json import RunInfo, decision_record, write_decision
from gonogo.report.markdown import markdown_summary
from gonogo.report.prom import write_prometheus_textfile
from gonogo.rollback import roll_back

if TYPE_CHECKING:
    from gonogo._gate_session import RunState

__all__ = ["DECISION_FILE", "HTML_FILE", "MARKDOWN_FILE", "PROM_FILE", "act_and_report"]

DECISION_FILE = "decision.json"
HTML_FILE = "report.html"
MARKDOWN_FILE = "summary.md"
PROM_FILE = "gonogo.prom"


def act_and_report(
    config: pytest.Config,
    run: RunState,
    loaded: LoadedEnvironment,
    decision: Decision,
    results: list[CheckResult],
    info: RunInfo,
) -> tuple[dict[str, Any], int]:
    """The final record and exit code, after the rollback, history and notifications."""
    sections = {name: getattr(run, name) for name in ("load", "watch") if getattr(run, name)}
    record = decision_record(decision, results, info, sections)
    if run.fingerprint:
        record["fingerprint"] = dict(sorted(run.fingerprint.items()))
    exit_code = info.exit_code
    redactor = loaded.redactor
    decision_path = run.report_dir / DECISION_FILE
    acts = not run.post_rollback
    if acts and decision.verdict is Verdict.ROLLBACK:
        write_decision(decision_path, record, redactor)  # the hook may want to read it
        rollback = roll_back(
            loaded,
            enabled=run.rollback_enabled or _enabled_in_file(loaded),
            triggers=[r.id for r in decision.triggers],
            report_dir=run.report_dir,
            run_id=f"{loaded.environment.name}-{info.started_at:%Y%m%dT%H%M%S}",
            pytest_args=[str(arg) for arg in config.args],
            invocation_dir=config.invocation_params.dir,
        )
        record["rollback"] = rollback
        if rollback["ran"] and not rollback["restored"] and exit_code == Verdict.ROLLBACK.exit_code:
            exit_code = record["exit_code"] = EXIT_ROLLBACK_FAILED
    trend = None
    if acts and run.history_file is not None:
        trend = _remember(run.history_file, redactor.redact_data(record), record)
    if acts:
        redacted = redactor.redact_data(record)
        deliveries = [
            notify(target, redacted, report_path=run.report_dir / HTML_FILE, redactor=redactor)
            for target in loaded.environment.notify
        ]
        sent = [delivery.to_dict() for delivery in deliveries if delivery is not None]
        if sent:
            record["notifications"] = sent
    redacted = redactor.redact_data(record)
    write_decision(decision_path, redacted, redactor)
    _write_reports(run.report_dir, redacted, trend)
    return record, exit_code


def _enabled_in_file(loaded: LoadedEnvironment) -> bool:
    hook = loaded.environment.rollback
    return hook is not None and hook.enabled


def _remember(
    path: Path, redacted: dict[str, Any], record: dict[str, Any]
) -> dict[str, Any] | None:
    """Append to the history; a history that cannot be written is noted, never fatal: the
    decision stands without it."""
    try:
        with History.open(path) as history:
            run_id = history.append(redacted)
            trend = history.trend(redacted["environment"])
    except (sqlite3.Error, OSError, ValueError, GonogoError) as exc:
        record["history"] = {"file": str(path), "error": f"not recorded: {exc}"}
        return None
    record["history"] = {"file": str(path), "run_id": run_id}
    return trend


def _write_reports(directory: Path, record: dict[str, Any], trend: dict[str, Any] | None) -> None:
    write_html(directory / HTML_FILE, record, trend)
    (directory / MARKDOWN_FILE).write_text(
        markdown_summary(record, report_link=HTML_FILE), encoding="utf-8"
    )
    write_prometheus_textfile(directory / PROM_FILE, record)
