"""The negative smoke: bad input gets a clean 4xx, never a 5xx or a stack trace, and the
service is still healthy afterwards."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.api import BadInputRound
from gonogo.bad_input import answered_cleanly
from gonogo.environment import Environment
from gonogo.environment_flows import BadInput
from gonogo.errors import GonogoError

pytestmark = pytest.mark.smoke

BadInputSender = Callable[[BadInput], BadInputRound]
_SHOWN = 5


def test_bad_input_rejected_cleanly(
    bad_input: BadInput, bad_input_round: BadInputSender, environment: Environment
) -> None:
    answers = bad_input_round(bad_input).answers
    sent = [a for a in answers if a.sent]
    wrong = [
        f"{a.case.name} -> {a.error or a.status}" + (f" ({a.excerpt[:80]})" if a.excerpt else "")
        for a in sent
        if a.status is None or not answered_cleanly(a.case, a.status, bad_input)
    ]
    unsent = [a for a in answers if not a.sent]
    expected = " or ".join(str(code) for code in bad_input.accept) if bad_input.accept else "a 4xx"
    assert not wrong, (
        f"{bad_input.label} ({environment.url(bad_input.url)}): {len(wrong)} of {len(answers)} "
        f"bad requests not answered with {expected}: {'; '.join(wrong[:_SHOWN])}"
        + (" ..." if len(wrong) > _SHOWN else "")
        + (f"; {len(unsent)} more {unsent[0].error}" if unsent else "")
    )


def test_errors_carry_no_debug_output(
    bad_input: BadInput, bad_input_round: BadInputSender, environment: Environment
) -> None:
    answers = bad_input_round(bad_input).answers
    if answers and all(a.status is None for a in answers):
        # Nothing to look at is no evidence of nothing to find: fail closed.
        pytest.fail(
            f"{bad_input.label} ({environment.url(bad_input.url)}): none of {len(answers)} bad "
            f"requests was answered, so no answer could be checked for debug output; "
            f"{answers[0].case.name} -> {answers[0].error}",
            pytrace=False,
        )
    leaks = [f"{a.case.name}: {a.debug}" for a in answers if a.debug]
    assert not leaks, (
        f"{bad_input.label}: {len(leaks)} error answers carry debug output or a stack trace "
        f"(debug mode on?): {'; '.join(leaks[:_SHOWN])}"
    )


def test_healthy_after_bad_input(
    bad_input: BadInput, bad_input_round: BadInputSender, environment: Environment
) -> None:
    check = environment.health_check_after(bad_input)
    health = bad_input_round(bad_input).health
    if isinstance(health, GonogoError):
        pytest.fail(f"{bad_input.label}: after the bad input, {check.name}: {health}", False)
    assert health.status in check.expect.status, (
        f"{bad_input.label}: after the bad input, {check.name} answered {health.status}, "
        f"expected {' or '.join(map(str, check.expect.status))}; body: {health.excerpt()}"
    )
