"""ROLLBACK acted on: run the environment's hook once, then verify the deployment again.

The hook runs only when enabled (`--rollback` or `rollback.enabled: true`), because putting a
release back is an action on the deployment, not an observation of it. Verification re-runs
the checks the environment names (`verify`, default the smoke checks) in a fresh pytest
process: the same checks, the same judging, nothing carried over from the failing run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gonogo.environment_file import LoadedEnvironment
from gonogo.environment_gate import RollbackHook
from gonogo.probes._process_group import run_bounded
from gonogo.rollback_hook import hook_environment, run_hook

__all__ = ["POST_ROLLBACK_DIR", "roll_back"]

POST_ROLLBACK_DIR = "post-rollback"
_DOCUMENTS_BUDGET_S = 60.0


def roll_back(
    loaded: LoadedEnvironment,
    *,
    enabled: bool,
    triggers: Sequence[str],
    report_dir: Path,
    run_id: str,
    pytest_args: Sequence[str],
    invocation_dir: Path,
) -> dict[str, Any]:
    """The decision record's `rollback` section: what ran, for how long, and whether the
    deployment was healthy afterwards."""
    hook = loaded.environment.rollback
    if hook is None:
        return _not_run(False, "the environment declares no rollback hook: roll back by hand")
    if not enabled:
        return _not_run(
            False,
            "the rollback hook did not run: it runs only with --rollback or rollback.enabled: true",
            hook.budget_s,
        )
    started = time.monotonic()
    context = hook_environment(
        {**os.environ, "GONOGO_PYTHON": sys.executable},
        hook=hook,
        decision="ROLLBACK",
        environment=loaded.environment.name,
        triggers=list(triggers),
        report_path=report_dir / "decision.json",
        run_id=run_id,
    )
    hook_run = run_hook(hook, env=context, cwd=loaded.path.parent, redactor=loaded.redactor)
    section: dict[str, Any] = {"enabled": True, "ran": True, **hook_run.to_dict()}
    verify = None
    if hook_run.succeeded:
        verify = _verify(hook, loaded, report_dir / POST_ROLLBACK_DIR, pytest_args, invocation_dir)
    total = time.monotonic() - started
    restored = verify is not None and verify["decision"] == "GO"
    section |= {
        "verify": verify,
        "restored": restored,
        "total_s": round(total, 3),
        "budget_s": hook.budget_s,
        "note": _note(hook_run.succeeded, verify, restored, total, hook.budget_s),
    }
    return section


def _not_run(enabled: bool, note: str, budget_s: float = _DOCUMENTS_BUDGET_S) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "ran": False,
        "note": note,
        "restored": None,
        "total_s": None,
        "budget_s": budget_s,
    }


def _note(
    hook_ok: bool, verify: Mapping[str, Any] | None, restored: bool, total: float, budget: float
) -> str:
    if not hook_ok or verify is None:
        return "the hook failed, so the deployment was not verified: roll back by hand"
    timing = f"in {total:.1f} s (budget {budget:g} s{', OVER BUDGET' if total > budget else ''})"
    if restored:
        return f"rolled back and verified healthy ({verify['selection']}) {timing}"
    failing = ", ".join(verify["failing"][:5]) or verify.get("error") or "no decision"
    return f"the hook ran but verification says {verify['decision']}: {failing}; {timing}"


def _verify(
    hook: RollbackHook,
    loaded: LoadedEnvironment,
    out_dir: Path,
    pytest_args: Sequence[str],
    invocation_dir: Path,
) -> dict[str, Any]:
    """Re-run the `verify` selection in a new pytest process and read its decision record."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--env={loaded.path}",
        "-m",
        hook.verify,
        f"--report-dir={out_dir}",
        "--gonogo-post-rollback",
        "--history=none",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        *pytest_args,
    ]
    record_path = out_dir / "decision.json"
    record_path.unlink(missing_ok=True)
    run = run_bounded(
        command,
        env=os.environ,
        bound_s=hook.verify_timeout_s,
        progress_prefix="\0gonogo-progress",
        progress=lambda line: None,
        cwd=invocation_dir,
    )
    result: dict[str, Any] = {
        "selection": hook.verify,
        "exit_code": run.returncode,
        "duration_s": round(run.elapsed_s, 3),
        "decision": None,
        "failing": [],
        "error": None,
    }
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        tail = loaded.redactor.redact(run.output_tail[-1500:])
        reason = "timed out" if run.timed_out else f"exit {run.returncode}"
        result["error"] = f"no decision record from verification ({reason}; {exc}): {tail}"
        return result
    result["decision"] = record.get("decision")
    result["failing"] = list(record.get("blocking", []))
    return result
