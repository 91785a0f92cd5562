"""The gate's sections of the environment file: metrics, the watch window, the rollback hook,
waivers, baselines and notifications.

Durations are written the way Prometheus writes them (`for: 5m`), so the documents' alert
rules can be copied in unchanged.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from gonogo._section import Name, Seconds, Section, Severity, check_url_port
from gonogo.durations import format_duration, parse_duration

__all__ = [
    "VERDICTS",
    "AlertRule",
    "Baseline",
    "BaselineKpi",
    "LatencyTest",
    "MetricQuery",
    "Metrics",
    "Notification",
    "RollbackHook",
    "Waiver",
    "Watch",
    "WatchEntry",
]

VERDICTS = ("GO", "NO-GO", "ROLLBACK")
Verdict = Literal["GO", "NO-GO", "ROLLBACK"]
NoData = Literal["inconclusive", "fail", "pass"]
BaselineKpiName = Literal[
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "avg_ms", "max_ms", "error_rate", "rps"
]


def _duration(value: Any) -> float:
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    Field(ge=0, le=7 * 86400, description="Seconds, or a Prometheus duration: 30s, 5m, 1h30m."),
]
PositiveDuration = Annotated[
    float,
    BeforeValidator(_duration),
    Field(gt=0, le=7 * 86400, description="Seconds, or a Prometheus duration: 30s, 5m, 1h30m."),
]


def _full_url(value: Any) -> Any:
    if isinstance(value, str):
        if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
            raise ValueError("expected an http(s):// URL")
        check_url_port(value)
    return value


FullUrl = Annotated[str, BeforeValidator(_full_url)]


class MetricQuery(Section):
    """A PromQL expression held to a bound for a time, the way an alert rule is written:
    `error ratio > 0.05 for 5m` is `max: 0.05, for: 5m`."""

    name: Name
    query: Annotated[str, Field(min_length=1, max_length=4000)]
    max: float | None = Field(None, description="Breached when a series is above this.")
    min: float | None = Field(None, description="Breached when a series is below this.")
    for_s: Duration = Field(
        0, alias="for", description="Breached only when every sample of this window breaches."
    )
    step: PositiveDuration | None = Field(
        None, description="Resolution of the `for` window; default a tenth of it, 1 s to 60 s."
    )
    no_data: NoData = Field(
        "inconclusive",
        description="When the query returns no series: inconclusive (NO-GO, never a rollback), "
        "fail (a breach), or pass.",
    )
    severity: Severity | None = None
    rollback: bool = Field(False, description="A breach is a rollback trigger.")

    @model_validator(mode="after")
    def _one_bound(self) -> MetricQuery:
        if (self.max is None) == (self.min is None):
            raise PydanticCustomError("gonogo", "expected exactly one of `max` or `min`")
        return self

    @property
    def label(self) -> str:
        return self.name

    @property
    def bound(self) -> str:
        """The breach condition in words: "> 0.05 for 5m"."""
        text = f"> {self.max:g}" if self.max is not None else f"< {self.min:g}"
        return text + (f" for {format_duration(self.for_s)}" if self.for_s else "")

    @property
    def resolution_s(self) -> float:
        return self.step or min(60.0, max(1.0, self.for_s / 10))


class AlertRule(Section):
    """An alerting rule Prometheus must have loaded, and must not be firing."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    pending_ok: bool = Field(True, description="A pending (not yet firing) alert passes.")
    severity: Severity | None = None
    rollback: bool = Field(False, description="Firing is a rollback trigger.")

    @property
    def label(self) -> str:
        return self.name


class Metrics(Section):
    """Where Prometheus answers, and what it must say."""

    prometheus: FullUrl = Field(description="Base URL of the Prometheus HTTP API.")
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout_s: Seconds | None = None
    queries: list[MetricQuery] = Field(default_factory=list)
    alerts: list[AlertRule] = Field(default_factory=list)


class WatchEntry(Section):
    """One thing re-measured every interval of the watch window, with Argo Rollouts' limits.

    `consecutive_failures: 3` is "health check fails 3 times in a row"; `failure_limit: N`
    fires once more than N measurements failed; `consecutive_error_limit` ends the watch in
    error when the measurement itself (not the target) failed that many times in a row.
    """

    smoke: Name | None = Field(None, description="A smoke check to re-run.")
    query: Name | None = Field(None, description="A metrics query to re-evaluate.")
    name: Name | None = None
    consecutive_failures: Annotated[int, Field(ge=1, le=1000)] | None = None
    failure_limit: Annotated[int, Field(ge=0, le=1000)] | None = None
    consecutive_error_limit: Annotated[int, Field(ge=0, le=1000)] = 4
    rollback: bool = Field(True, description="Firing is a rollback trigger.")
    severity: Severity = "critical"

    @model_validator(mode="after")
    def _one_subject(self) -> WatchEntry:
        if (self.smoke is None) == (self.query is None):
            raise PydanticCustomError("gonogo", "expected exactly one of `smoke` or `query`")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{'smoke' if self.smoke else 'query'}-{self.smoke or self.query}"

    @property
    def limits(self) -> str:
        """When this entry fires, in words."""
        parts = []
        if self.consecutive_failures is not None:
            parts.append(f"{self.consecutive_failures} failures in a row")
        if self.failure_limit is not None or self.consecutive_failures is None:
            parts.append(f"more than {self.failure_limit or 0} failures")
        return " or ".join(parts)


