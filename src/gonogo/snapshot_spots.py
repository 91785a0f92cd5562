"""Weak spots a snapshot found: written as the secure expectation, or as found with `--as-is`.

A snapshot that bakes in TLS 1.0 or a missing HSTS header would make the gate guard the very
weakness it exists to catch. So by default the file asks for the secure setting and says, in
a comment beside it, that the deployment did not meet it when the snapshot was taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["WeakSpots"]


@dataclass
class WeakSpots:
    """Collects what the deployment fails, and words the comment that goes beside it."""

    as_is: bool
    found: list[str] = field(default_factory=list)

    def note(self, where: str, what: str) -> str:
        """Remember a weak spot at `where` (an entry's label) and return its comment line."""
        self.found.append(f"{where}: {what}")
        if self.as_is:
            return f"WEAK (written as found, --as-is): {what}"
        return f"FAILS NOW: {what}"
