"""The gate: folds every check outcome into one decision, GO, NO-GO or ROLLBACK, with its evidence.

Fail closed: a failure, an error or a skip of a check whose severity blocks is NO-GO, and so
is a run that verified nothing, stopped early, or could not collect its checks. A rollback
trigger that fired (a check that failed *as* a trigger: a watch entry, a metrics query marked
`rollback`) makes it ROLLBACK. An interrupted run is NO-GO even then: somebody is at the
keyboard, and an automatic rollback should not race them.

Waivers let a known failure through until their expiry date (inclusive); an expired waiver
waives nothing and the decision says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any, Literal

from gonogo.environment import Severity
from gonogo.environment_gate import Waiver

__all__ = [
    "EXIT_ROLLBACK_FAILED",
    "CheckResult",
    "Decision",
    "Outcome",
    "Verdict",
    "decide",
    "waiver_matches",
]

Outcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
NOT_PASSED: frozenset[Outcome] = frozenset({"failed", "error", "skipped", "xpassed"})
# Distinct from pytest's own codes (1 tests failed, 2 interrupted, 3 internal, 4 usage, 5 none).
EXIT_ROLLBACK_FAILED = 7  # ROLLBACK, and the hook ran but health did not come back


class Verdict(Enum):
    """The answer, and the process exit status that carries it to CI."""

    GO = ("GO", 0)
    NO_GO = ("NO-GO", 1)
    ROLLBACK = ("ROLLBACK", 6)

    def __init__(self, label: str, exit_code: int) -> None:
        self.label = label
        self.exit_code = exit_code


@dataclass(frozen=True)
class CheckResult:
    """One test's final outcome, as the gate and the reports see it."""

    id: str
    outcome: Outcome
    severity: Severity
    message: str
    duration_s: float
    area: str = ""
    trigger: bool = False  # failed as a rollback trigger
    evidence: dict[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    """The verdict, why, which results block it, which fired a rollback and which only warn."""

    verdict: Verdict
    reasons: tuple[str, ...]
    blocking: tuple[CheckResult, ...]
    warnings: tuple[CheckResult, ...]
    triggers: tuple[CheckResult, ...] = ()
    waived: tuple[tuple[CheckResult, Waiver], ...] = ()
    expired_waivers: tuple[Waiver, ...] = ()
    unused_waivers: tuple[Waiver, ...] = field(default=())


def decide(
    results: Sequence[CheckResult],
    *,
    block_on: Iterable[Severity],
    waivers: Sequence[Waiver] = (),
    today: date | None = None,
    interrupted: bool | str = False,
    collection_errors: int = 0,
    incomplete: str | None = None,
) -> Decision:
    """GO only when something was verified and nothing that blocks went wrong.

    `interrupted` is true, or says what interrupted the run (SIGTERM); `incomplete` says why
    checks were left out (the time budget), which alone makes the run NO-GO."""
    blocking_severities = set(block_on)
    today = today or date.today()
    active = [w for w in waivers if w.expires >= today]
    expired = [w for w in waivers if w.expires < today]
    not_passed = [r for r in results if r.outcome in NOT_PASSED]
    waived = [(r, w) for r in not_passed if (w := _first_match(r.id, active)) is not None]
    waived_ids = {r.id for r, _ in waived}
    standing = [r for r in not_passed if r.id not in waived_ids]
    blocking = tuple(r for r in standing if r.severity in blocking_severities or r.trigger)
    triggers = tuple(r for r in standing if r.trigger and r.outcome == "failed")
    warnings = tuple(
        r for r in results if r.outcome == "xfailed" or (r in standing and r not in blocking)
    )
    reasons: list[str] = []
    if interrupted:
        by = f" ({interrupted})" if isinstance(interrupted, str) else ""
        reasons.append(f"the run was interrupted{by} before every check finished")
    if incomplete:
        reasons.append(incomplete)
    if collection_errors:
        reasons.append(f"{collection_errors} check module(s) could not be collected")
    if not results:
        reasons.append("no check ran: nothing was verified")
    for result in blocking:
        reason = f"{result.id} {_verb(result.outcome)} ({result.severity})"
        if result in triggers:
            reason += ": a rollback trigger"
        lapsed = _first_match(result.id, expired)
        if lapsed is not None:
            reason += f"; its waiver expired on {lapsed.expires.isoformat()}"
        reasons.append(reason)
    if triggers and not interrupted:
        verdict = Verdict.ROLLBACK
    else:
        verdict = Verdict.NO_GO if reasons else Verdict.GO
    return Decision(
        verdict=verdict,
        reasons=tuple(reasons),
        blocking=blocking,
        warnings=warnings,
        triggers=triggers,
        waived=tuple(waived),
        expired_waivers=tuple(w for w in expired if _matches_any(w, results)),
        unused_waivers=tuple(w for w in active if not _matches_any(w, not_passed)),
    )


def waiver_matches(waiver: Waiver, check_id: str) -> bool:
    """A waiver names one check id, or a glob of them with * and ?; the brackets of a test id
    (test_x[api]) are literal, not a character class."""
    pattern = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in waiver.check
    )
    return re.fullmatch(pattern, check_id, flags=re.DOTALL) is not None


def _matches_any(waiver: Waiver, results: Iterable[CheckResult]) -> bool:
    return any(waiver_matches(waiver, r.id) for r in results)


def _first_match(check_id: str, waivers: Sequence[Waiver]) -> Waiver | None:
    return next((w for w in waivers if waiver_matches(w, check_id)), None)


def _verb(outcome: Outcome) -> str:
    return {
        "failed": "failed",
        "error": "errored",
        "skipped": "was skipped",
        "xpassed": "passed unexpectedly",
    }.get(outcome, outcome)
