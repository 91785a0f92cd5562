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


def test_bad_input_rejected_cleanly(bad_input: BadInput, bad_input_round: BadInputSender) -> None:
    answers = bad_input_round(bad_input).answers
    wrong = [
        f"{a.case.name} -> {a.error or a.status} ({a.excerpt[:80]})"
        for a in answers
        if a.status is None or not answered_cleanly(a.case, a.status, bad_input)
    ]
    expected = " or ".join(str(code) for code in bad_input.accept) if bad_input.accept else "a 4xx"
    assert not wrong, (
        f"{bad_input.label}: {len(wrong)} of {len(answers)} bad requests not answered with "
        f"{expected}: {'; '.join(wrong[:_SHOWN])}" + (" ..." if len(wrong) > _SHOWN else "")
    )


def test_errors_carry_no_debug_output(bad_input: BadInput, bad_input_round: BadInputSender) -> None:
    leaks = [f"{a.case.name}: {a.debug}" for a in bad_input_round(bad_input).answers if a.debug]
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
