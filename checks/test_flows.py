"""End to end: each declared flow runs step by step, and cleans up whatever it created."""

from __future__ import annotations

import pytest

from fixtures.api import FlowRunner
from gonogo.environment_flows import Flow, FlowStep

pytestmark = pytest.mark.e2e


def test_flow_step(flow_step: FlowStep, flow_runner: FlowRunner) -> None:
    result = flow_runner(flow_step.flow).steps[flow_step.index]
    if result.outcome == "not_run":
        # Skipped, not passed: a blocking flow's skipped step still keeps the gate from GO.
        pytest.skip(f"{flow_step.label}: {result.reason}")
    assert result.outcome == "passed", f"{flow_step.flow.name}: {result.describe()}"


def test_flow_cleaned_up(flow_cleanup: Flow, flow_runner: FlowRunner) -> None:
    run = flow_runner(flow_cleanup)
    failed = [f"cleanup of step {c.step}: {c.problem}" for c in run.cleanups if not c.ok]
    assert not failed, (
        f"{flow_cleanup.name}: {len(failed)} of {len(run.cleanups)} cleanups failed, what the "
        f"flow created may be left behind: {'; '.join(failed)}"
    )
