"""Whole-file writes for the demo's run dir, so no reader ever meets a half-written file."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_file"]


def write_file(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    # Write-then-rename: nginx reloading or a reader never sees half a file (or half a key).
    data = content.encode() if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, mode)
        file.write(data)
    tmp.replace(path)
