"""The run's time budget, and the signals that end a run early, on every process of a session.

A gate runs when things are broken, so it must end in bounded time even when every target
stalls. Each check has its own timeout; the budget bounds their sum. Past the deadline no
further check starts: each that would have fails instead, so the decision cannot be GO. A run
still busy a grace period later (something stuck where no timeout reaches) is interrupted as
Ctrl-C would interrupt it, which ends Locust's and the hooks' process groups on the way out,
and the decision record says why.

SIGTERM (a cancelled CI job, a stopped pod) is handled like Ctrl-C for the same reason:
Python's default is to die at once, with no decision record and with the load generator
left running.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from gonogo.durations import format_duration

__all__ = ["NOT_STARTED", "RunBudget", "grace_s"]

NOT_STARTED = "gonogo_not_started"
_WORKER_DEADLINE = "gonogo_deadline"
_Handler = Callable[[int, FrameType | None], Any] | int | None


def grace_s(timeout_s: float) -> float:
    """How long past the deadline a check already running may take to end by its own timeout."""
    return max(10.0, 2 * timeout_s)


class RunBudget:
    """Registered on every process: refuses to start checks past the deadline. On the
    controlling process it also arms the hard stop and turns SIGTERM into an interruption.

    `interruption` says what ended the run early (None while nothing did); the gate reads it.
    """

    def __init__(self, config: pytest.Config, seconds: float, source: str, grace: float) -> None:
        self.seconds = seconds
        self.source = source
        self.grace = grace
        self.interruption: str | None = None
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        if workerinput is not None and _WORKER_DEADLINE in workerinput:
            self.deadline = float(workerinput[_WORKER_DEADLINE])  # the controller's clock
        else:
            self.deadline = time.time() + seconds
        self._controller = workerinput is None
        self._timer: threading.Timer | None = None
        self._finishing = False
        self._previous_sigterm: _Handler = None
        if self._controller and threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    @property
    def described(self) -> str:
        return f"the run's time budget of {format_duration(self.seconds)} ({self.source})"

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.time())

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: workers refuse to start checks by the controller's deadline, not their own."""
        node.workerinput[_WORKER_DEADLINE] = self.deadline

    def pytest_sessionstart(self) -> None:
        if self._controller:
            delay = max(0.0, self.deadline + self.grace - time.time())
            self._timer = threading.Timer(delay, self._stop_the_run)
            self._timer.daemon = True
            self._timer.start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if time.time() >= self.deadline:
            item.user_properties.append((NOT_STARTED, True))
            pytest.fail(f"not started: {self.described} was spent", pytrace=False)

    def pytest_keyboard_interrupt(self) -> None:
        if self.interruption is None:
            self.interruption = "Ctrl-C (SIGINT)"

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Disarm before the gate decides: a rollback hook has a budget of its own, and the
        record must be written whatever arrives now."""
        self._finishing = True
        if self._timer is not None:
            self._timer.cancel()

    def pytest_unconfigure(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.interruption is None:
            self.interruption = "SIGTERM"
        if not self._finishing:
            raise KeyboardInterrupt

    def _stop_the_run(self) -> None:
        self.interruption = (
            f"{self.described} was spent, and a check was still running "
            f"{format_duration(self.grace)} later"
        )
        os.kill(os.getpid(), signal.SIGINT)
