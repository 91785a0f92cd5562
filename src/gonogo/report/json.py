"""The decision record, `decision.json`: what a CI pipeline reads to act on the gate."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gonogo import __version__
from gonogo.gate import CheckResult, Decision
from gonogo.redaction import Redactor

__all__ = ["RunInfo", "decision_record", "write_decision"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunInfo:
    """Facts about the run itself, beside the checks."""

    environment: str
    environment_file: Path
    started_at: datetime
    finished_at: datetime
    exit_code: int


def decision_record(
    decision: Decision,
    results: list[CheckResult],
    run: RunInfo,
    load: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record as plain data; field names are part of gonogo's interface. `load` (the load
    stage's KPIs) is present only when the load stage ran."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return {
        "schema_version": SCHEMA_VERSION,
        "decision": decision.verdict.label,
        "exit_code": run.exit_code,
        "environment": run.environment,
        "environment_file": str(run.environment_file),
        "gonogo_version": __version__,
        "started_at": run.started_at.isoformat(timespec="milliseconds"),
        "finished_at": run.finished_at.isoformat(timespec="milliseconds"),
        "duration_s": round((run.finished_at - run.started_at).total_seconds(), 3),
        "reasons": list(decision.reasons),
        "counts": counts,
        "blocking": [r.id for r in decision.blocking],
        "warnings": [r.id for r in decision.warnings],
        "checks": [
            {
                "id": r.id,
                "outcome": r.outcome,
                "severity": r.severity,
                "message": r.message,
                "duration_s": round(r.duration_s, 4),
            }
            for r in results
        ],
    } | ({"load": load} if load is not None else {})


def write_decision(path: Path, record: dict[str, Any], redactor: Redactor) -> None:
    """Write atomically, so a reader never sees half a record; secrets masked first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = redactor.redact(json.dumps(record, indent=2, ensure_ascii=False)) + "\n"
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
