"""The `load` section: a Locust run judged against KPI thresholds, whole-run and windowed.

Defaults are the documents' performance KPIs (P50 < 250 ms, P95 < 500 ms, P99 < 1000 ms,
average < 500 ms, > 1000 requests/s, < 0.1 % errors, 200 users), so a bare scenario already
asks what they ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gonogo._section import Name, Section, Severity, StatusCode, existing_file
from gonogo.environment_flows import Method

__all__ = [
    "KPI_NAMES",
    "KpiTarget",
    "Kpis",
    "LoadRequest",
    "LoadScenario",
    "Stage",
    "WindowRule",
    "kpi_targets",
]

Duration = Annotated[float, Field(gt=0, le=24 * 3600)]
Milliseconds = Annotated[float, Field(gt=0, le=3_600_000)]
Rate = Annotated[float, Field(ge=0, le=1)]
KPI_NAMES = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "avg_ms", "min_rps", "error_rate")
WindowKpi = Literal["p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "avg_ms", "rps", "error_rate"]


class Kpis(Section):
    """Upper bounds on latency and errors, a floor on throughput; null leaves one unjudged."""

    p50_ms: Milliseconds | None = 250
    p90_ms: Milliseconds | None = None
    p95_ms: Milliseconds | None = 500
    p99_ms: Milliseconds | None = 1000
    max_ms: Milliseconds | None = None
    avg_ms: Milliseconds | None = 500
    min_rps: Annotated[float, Field(ge=0, le=10_000_000)] | None = 1000
    max_error_rate: Rate | None = Field(0.001, description="Failed / all requests (0.001 = 0.1 %).")

    def asked(self) -> dict[str, float]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class WindowRule(Section):
    """A KPI judged over time: "p95 above 2000 ms for 180 s in a row" or "error rate above
    0.05 over any 300 s window"."""

    name: Name | None = None
    kpi: WindowKpi
    above: float | None = None
    below: float | None = None
    for_s: Duration | None = Field(
        None, description="Breached in every 1 s slice for this long in a row."
    )
    over_s: Duration | None = Field(
        None, description="Breached by the KPI computed over any window this long."
    )
    request: str | None = Field(None, description="One request name; default all requests.")
    rollback: bool = Field(False, description="A breach is a rollback trigger.")

    @model_validator(mode="after")
    def _one_bound_one_span(self) -> WindowRule:
        if (self.above is None) == (self.below is None):
            raise PydanticCustomError("gonogo", "expected exactly one of `above` or `below`")
        if (self.for_s is None) == (self.over_s is None):
            raise PydanticCustomError("gonogo", "expected exactly one of `for_s` or `over_s`")
        side, bound = ("above", self.above) if self.above is not None else ("below", self.below)
        if self.kpi == "error_rate" and not 0 <= (bound or 0) <= 1:
            raise PydanticCustomError(
                "gonogo",
                f"{side}: the error rate is a ratio from 0 to 1 (0.05 is 5 %), found {bound:g}",
            )
        if (bound or 0) < 0:
            raise PydanticCustomError(
                "gonogo", f"{side}: {self.kpi} is never negative, found {bound:g}"
            )
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        bound = f"above-{self.above:g}" if self.above is not None else f"below-{self.below:g}"
        span = f"for-{self.for_s:g}s" if self.for_s is not None else f"over-{self.over_s:g}s"
        return f"{self.request or 'total'}-{self.kpi}-{bound}-{span}"


class LoadRequest(Section):
    """One weighted request of a YAML scenario."""

    name: Name
    method: Method = "GET"
    path: str = Field(description="Joined to base_url.")
    weight: Annotated[int, Field(ge=1, le=1000)] = 1
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    json_body: Any = Field(None, alias="json", repr=False)
    expect_status: list[StatusCode] | None = Field(
        None, description="Default: any status below 400."
    )

    @field_validator("path")
    @classmethod
    def _on_base_url(cls, value: str) -> str:
        """`//host/x` starts with a slash too, and names another host."""
        if not value.startswith("/") or value.startswith("//"):
            raise PydanticCustomError(
                "gonogo",
                "expected a path on base_url, starting with a single /, not {value} "
                "(//host/... names another host)",
                {"value": repr(value)},
            )
        return value


