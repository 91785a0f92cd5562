"""The demo as a benchmark finds it: used when it runs, started and stopped again when it does
not, refused when only part of it runs (the script could not leave that as it found it).

Benchmarks run as scripts (`python bench/NAME.py`), so this module is imported from their own
directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gonogo.demo.deployment import DemoConfig, DemoError, down, status, up

__all__ = ["demo_as_found"]


@contextmanager
def demo_as_found(cwd: Path) -> Iterator[DemoConfig]:
    """The demo as found, or one started here and stopped again: it is left as it was."""
    config = DemoConfig.from_environ(os.environ, cwd)
    found = status(config)
    running = [component.running for component in found.components]
    if all(running):
        print(f"demo: {found.url}, serving {found.active}, already running; left running")
        yield config
        return
    if any(running):
        names = ", ".join(c.name for c in found.components if not c.running)
        raise DemoError(
            f"demo partly running ({names} not); `gonogo demo up` or `gonogo demo down` first, "
            "so this script can leave it as it found it"
        )
    print(f"demo: not running; starting it in {config.run_dir}, stopped again at the end")
    try:
        up(config)  # inside: a start that fails half-way is stopped too
        yield config
    finally:
        down(config)
