"""The environment file's schema: what a deployment must be, as frozen, validated models.

Every capability has its section here; unknown keys are errors, never ignored, because an
ignored expectation is a GO nobody earned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urljoin, urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gonogo._section import (
    SEVERITIES,
    Name,
    Request,
    Seconds,
    Section,
    Severity,
    StatusCodes,
    check_url_port,
    existing_file,
)
from gonogo.durations import format_duration
from gonogo.environment_dependencies import Dependency
from gonogo.environment_edge import (
    CookiePolicy,
    Cors,
    EndpointBehaviour,
    ExposedPath,
    HeaderPolicy,
    PortPolicy,
    RateLimit,
    Redirect,
    TlsPolicy,
)
from gonogo.environment_flows import BadInput, Flow, OpenApiSmoke
from gonogo.environment_gate import (
    Baseline,
    MetricQuery,
    Metrics,
    Notification,
    PositiveDuration,
    RollbackHook,
    Waiver,
    Watch,
    WatchEntry,
)
from gonogo.environment_inside import (
    ContainerPolicy,
    FirewallPolicyCheck,
    HostPolicy,
    Reachability,
)
from gonogo.environment_load import LoadScenario
from gonogo.probes.http import merged_headers

__all__ = [
    "SENSITIVE_HEADERS",
    "Defaults",
    "Environment",
    "Expect",
    "GatePolicy",
    "Request",
    "Severity",
    "SmokeCheck",
    "Wait",
]

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}
)
EDGE_SECTIONS = (
    "ports",
    "tls",
    "redirects",
    "headers",
    "cookies",
    "cors",
    "endpoints",
    "rate_limits",
    "exposed_paths",
)
INSIDE_SECTIONS = ("containers", "hosts", "firewall", "reachability")
API_SECTIONS = ("dependencies", "flows", "bad_input", "openapi")


class Defaults(Section):
    """Values every check inherits unless it says otherwise."""

    timeout_s: Seconds = Field(5.0, description="Per network operation.")
    severity: Severity = "major"
    ca_file: Path | None = Field(
        None, description="PEM bundle to verify TLS against instead of the system store."
    )
    verify_tls: bool = True
    max_duration: PositiveDuration = Field(
        1800.0,
        description="The whole run's time budget (30s, 10m): past it no check starts, and a run "
        "still busy after a grace period is interrupted (NO-GO). `--max-duration` overrides it.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="Sent with every smoke, flow, bad-input and OpenAPI request (e.g. an API "
        "key); a request's own header of the same name wins, and an empty value drops it.",
    )

    @field_validator("ca_file")
    @classmethod
    def _resolve_ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else existing_file(value, info, "CA file")


class Expect(Section):
    """What the answer must look like."""

    status: StatusCodes = Field(
        default_factory=lambda: [200], description="Accepted status code(s)."
    )
    json_fields: dict[str, Any] = Field(
        default_factory=dict,
        alias="json",
        description="Dotted paths into the JSON body and the value each must equal.",
    )
    latency_ms: Annotated[float, Field(gt=0, le=600_000)] | None = Field(
        None, description="Budget for the whole request, first byte to last."
    )


class SmokeCheck(Section):
    """A request whose answer proves the service is up and behaving."""

    name: Name
    request: Request
    expect: Expect = Field(default_factory=Expect)
    severity: Severity | None = None


class Wait(Section):
    """Poll one smoke check until it passes before judging anything (the documents' 30 x 10 s)."""

    check: Name = Field(description="Name of the smoke check to poll.")
    attempts: Annotated[int, Field(ge=1, le=1000)] = 30
    interval_s: Annotated[float, Field(gt=0, le=600)] = 10.0


class GatePolicy(Section):
    """Which failures block a GO."""

    block_on: list[Severity] = Field(
        default_factory=lambda: list(SEVERITIES[:2]),
        description="Severities whose failure, error or skip makes the decision NO-GO.",
    )

    @field_validator("block_on")
    @classmethod
    def _critical_always_blocks(cls, value: list[Severity]) -> list[Severity]:
        if "critical" not in value:
            raise ValueError("must include 'critical': a failed critical check is never GO")
        return value


class Environment(Section):
    """A deployment's expectations: the document `pytest --env NAME` verifies."""

    name: Name
    description: str = ""
    protected: bool = Field(False, description="Production-like: load is refused unless allowed.")
    public_variables: list[str] = Field(
        default_factory=list,
        description="Variables whose values may appear in reports; all others are redacted.",
    )
    base_url: str | None = Field(None, description="Prefix for request URLs given as paths.")
    defaults: Defaults = Field(default_factory=Defaults)
    wait: Wait | None = None
    smoke: list[SmokeCheck] = Field(default_factory=list)
    gate: GatePolicy = Field(default_factory=GatePolicy)

    ports: list[PortPolicy] = Field(default_factory=list)
    tls: list[TlsPolicy] = Field(default_factory=list)
    redirects: list[Redirect] = Field(default_factory=list)
    headers: list[HeaderPolicy] = Field(default_factory=list)
    cookies: list[CookiePolicy] = Field(default_factory=list)
    cors: list[Cors] = Field(default_factory=list)
    endpoints: list[EndpointBehaviour] = Field(default_factory=list)
    rate_limits: list[RateLimit] = Field(default_factory=list)
    exposed_paths: list[ExposedPath] = Field(default_factory=list)
    containers: list[ContainerPolicy] = Field(default_factory=list)
    hosts: list[HostPolicy] = Field(default_factory=list)
    firewall: list[FirewallPolicyCheck] = Field(default_factory=list)
    reachability: list[Reachability] = Field(default_factory=list)
    dependencies: list[Dependency] = Field(default_factory=list)
    flows: list[Flow] = Field(default_factory=list)
    bad_input: list[BadInput] = Field(default_factory=list)
    openapi: list[OpenApiSmoke] = Field(default_factory=list)
    load: LoadScenario | None = None
    metrics: Metrics | None = None
    watch: Watch | None = None
    rollback: RollbackHook | None = None
    waivers: list[Waiver] = Field(default_factory=list)
    baseline: Baseline | None = None
    notify: list[Notification] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _base_url_shape(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("expected an http(s):// URL with a host")
            check_url_port(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _tls_defaults_to_base_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("tls"), list):
            base = data.get("base_url")
            tls = [
                {**entry, "url": base} if isinstance(entry, dict) and "url" not in entry else entry
                for entry in data["tls"]
            ]
            data = {**data, "tls": tls}
        return data

    @model_validator(mode="after")
    def _resolve_references(self) -> Environment:
        for section in ("smoke", *EDGE_SECTIONS, *INSIDE_SECTIONS, *API_SECTIONS):
            self._check_unique_labels(section)
        self._check_host_references()
        self._check_health_references()
        self._check_gate_references()
        shortfall = self.budget_shortfall(self.defaults.max_duration)
        if shortfall:
            raise PydanticCustomError("gonogo", f"defaults.max_duration: {shortfall}")
        for where, url in self._urls():
            if url is None and where.startswith("tls"):
                raise PydanticCustomError(
                    "gonogo", f"{where}: expected an https:// URL, or a top-level base_url"
                )
            if url is not None and url.startswith("/") and self.base_url is None:
                raise PydanticCustomError(
                    "gonogo",
                    f"{where}: {url!r} is a path, "
                    "expected a full URL or a top-level base_url to resolve it against",
                )
        if self.wait is not None and self.wait.check not in {c.name for c in self.smoke}:
            names = [c.name for c in self.smoke]
            raise PydanticCustomError(
                "gonogo",
                f"wait.check: no smoke check named {self.wait.check!r}; expected one of {names}",
            )
        for index, limit in enumerate(self.rate_limits):
            if self.protected and not limit.allow_on_protected:
                raise PydanticCustomError(
                    "gonogo",
                    f"rate_limits[{index}]: refused, the environment is protected and a rate "
                    "limit check sends a burst of requests; set allow_on_protected: true "
                    "to run it anyway",
                )
        for index, entry in enumerate(self.openapi):
            run = entry.schemathesis
            if self.protected and run is not None and not run.allow_on_protected:
                raise PydanticCustomError(
                    "gonogo",
                    f"openapi[{index}].schemathesis: refused, the environment is protected and "
                    "a property-based run sends generated writes to every operation; set "
                    "allow_on_protected: true to run it anyway",
                )
        return self

    def _check_unique_labels(self, section: str) -> None:
        first: dict[str, int] = {}
        for index, entry in enumerate(getattr(self, section)):
            label = entry.name if section == "smoke" else entry.label
            if label in first:
                where = f"{section}[{index}]" + (".name" if entry.name else "")
                raise PydanticCustomError(
                    "gonogo",
                    f"{where}: {label!r} is already used by {section}[{first[label]}]; "
                    "names must be unique (give one a `name`)",
                )
            first[label] = index

    def _check_host_references(self) -> None:
        """firewall[].host and reachability[].from name a `hosts` entry (or 'here')."""
        hosts = [host.label for host in self.hosts]
        references = [(f"firewall[{i}].host", f.host) for i, f in enumerate(self.firewall)]
        references += [
            (f"reachability[{i}].from", r.source)
            for i, r in enumerate(self.reachability)
            if r.source != "here"
        ]
        for where, name in references:
            if name is not None and name not in hosts:
                raise PydanticCustomError(
                    "gonogo",
                    f"{where}: no hosts entry named {name!r}; expected one of {hosts or 'none'}"
                    + (" or 'here'" if where.startswith("reachability") else ""),
                )

    def _check_health_references(self) -> None:
        """bad_input[].healthy names a smoke check; without one the wait check stands in."""
        names = [check.name for check in self.smoke]
        for index, entry in enumerate(self.bad_input):
            name = entry.healthy or (self.wait.check if self.wait else None)
            if name is None:
                raise PydanticCustomError(
                    "gonogo",
                    f"bad_input[{index}].healthy: expected the name of a smoke check to re-run "
                    "afterwards (the service must still be healthy), or a top-level wait",
                )
            if name not in names:
                raise PydanticCustomError(
                    "gonogo",
                    f"bad_input[{index}].healthy: no smoke check named {name!r}; "
                    f"expected one of {names or 'none'}",
                )

    def _check_gate_references(self) -> None:
        """Watch entries name smoke checks and metrics queries; a baseline needs a load stage."""
        queries = self.metrics.queries if self.metrics else []
        alerts = self.metrics.alerts if self.metrics else []
        for kind, used in (
            ("queries", [q.name for q in queries]),
            ("alerts", [a.name for a in alerts]),
        ):
            for index, name in enumerate(used):
                if name in used[:index]:
                    raise PydanticCustomError(
                        "gonogo", f"metrics.{kind}[{index}].name: {name!r} is used twice"
                    )
        names = {
            "smoke": [check.name for check in self.smoke],
            "query": [query.name for query in queries],
        }
        labels: set[str] = set()
        for index, entry in enumerate(self.watch.checks if self.watch else []):
            kind = "smoke" if entry.smoke else "query"
            subject = entry.smoke or entry.query
            if subject not in names[kind]:
                raise PydanticCustomError(
                    "gonogo",
                    f"watch.checks[{index}].{kind}: no {kind} named {subject!r}; "
                    f"expected one of {names[kind] or 'none'}",
                )
            if entry.label in labels:
                raise PydanticCustomError(
                    "gonogo",
                    f"watch.checks[{index}]: {entry.label!r} is watched twice (give one a `name`)",
                )
            labels.add(entry.label)
        if self.baseline is not None and self.load is None:
            raise PydanticCustomError(
                "gonogo",
                "baseline: compares the load stage's KPIs with an earlier run's; "
                "expected a load section",
            )

    def budget_shortfall(self, budget_s: float) -> str | None:
        """Why a run budget of `budget_s` cannot hold the stages of fixed length (the load run
        and the watch window), or None when it can."""
        stages = []
        if self.load is not None:
            stages.append(("the load run", self.load.total_duration_s))
        if self.watch is not None and self.watch.duration:
            stages.append(("the watch window", self.watch.duration))
        needed = sum(seconds for _, seconds in stages)
        if needed < budget_s:
            return None
        parts = " and ".join(f"{what} ({format_duration(seconds)})" for what, seconds in stages)
        return (
            f"{format_duration(budget_s)} leaves no time for the checks after {parts}; "
            f"expected more than {format_duration(needed)}"
        )

    def watch_entries(self) -> list[WatchEntry]:
        """What the watch window measures: the watch section's entries, or without one the wait
        check three times in a row (the documents' rule) and every rollback query."""
        if self.watch is not None:
            return list(self.watch.checks)
        entries = []
        if self.wait is not None:
            entries.append(WatchEntry(smoke=self.wait.check, consecutive_failures=3))
        queries = self.metrics.queries if self.metrics else []
        entries += [WatchEntry(query=query.name) for query in queries if query.rollback]
        return entries

    def metric_query(self, name: str) -> MetricQuery:
        queries = self.metrics.queries if self.metrics else []
        return next(query for query in queries if query.name == name)

    def health_check_after(self, entry: BadInput) -> SmokeCheck:
        """The smoke check that proves the service survived an entry's bad input."""
        name = entry.healthy or (self.wait.check if self.wait else "")
        return self.smoke_check(name)

    def host(self, name: str | None) -> HostPolicy | None:
        """The hosts entry a firewall or reachability entry names; None for this machine.

        An unknown name is an error, never this machine: reading the wrong host's firewall
        would judge a policy nobody asked about.
        """
        if name is None:
            return None
        for host in self.hosts:
            if host.label == name:
                return host
        raise KeyError(f"no hosts entry named {name!r}")

    def _urls(self) -> Iterator[tuple[str, str | None]]:
        """Every URL an entry names, with where it is in the file, for one resolution rule."""
        for index, check in enumerate(self.smoke):
            yield f"smoke[{index}].request.url", check.request.url
        for index, tls in enumerate(self.tls):
            yield f"tls[{index}].url", tls.url
        for section in ("redirects", "headers", "cors", "endpoints", "exposed_paths", "openapi"):
            for index, entry in enumerate(getattr(self, section)):
                yield f"{section}[{index}].url", entry.url
        for section in ("cookies", "rate_limits"):
            for index, entry in enumerate(getattr(self, section)):
                yield f"{section}[{index}].request.url", entry.request.url
        for index, entry in enumerate(self.bad_input):
            yield f"bad_input[{index}].url", entry.url
        for index, flow in enumerate(self.flows):
            for number, step in enumerate(flow.steps):
                yield f"flows[{index}].steps[{number}].request.url", step.request.url
                if step.cleanup is not None:
                    where = f"flows[{index}].steps[{number}].cleanup.request.url"
                    yield where, step.cleanup.request.url

    def url(self, target: Request | str) -> str:
        """The absolute URL a request (or a URL that may be a path) goes to."""
        url = target if isinstance(target, str) else target.url
        if url.startswith("/") and self.base_url:
            return urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))
        return url

    def severity_of(self, check: SmokeCheck | Section) -> Severity:
        severity: Severity | None = getattr(check, "severity", None)
        return severity or self.defaults.severity

    def headers_for(self, own: Mapping[str, str]) -> dict[str, str]:
        """The defaults' headers under a request's own (see `merged_headers`)."""
        return merged_headers(self.defaults.headers, own)

    def timeout_of(self, request: Request) -> float:
        return request.timeout_s or self.defaults.timeout_s

    def smoke_check(self, name: str) -> SmokeCheck:
        return next(check for check in self.smoke if check.name == name)
