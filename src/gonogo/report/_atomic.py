"""One way to write a report file, for every reporter that writes text."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write beside `path`, then rename over it: a reader (a browser, node_exporter's textfile
    collector, a CI artefact upload) never sees half a file. The temporary name starts with a
    dot and does not end in `.prom`, so the textfile collector never reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