class Watch(Section):
    """After the checks, keep measuring for a while: a release that degrades under real traffic
    shows it here. `--watch DURATION` overrides `duration`; `--watch 0` skips the window."""

    duration: Duration = Field(60.0, description="How long to watch; 0 skips the window.")
    interval: PositiveDuration = 10.0
    checks: list[WatchEntry] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _count_sets_duration(cls, data: Any) -> Any:
        """Argo's `count` (measurements per entry) instead of a duration: count 5 at 30s is
        a first measurement and four more, 2m."""
        if not isinstance(data, dict) or "count" not in data:
            return data
        if "duration" in data:
            raise PydanticCustomError("gonogo", "expected `duration` or `count`, not both")
        count = data["count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
            raise PydanticCustomError(
                "gonogo",
                f"count: expected a whole number of measurements, 1 to 10000, not {count!r}",
            )
        try:
            interval = parse_duration(data.get("interval", 10.0))
        except ValueError as exc:
            raise PydanticCustomError("gonogo", f"interval: {exc}") from None
        rest = {key: value for key, value in data.items() if key != "count"}
        return {**rest, "duration": (count - 1) * interval}

    @property
    def count(self) -> int:
        """Measurements per entry: one at the start, then one every interval."""
        return int(self.duration // self.interval) + 1 if self.duration else 0


class RollbackHook(Section):
    """The command that puts the previous release back, and how it is verified afterwards."""

    command: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    timeout_s: Seconds = 60.0
    enabled: bool = Field(
        False, description="Run on ROLLBACK without --rollback on the command line."
    )
    env: dict[str, str] = Field(default_factory=dict, repr=False)
    verify: Annotated[str, Field(min_length=1)] = Field(
        "smoke", description="pytest marker expression of the checks re-run after the hook."
    )
    verify_timeout_s: Seconds = 120.0
    budget_s: Seconds = Field(
        60.0, description="The documents' rollback budget: hook plus verification."
    )


class Waiver(Section):
    """A known failure that may not block GO until `expires`; listed in every report."""

    check: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="A check id (test_status_is_expected[health]) or a glob (test_tls_*)."
    )
    reason: Annotated[str, Field(min_length=3, max_length=500)]
    expires: date


class BaselineKpi(Section):
    """How far one KPI may move from the baseline run's before it is a regression."""

    kpi: BaselineKpiName
    max_increase_pct: Annotated[float, Field(ge=0, le=100_000)] | None = None
    max_increase: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Absolute, for KPIs whose baseline may be 0 (error_rate)."
    )
    max_decrease_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    severity: Severity | None = None

    @model_validator(mode="after")
    def _some_limit(self) -> BaselineKpi:
        if (self.max_increase_pct, self.max_increase, self.max_decrease_pct) == (None,) * 3:
            raise PydanticCustomError(
                "gonogo",
                "expected a limit: max_increase_pct, max_increase or max_decrease_pct",
            )
        return self

    @property
    def label(self) -> str:
        return self.kpi


class LatencyTest(Section):
    """Mann-Whitney U on the two runs' latency samples: a shift that is both significant and
    larger than `min_shift_pct` of the baseline's median is a regression."""

    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    min_shift_pct: Annotated[float, Field(ge=0, le=1000)] = 10.0
    severity: Severity | None = None

    @property
    def label(self) -> str:
        return "latency-distribution"


def _default_baseline_kpis() -> list[BaselineKpi]:
    return [
        BaselineKpi(kpi="p95_ms", max_increase_pct=20),
        BaselineKpi(kpi="rps", max_decrease_pct=20),
        BaselineKpi(kpi="error_rate", max_increase=0.01),
    ]


class Baseline(Section):
    """The load stage's KPIs against an earlier run's: the last GO of this environment, or a
    run tagged with `gonogo history tag`."""

    against: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")] = "last-go"
    kpis: list[BaselineKpi] = Field(default_factory=_default_baseline_kpis)
    latency_test: LatencyTest | None = Field(default_factory=LatencyTest)


def _problem_verdicts() -> list[Verdict]:
    return ["NO-GO", "ROLLBACK"]


class Notification(Section):
    """A webhook told about the decision (a Slack-compatible JSON message), once, bounded."""

    url: FullUrl = Field(repr=False)
    # `when`, not `on`: YAML 1.1 reads a bare `on` key as the boolean true.
    when: list[Verdict] = Field(default_factory=_problem_verdicts)
    timeout_s: Seconds = 5.0
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
