"""The decision as Prometheus metrics, in the text exposition format: a `.prom` file for
node_exporter's textfile collector, or a body to PUT to a Pushgateway.

Every possible decision gets a series (1 for this run's, 0 for the others) and every area every
outcome, so a series does not vanish when its value would be zero: an alert on
`gonogo_decision{decision="ROLLBACK"} == 1` or on failed checks then sees 0, not "no data".
Latencies are exported in seconds and as a summary, the units and type promtool expects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gonogo.report._atomic import write_text_atomic

__all__ = ["prometheus_textfile", "write_prometheus_textfile"]

DECISIONS = ("GO", "NO-GO", "ROLLBACK")
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
_QUANTILES = (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))

Labels = Mapping[str, str]
Sample = tuple[str, Labels, float | int | bool]  # name suffix ("", "_sum"), labels, value


def prometheus_textfile(record: Mapping[str, Any]) -> str:
    """The whole exposition, every series labelled with the environment."""
    env = {"environment": str(record.get("environment", ""))}
    decision = record.get("decision")
    out: list[str] = []
    _family(
        out,
        "gonogo_decision",
        "The gate's decision: 1 for this run's, 0 for the others.",
        [("", {**env, "decision": d}, d == decision) for d in DECISIONS],
    )
    _gauge(out, "gonogo_exit_code", "The gate's exit code.", env, record.get("exit_code"))
    _gauge(
        out, "gonogo_run_duration_seconds", "How long the run took.", env, record.get("duration_s")
    )
    _gauge(
        out,
        "gonogo_run_timestamp_seconds",
        "When the run finished, as Unix time.",
        env,
        _unix_time(record.get("finished_at")),
    )
    _family(out, "gonogo_checks", "Checks by area and outcome.", _checks(record, env))
    for name, key, help_text in (
        ("gonogo_blocking_checks", "blocking", "Checks that blocked the release."),
        ("gonogo_rollback_triggers", "triggers", "Rollback triggers that fired."),
        ("gonogo_waived_checks", "waived", "Checks whose failure a waiver excused."),
    ):
        _gauge(out, name, help_text, env, len(record.get(key) or []))
    load = record.get("load")
    if isinstance(load, Mapping) and isinstance(load.get("total"), Mapping):
        _load(out, load["total"], env)
    rollback = record.get("rollback")
    if isinstance(rollback, Mapping) and rollback.get("ran"):
        _rollback(out, rollback, env)
    return "".join(out)


def write_prometheus_textfile(path: Path, record: Mapping[str, Any]) -> None:
    """Atomically, as the textfile collector requires: it may read the directory at any time."""
    write_text_atomic(path, prometheus_textfile(record))


def _checks(record: Mapping[str, Any], env: Labels) -> list[Sample]:
    tally: dict[str, dict[str, int]] = {}
    for check in record.get("checks") or []:
        area = tally.setdefault(str(check.get("area") or "other"), dict.fromkeys(OUTCOMES, 0))
        outcome = str(check.get("outcome"))
        area[outcome] = area.get(outcome, 0) + 1
    return [
        ("", {**env, "area": area, "outcome": outcome}, n)
        for area, outcomes in sorted(tally.items())
        for outcome, n in outcomes.items()
    ]


def _load(out: list[str], total: Mapping[str, Any], env: Labels) -> None:
    count = int(total.get("count") or 0)
    samples: list[Sample] = [
        ("", {**env, "quantile": quantile}, float(total.get(key) or 0) / 1000)
        for quantile, key in _QUANTILES
    ]
    samples += [
        ("_sum", env, float(total.get("avg_ms") or 0) * count / 1000),
        ("_count", env, count),
    ]
    _family(
        out,
        "gonogo_load_latency_seconds",
        "Response time over the load run, all requests.",
        samples,
        kind="summary",
    )
    _gauge(
        out, "gonogo_load_rps", "Requests per second the load run sustained.", env, total.get("rps")
    )
    _gauge(
        out,
        "gonogo_load_error_ratio",
        "Failed requests over all requests in the load run.",
        env,
        total.get("error_rate"),
    )


def _rollback(out: list[str], rollback: Mapping[str, Any], env: Labels) -> None:
    for name, key, help_text in (
        ("gonogo_rollback_duration_seconds", "duration_s", "How long the rollback command ran."),
        ("gonogo_rollback_total_seconds", "total_s", "Rollback plus its verification."),
        ("gonogo_rollback_budget_seconds", "budget_s", "The time the rollback was allowed."),
    ):
        _gauge(out, name, help_text, env, rollback.get(key))
    _gauge(
        out,
        "gonogo_rollback_restored",
        "1 when verification after the rollback found the deployment healthy.",
        env,
        rollback.get("restored"),
    )


def _gauge(out: list[str], name: str, help_text: str, labels: Labels, value: object) -> None:
    """One series; left out when the record has no number for it (a metric of 0 would lie)."""
    if isinstance(value, int | float):
        _family(out, name, help_text, [("", labels, value)])


def _family(
    out: list[str], name: str, help_text: str, samples: Sequence[Sample], kind: str = "gauge"
) -> None:
    out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
    for suffix, labels, value in samples:
        rendered = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels.items())
        out.append(f"{name}{suffix}{{{rendered}}} {_number(value)}\n")


def _number(value: float | int | bool) -> str:
    if isinstance(value, bool | int):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unix_time(text: object) -> float | None:
    """The record's ISO time; one without an offset is taken as UTC, as gonogo writes UTC."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
