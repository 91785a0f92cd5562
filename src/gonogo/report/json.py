"""The decision record, `decision.json`: what a CI pipeline reads to act on the gate."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gonogo import __version__
from gonogo.environment_gate import Waiver
from gonogo.gate import CheckResult, Decision
from gonogo.redaction import Redactor

__all__ = ["RunInfo", "decision_record", "write_decision"]

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class RunInfo:
    """Facts about the run itself, beside the checks."""

    environment: str
    environment_file: Path
    started_at: datetime
    finished_at: datetime
    exit_code: int
    interrupted: bool = False


def decision_record(
    decision: Decision,
    results: list[CheckResult],
    run: RunInfo,
    sections: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record as plain data; field names are part of gonogo's interface. `sections` adds
    the stages that ran (load, watch, rollback, notifications, history), each under its name."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    waived = {result.id: waiver for result, waiver in decision.waived}
    triggers = {result.id for result in decision.triggers}
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
        "interrupted": run.interrupted,
        "reasons": list(decision.reasons),
        "counts": counts,
        "blocking": [r.id for r in decision.blocking],
        "warnings": [r.id for r in decision.warnings],
        "triggers": sorted(triggers),
        "waived": [{"id": id, **_waiver(w)} for id, w in waived.items()],
        "expired_waivers": [_waiver(w, "check") for w in decision.expired_waivers],
        "unused_waivers": [_waiver(w, "check") for w in decision.unused_waivers],
        "checks": [
            {
                "id": r.id,
                "area": r.area,
                "outcome": r.outcome,
                "severity": r.severity,
                "message": r.message,
                "duration_s": round(r.duration_s, 4),
                "trigger": r.id in triggers,
                "waived": _waiver(waived[r.id]) if r.id in waived else None,
                "evidence": r.evidence,
            }
            for r in results
        ],
        **(sections or {}),
    }


def _waiver(waiver: Waiver, *keys: str) -> dict[str, str]:
    named = {key: getattr(waiver, key) for key in keys}
    return named | {"reason": waiver.reason, "expires": waiver.expires.isoformat()}


def write_decision(path: Path, record: dict[str, Any], redactor: Redactor) -> None:
    """Write atomically, so a reader never sees half a record; secrets masked first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = redactor.redact(json.dumps(record, indent=2, ensure_ascii=False)) + "\n"
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
