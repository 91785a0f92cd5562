"""The gate: folds every check outcome into one decision, GO or NO-GO, with its evidence.

Fail closed: a failure, an error or a skip of a check whose severity blocks is NO-GO, and so
is a run that verified nothing, stopped early, or could not collect its checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from gonogo.environment import Severity

__all__ = ["CheckResult", "Decision", "Outcome", "Verdict", "decide"]

Outcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
NOT_PASSED: frozenset[Outcome] = frozenset({"failed", "error", "skipped", "xpassed"})


class Verdict(Enum):
    """The answer, and the process exit status that carries it to CI."""

    GO = ("GO", 0)
    NO_GO = ("NO-GO", 1)

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


@dataclass(frozen=True)
class Decision:
    """The verdict, why, which results block it and which are only warnings."""

    verdict: Verdict
    reasons: tuple[str, ...]
    blocking: tuple[CheckResult, ...]
    warnings: tuple[CheckResult, ...]


def decide(
    results: Sequence[CheckResult],
    *,
    block_on: Iterable[Severity],
    interrupted: bool = False,
    collection_errors: int = 0,
) -> Decision:
    """GO only when something was verified and nothing that blocks went wrong."""
    blocking_severities = set(block_on)
    blocking = tuple(
        r for r in results if r.outcome in NOT_PASSED and r.severity in blocking_severities
    )
    warnings = tuple(
        r
        for r in results
        if r.outcome == "xfailed"
        or (r.outcome in NOT_PASSED and r.severity not in blocking_severities)
    )
    reasons: list[str] = []
    if interrupted:
        reasons.append("the run was interrupted before every check finished")
    if collection_errors:
        reasons.append(f"{collection_errors} check module(s) could not be collected")
    if not results:
        reasons.append("no check ran: nothing was verified")
    for result in blocking:
        reasons.append(f"{result.id} {_verb(result.outcome)} ({result.severity})")
    verdict = Verdict.NO_GO if reasons else Verdict.GO
    return Decision(verdict=verdict, reasons=tuple(reasons), blocking=blocking, warnings=warnings)


def _verb(outcome: Outcome) -> str:
    return {
        "failed": "failed",
        "error": "errored",
        "skipped": "was skipped",
        "xpassed": "passed unexpectedly",
    }.get(outcome, outcome)
