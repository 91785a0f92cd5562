"""Stopping the servers a test started: TERM, a bounded wait, then KILL."""

from __future__ import annotations

import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any], timeout_s: float = 10) -> None:
    """TERM lets the server close its sockets; KILL only what outlives `timeout_s`."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)
