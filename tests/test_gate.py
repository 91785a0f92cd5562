"""The gate's policy: GO only when something was verified and nothing that blocks went wrong."""

from __future__ import annotations

from datetime import date

import pytest

from gonogo.environment_gate import Waiver
from gonogo.gate import CheckResult, Verdict, decide, waiver_matches

BLOCK = ("critical", "major")


TODAY = date(2026, 11, 22)


def result(
    outcome: str, severity: str = "major", id: str = "test_x[a]", trigger: bool = False
) -> CheckResult:
    return CheckResult(
        id=id,
        outcome=outcome,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        message="m",
        duration_s=0.1,
        trigger=trigger,
    )


def waiver(check: str, expires: date = date(2026, 12, 31)) -> Waiver:
    return Waiver(check=check, reason="known: ticket OPS-12", expires=expires)


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


def test_a_fired_trigger_is_rollback_with_its_own_exit_code() -> None:
    fired = result("failed", "critical", id="test_watch_entry_held[status]", trigger=True)
    other = result("failed", "major", id="test_y[b]")
    decision = decide([result("passed"), fired, other], block_on=BLOCK)
    assert decision.verdict is Verdict.ROLLBACK
    assert decision.verdict.exit_code == 6
    assert decision.triggers == (fired,)
    assert set(decision.blocking) == {fired, other}
    assert decision.reasons[0] == (
        "test_watch_entry_held[status] failed (critical): a rollback trigger"
    )


def test_a_trigger_that_errored_blocks_but_does_not_roll_back() -> None:
    errored = result("error", "minor", id="test_metric_within_bound[ratio]", trigger=True)
    decision = decide([result("passed"), errored], block_on=BLOCK)
    assert decision.verdict is Verdict.NO_GO
    assert decision.triggers == ()
    assert decision.blocking == (errored,)


def test_an_interrupted_run_never_rolls_back() -> None:
    fired = result("failed", "critical", trigger=True)
    decision = decide([fired], block_on=BLOCK, interrupted=True)
    assert decision.verdict is Verdict.NO_GO


def test_a_waived_failure_does_not_block_and_is_listed() -> None:
    failed = result("failed", "critical", id="test_header_hsts[api]")
    decision = decide(
        [result("passed"), failed],
        block_on=BLOCK,
        waivers=[waiver("test_header_hsts[api]")],
        today=TODAY,
    )
    assert decision.verdict is Verdict.GO
    assert decision.waived == ((failed, waiver("test_header_hsts[api]")),)
    assert decision.blocking == () and decision.unused_waivers == ()


def test_a_waived_trigger_does_not_roll_back() -> None:
    fired = result("failed", "critical", id="test_watch_entry_held[status]", trigger=True)
    decision = decide(
        [fired], block_on=BLOCK, waivers=[waiver("test_watch_entry_held[*]")], today=TODAY
    )
    assert decision.verdict is Verdict.GO
    assert decision.triggers == ()


def test_an_expired_waiver_waives_nothing_and_says_so() -> None:
    failed = result("failed", "major", id="test_header_hsts[api]")
    lapsed = waiver("test_header_hsts[api]", expires=date(2026, 11, 21))
    decision = decide([failed], block_on=BLOCK, waivers=[lapsed], today=TODAY)
    assert decision.verdict is Verdict.NO_GO
    assert decision.expired_waivers == (lapsed,)
    assert decision.reasons == (
        "test_header_hsts[api] failed (major); its waiver expired on 2026-11-21",
    )


def test_a_waiver_is_valid_through_its_expiry_day() -> None:
    failed = result("failed", "major", id="test_header_hsts[api]")
    today = waiver("test_header_hsts[api]", expires=TODAY)
    assert decide([failed], block_on=BLOCK, waivers=[today], today=TODAY).verdict is Verdict.GO


def test_a_waiver_for_a_passing_check_is_unused() -> None:
    stale = waiver("test_x[a]")
    decision = decide([result("passed")], block_on=BLOCK, waivers=[stale], today=TODAY)
    assert decision.unused_waivers == (stale,)


@pytest.mark.parametrize(
    ("pattern", "check_id", "matches"),
    [
        ("test_header_hsts[api]", "test_header_hsts[api]", True),
        ("test_header_hsts[api]", "test_header_hsts[apx]", False),
        ("test_header_hsts[a]", "test_header_hsts[a]", True),
        ("test_header_*", "test_header_hsts[api]", True),
        ("test_tls_*[edge]", "test_tls_version[edge]", True),
        ("test_tls_*[edge]", "test_tls_version[edge2]", False),
        ("test_x[?]", "test_x[a]", True),
        ("test_x", "test_x[a]", False),
    ],
)
def test_waiver_patterns_treat_brackets_literally(
    pattern: str, check_id: str, matches: bool
) -> None:
    assert waiver_matches(waiver(pattern), check_id) is matches
