"""Durations as Prometheus writes them ("5m", "1m30s", "500ms"), so an alert rule's `for: 5m`
can be copied into an environment file, and `--watch 10m` reads the same way."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"y": 31536000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"(?:\d+(?:ms|s|m|h|d|w|y))+")


def parse_duration(value: object) -> float:
    """Seconds from a Prometheus duration string or a plain number of seconds.

    Units must come largest first, as in PromQL ("1h30m", never "30m1h").
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h30m, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        parts = _PART.findall(value.strip())
        order = [list(_UNITS).index(unit) for _, unit in parts]
        if order != sorted(set(order)):  # largest first, each unit once
            raise ValueError(
                f"expected a duration with units largest first, each once (1h30m), not {value!r}"
            )
        seconds = sum(int(number) * _UNITS[unit] for number, unit in parts)
    else:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h30m, not {value!r}")
    if seconds < 0:
        raise ValueError(f"expected a duration of 0 or more, not {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus spelling of a whole number of seconds ("5m", "1m30s")."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    remaining, parts = round(seconds), []
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts) or "0s"
