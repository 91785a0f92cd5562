"""Which environment entries a check's parameter stands for: `smoke_check` -> every smoke entry.

A check names a parameter; the plugin parametrizes it with the matching entries, using their
YAML names as test ids, so adding a target is a YAML edit and never a Python one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gonogo.environment import Environment

__all__ = ["TARGETS"]

Selector = Callable[[Environment], Sequence[Any]]

TARGETS: dict[str, Selector] = {
    "smoke_check": lambda env: env.smoke,
    "smoke_json_check": lambda env: [c for c in env.smoke if c.expect.json_fields],
    "smoke_latency_check": lambda env: [c for c in env.smoke if c.expect.latency_ms],
    "wait": lambda env: [env.wait] if env.wait else [],
}
