"""Hooks gonogo offers to other plugins (notifiers, custom reporters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gonogo.gate import Decision


@pytest.hookspec(historic=False)
def pytest_gonogo_decision(
    config: pytest.Config, decision: Decision, record: dict[str, Any]
) -> None:
    """Called once per run on the controlling process, after the gate decided and the decision
    record was written, before the terminal summary; `record` is what `decision.json` holds."""