class Stage(Section):
    """One step of a staged profile: reach `users` (at `spawn_rate`) and hold for `duration_s`."""

    duration_s: Duration
    users: Annotated[int, Field(ge=0, le=1_000_000)]
    spawn_rate: Annotated[float, Field(gt=0, le=100_000)] | None = None


class LoadScenario(Section):
    """A Locust run against base_url, the KPIs it must meet, and where it may run."""

    locustfile: Path | None = Field(None, description="A locustfile; else `requests` below.")
    requests: list[LoadRequest] = Field(default_factory=list)
    users: Annotated[int, Field(ge=1, le=1_000_000)] = 200
    spawn_rate: Annotated[float, Field(gt=0, le=100_000)] = 20
    duration_s: Duration = 60
    stages: list[Stage] = Field(
        default_factory=list, description="Ramp, hold, ramp down; replaces users/duration."
    )
    wait_s: tuple[float, float] = Field((0.0, 0.0), description="Between tasks: min, max.")
    processes: int | Literal["auto"] = Field("auto", description="Local Locust workers.")
    expect_workers: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        None, description="Distributed: wait for this many remote workers instead."
    )
    master_bind: str = Field("127.0.0.1", description="Where remote workers connect.")
    master_port: Annotated[int, Field(ge=1024, le=65535)] = 5557
    worker_timeout_s: Duration = 30
    grace_s: Annotated[float, Field(ge=0, le=600)] = 10
    allow_on_protected: bool = False
    kpis: Kpis = Field(default_factory=Kpis)
    per_request: dict[Name, Kpis] = Field(default_factory=dict)
    windows: list[WindowRule] = Field(default_factory=list)
    severity: Severity | None = None

    @field_validator("locustfile")
    @classmethod
    def _exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else existing_file(value, info, "locustfile")

    @model_validator(mode="after")
    def _one_scenario(self) -> LoadScenario:
        if (self.locustfile is None) == (not self.requests):
            raise PydanticCustomError(
                "gonogo", "expected exactly one of `locustfile` or `requests`"
            )
        names = {request.name for request in self.requests}
        for name in self.per_request:
            if self.requests and name not in names:
                raise PydanticCustomError(
                    "gonogo",
                    f"per_request.{name}: no request named {name!r}; expected one of "
                    f"{sorted(names)}",
                )
        if isinstance(self.processes, int) and not 1 <= self.processes <= 256:
            raise PydanticCustomError("gonogo", "processes: expected 1-256 or 'auto'")
        low, high = self.wait_s
        if not 0 <= low <= high <= 3600:
            raise PydanticCustomError("gonogo", "wait_s: expected [min, max], 0 <= min <= max")
        return self

    @property
    def label(self) -> str:
        return "load"

    @property
    def total_duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages) or self.duration_s


@dataclass(frozen=True)
class KpiTarget:
    """One threshold on one scope (all requests, or one request name): one check's target."""

    scope: str
    kpi: str
    limit: float
    severity: Severity | None

    @property
    def label(self) -> str:
        return f"{self.scope}-{self.kpi}"


def kpi_targets(scenario: LoadScenario | None) -> list[KpiTarget]:
    """Every KPI asked, in total and per request name."""
    if scenario is None:
        return []
    targets = [
        KpiTarget("total", kpi, limit, scenario.severity)
        for kpi, limit in scenario.kpis.asked().items()
    ]
    # Per request, only what is spelled out: the defaults are the whole run's KPIs.
    for name, kpis in scenario.per_request.items():
        spelled = {k: v for k, v in kpis.asked().items() if k in kpis.model_fields_set}
        targets += [
            KpiTarget(name, kpi, limit, scenario.severity) for kpi, limit in spelled.items()
        ]
    return targets
