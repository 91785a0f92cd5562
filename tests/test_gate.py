"""The gate's policy: GO only when something was verified and nothing that blocks went wrong."""

from __future__ import annotations

import pytest

from gonogo.gate import CheckResult, Verdict, decide

BLOCK = ("critical", "major")


def result(outcome: str, severity: str = "major", id: str = "test_x[a]") -> CheckResult:
    return CheckResult(id=id, outcome=outcome, severity=severity, message="m", duration_s=0.1)  # type: ignore[arg-type]


def test_all_passed_is_go() -> None:
    decision = decide([result("passed"), result("passed", "critical")], block_on=BLOCK)
    assert decision.verdict is Verdict.GO
    assert decision.verdict.exit_code == 0
    assert decision.reasons == ()


@pytest.mark.parametrize("outcome", ["failed", "error", "skipped", "xpassed"])
@pytest.mark.parametrize("severity", ["critical", "major"])
def test_blocking_outcomes_are_no_go(outcome: str, severity: str) -> None:
    bad = result(outcome, severity, id="test_y[b]")
    decision = decide([result("passed"), bad], block_on=BLOCK)
    assert decision.verdict is Verdict.NO_GO
    assert decision.verdict.exit_code == 1
    assert decision.blocking == (bad,)
    assert decision.reasons[0].startswith("test_y[b] ") and f"({severity})" in decision.reasons[0]


@pytest.mark.parametrize("outcome", ["failed", "error", "skipped"])
def test_minor_failures_are_warnings(outcome: str) -> None:
    minor = result(outcome, "minor")
    decision = decide([result("passed"), minor], block_on=BLOCK)
    assert decision.verdict is Verdict.GO
    assert decision.warnings == (minor,)


def test_policy_can_make_major_failures_warnings() -> None:
    decision = decide([result("passed"), result("failed", "major")], block_on=["critical"])
    assert decision.verdict is Verdict.GO
    assert len(decision.warnings) == 1


def test_xfailed_is_listed_as_a_warning() -> None:
    decision = decide([result("passed"), result("xfailed")], block_on=BLOCK)
    assert decision.verdict is Verdict.GO
    assert [w.outcome for w in decision.warnings] == ["xfailed"]


def test_nothing_verified_is_no_go() -> None:
    decision = decide([], block_on=BLOCK)
    assert decision.verdict is Verdict.NO_GO
    assert decision.reasons == ("no check ran: nothing was verified",)


def test_interrupted_run_is_never_go() -> None:
    decision = decide([result("passed")], block_on=BLOCK, interrupted=True)
    assert decision.verdict is Verdict.NO_GO
    assert "interrupted" in decision.reasons[0]


def test_collection_errors_are_no_go() -> None:
    decision = decide([result("passed")], block_on=BLOCK, collection_errors=2)
    assert decision.verdict is Verdict.NO_GO
    assert decision.reasons == ("2 check module(s) could not be collected",)
