"""The gate's side of a pytest session: collect outcomes, decide, write the record, set the exit.

Registered only on the controlling process (never on xdist workers), because only there do
all reports arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gonogo._section import SEVERITIES
from gonogo.environment_file import LoadedEnvironment
from gonogo.gate import CheckResult, Decision, Outcome, decide
from gonogo.report.json import RunInfo, decision_record, write_decision

__all__ = ["DECISION_FILE", "GateSession", "RunState"]

DECISION_FILE = "decision.json"


@dataclass
class RunState:
    """What one session accumulates: the loaded environment and every test's outcome."""

    loaded: LoadedEnvironment | None
    report_dir: Path
    environments_dir: Path
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    results: dict[str, CheckResult] = field(default_factory=dict)
    collection_errors: int = 0
    interrupted: bool = False
    decision: Decision | None = None
    load: dict[str, Any] | None = None  # the load stage's KPIs, when it ran


class GateSession:
    """Collects outcomes on the controlling process, then decides, reports and sets the exit."""

    def __init__(self, run: RunState, loaded: LoadedEnvironment) -> None:
        self.run = run
        self.loaded = loaded

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.run.collection_errors += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = _outcome(report)
        previous = self.run.results.get(report.nodeid)
        if previous is not None and _RANK[previous.outcome] >= _RANK[outcome]:
            outcome = previous.outcome
        properties = dict(report.user_properties)
        message = str(properties.get("gonogo_message", "")) if outcome == _outcome(report) else ""
        severity = str(properties.get("gonogo_severity", "major"))
        self.run.results[report.nodeid] = CheckResult(
            id=report.nodeid.rpartition("::")[2],
            outcome=outcome,
            severity=severity if severity in SEVERITIES else "major",
            message=message or (previous.message if previous else ""),
            duration_s=report.duration + (previous.duration_s if previous else 0.0),
        )

    def pytest_keyboard_interrupt(self) -> None:
        self.run.interrupted = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        run, loaded = self.run, self.loaded
        interrupted = run.interrupted or exitstatus == pytest.ExitCode.INTERRUPTED
        results = list(run.results.values())
        decision = decide(
            results,
            block_on=loaded.environment.gate.block_on,
            interrupted=interrupted,
            collection_errors=run.collection_errors,
        )
        run.decision = decision
        keep = exitstatus in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)
        if not keep and not interrupted:
            session.exitstatus = decision.verdict.exit_code
        info = RunInfo(
            environment=loaded.environment.name,
            environment_file=loaded.path,
            started_at=run.started_at,
            finished_at=datetime.now(UTC),
            exit_code=int(session.exitstatus),
        )
        record = decision_record(decision, results, info, load=run.load)
        write_decision(run.report_dir / DECISION_FILE, record, loaded.redactor)
        session.config.hook.pytest_gonogo_decision(
            config=session.config, decision=decision, record=record
        )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        decision = self.run.decision
        if decision is None:
            return
        redact = self.loaded.redactor.redact
        terminalreporter.section(f"gonogo decision: {decision.verdict.label}")
        blocking_ids = {r.id for r in decision.blocking}
        for reason in decision.reasons:
            if not any(reason.startswith(i + " ") for i in blocking_ids):
                terminalreporter.line(redact(f"NO-GO because {reason}"), red=True)
        for title, results in (("blocking", decision.blocking), ("warnings", decision.warnings)):
            if results:
                terminalreporter.line(f"{title} ({len(results)}):")
            for r in results:
                finding = r.message.splitlines()[0] if r.message else ""
                terminalreporter.line(redact(f"  {r.id} [{r.severity}, {r.outcome}] {finding}"))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        decision, loaded = self.run.decision, self.loaded
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if decision is None or reporter is None:
            return
        label = decision.verdict.label
        detail = (
            f"{len(decision.blocking)} blocking"
            if decision.blocking
            else (
                f"{len(decision.warnings)} warnings" if decision.warnings else "all checks passed"
            )
        )
        if decision.reasons and not decision.blocking:
            detail = decision.reasons[0]
        reporter.write_line(
            f"gonogo: {label} for {loaded.environment.name} ({detail}); "
            f"decision record {self.run.report_dir / DECISION_FILE}",
            bold=True,
            green=label == "GO",
            red=label != "GO",
        )


_RANK: dict[Outcome, int] = {
    "passed": 0,
    "xfailed": 1,
    "skipped": 2,
    "xpassed": 3,
    "failed": 4,
    "error": 5,
}


def _outcome(report: pytest.TestReport) -> Outcome:
    if report.passed:
        return "xpassed" if hasattr(report, "wasxfail") else "passed"
    if report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    return "failed" if report.when == "call" else "error"
