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

from gonogo._gate_actions import DECISION_FILE, HTML_FILE, act_and_report
from gonogo._run_budget import NOT_STARTED, RunBudget
from gonogo._section import SEVERITIES
from gonogo.environment_file import LoadedEnvironment
from gonogo.gate import CheckResult, Decision, Outcome, decide
from gonogo.report.json import RunInfo

__all__ = ["DECISION_FILE", "GateSession", "RunState"]


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
    budget: RunBudget | None = None  # the run's time budget; it knows what interrupted the run
    not_started: int = 0  # checks refused for want of time
    history_file: Path | None = None
    post_rollback: bool = False  # this run verifies after a rollback hook: it acts on nothing
    rollback_enabled: bool = False  # --rollback
    decision: Decision | None = None
    load: dict[str, Any] | None = None  # the load stage's KPIs, when it ran
    watch: dict[str, Any] | None = None  # the watch window's timeline, when it ran
    # What the probes saw (gonogo.fingerprint), for `gonogo diff --last`: merged here on the
    # controlling process from every report; pending on the process that probed, until its
    # next report carries the facts there.
    fingerprint: dict[str, str] = field(default_factory=dict)
    pending_fingerprint: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] | None = None


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
        if properties.get(NOT_STARTED) and report.when == "setup":
            self.run.not_started += 1
        message = str(properties.get("gonogo_message", "")) if outcome == _outcome(report) else ""
        severity = str(properties.get("gonogo_severity", "major"))
        evidence = properties.get("gonogo_evidence")
        fingerprint = properties.get("gonogo_fingerprint")
        if isinstance(fingerprint, dict):
            self.run.fingerprint.update({str(k): str(v) for k, v in fingerprint.items()})
        self.run.results[report.nodeid] = CheckResult(
            id=report.nodeid.rpartition("::")[2],
            outcome=outcome,
            severity=severity if severity in SEVERITIES else "major",
            message=message or (previous.message if previous else ""),
            duration_s=report.duration + (previous.duration_s if previous else 0.0),
            area=Path(report.nodeid.partition("::")[0]).stem.removeprefix("test_"),
            trigger=outcome == "failed" and bool(properties.get("gonogo_trigger")),
            evidence=evidence if isinstance(evidence, dict) else None,
        )

    def pytest_keyboard_interrupt(self) -> None:
        self.run.interrupted = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        run, loaded = self.run, self.loaded
        budget = run.budget
        interruption = budget.interruption if budget is not None else None
        interrupted = bool(
            interruption or run.interrupted or exitstatus == pytest.ExitCode.INTERRUPTED
        )
        results = list(run.results.values())
        environment = loaded.environment
        out_of_time = None
        if budget is not None and run.not_started:
            out_of_time = f"{budget.described} was spent: {run.not_started} check(s) did not start"
        decision = decide(
            results,
            block_on=environment.gate.block_on,
            waivers=environment.waivers,
            interrupted=interruption or interrupted,
            collection_errors=run.collection_errors,
            incomplete=out_of_time,
        )
        run.decision = decision
        keep = exitstatus in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)
        if not keep and not interrupted:
            session.exitstatus = decision.verdict.exit_code
        info = RunInfo(
            environment=environment.name,
            environment_file=loaded.path,
            started_at=run.started_at,
            finished_at=datetime.now(UTC),
            exit_code=int(session.exitstatus),
            interrupted=interrupted,
        )
        record, exit_code = act_and_report(session.config, run, loaded, decision, results, info)
        run.record = record
        if not keep and not interrupted:
            session.exitstatus = exit_code
        session.config.hook.pytest_gonogo_decision(
            config=session.config, decision=decision, record=record
        )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        decision, record = self.run.decision, self.run.record or {}
        if decision is None:
            return
        redact = self.loaded.redactor.redact
        verdict = decision.verdict.label
        terminalreporter.section(f"gonogo decision: {verdict}")
        blocking_ids = {r.id for r in decision.blocking}
        for reason in decision.reasons:
            if not any(reason.startswith(i + " ") for i in blocking_ids):
                terminalreporter.line(redact(f"{verdict} because {reason}"), red=True)
        groups = (
            ("rollback triggers", decision.triggers),
            ("blocking", tuple(r for r in decision.blocking if r not in decision.triggers)),
            ("warnings", decision.warnings),
        )
        for title, results in groups:
            if results:
                terminalreporter.line(f"{title} ({len(results)}):")
            for r in results:
                finding = r.message.splitlines()[0] if r.message else ""
                terminalreporter.line(redact(f"  {r.id} [{r.severity}, {r.outcome}] {finding}"))
        for line in _waiver_lines(decision):
            terminalreporter.line(redact(line), yellow=True)
        for line in _action_lines(record):
            terminalreporter.line(redact(line))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        decision, loaded = self.run.decision, self.loaded
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if decision is None or reporter is None:
            return
        label = decision.verdict.label
        if decision.triggers:
            detail = f"{len(decision.triggers)} rollback trigger(s) fired"
        elif decision.blocking:
            detail = f"{len(decision.blocking)} blocking"
        elif decision.reasons:
            detail = decision.reasons[0]
        elif decision.warnings:
            detail = f"{len(decision.warnings)} warnings"
        else:
            detail = "all checks passed"
        reporter.write_line(
            f"gonogo: {label} for {loaded.environment.name} ({detail}); "
            f"decision record {self.run.report_dir / DECISION_FILE}, "
            f"report {self.run.report_dir / HTML_FILE}",
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


def _waiver_lines(decision: Decision) -> list[str]:
    lines = [
        f"waived: {result.id} [{result.outcome}] ({waiver.reason}; until "
        f"{waiver.expires.isoformat()})"
        for result, waiver in decision.waived
    ]
    lines += [
        f"expired waiver: {w.check} expired on {w.expires.isoformat()}: no longer waives"
        for w in decision.expired_waivers
    ]
    lines += [
        f"unused waiver: {w.check} waives nothing this run (remove it?)"
        for w in decision.unused_waivers
    ]
    return lines


def _action_lines(record: dict[str, Any]) -> list[str]:
    """What the gate did after deciding: the rollback hook, its verification, notifications."""
    lines = []
    rollback = record.get("rollback")
    if rollback:
        lines.append(f"rollback: {rollback['note']}")
        if rollback.get("output"):
            tail = rollback["output"].strip().splitlines()[-5:]
            lines += [f"  hook| {line}" for line in tail]
    for delivery in record.get("notifications", []):
        state = f"status {delivery['status']}" if delivery["status"] else "not delivered"
        problem = f": {delivery['error']}" if delivery["error"] else ""
        lines.append(f"notified {delivery['url']}: {state}{problem}")
    return lines
