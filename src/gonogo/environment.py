"""The environment file's schema: what a deployment must be, as frozen, validated models.

Every capability has its section here. Sections whose checks are not built yet are rejected
with "not supported yet" rather than ignored: an ignored expectation is a GO nobody earned.
"""

from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

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

Severity = Literal["critical", "major", "minor"]
SEVERITIES: tuple[Severity, ...] = ("critical", "major", "minor")
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}
)
UNSUPPORTED_SECTIONS = (
    "endpoints",
    "ports",
    "tls",
    "headers",
    "containers",
    "hosts",
    "firewall",
    "dependencies",
    "flows",
    "load",
    "metrics",
    "watch",
    "rollback",
    "waivers",
    "baseline",
    "notify",
)

Name = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="Identifier shown in test ids: letters, digits, '_', '.', '-'.",
    ),
]
Seconds = Annotated[float, Field(gt=0, le=3600)]


def _status_list(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, list):
        raise PydanticCustomError(
            "gonogo", f"expected a status code (e.g. 200) or a list of them, got {value!r}"
        )
    return value


StatusCode = Annotated[int, Field(ge=100, le=599)]


class Section(BaseModel):
    """Base of every section: frozen, and unknown keys are errors with a did-you-mean."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = [field.alias or name for name, field in cls.model_fields.items()]
        for key in data:
            if key in known:
                continue
            close = get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {known}"
            raise PydanticCustomError("gonogo", f"unknown key {key!r}{hint}")
        return data


class Defaults(Section):
    """Values every check inherits unless it says otherwise."""

    timeout_s: Seconds = Field(5.0, description="Per network operation.")
    severity: Severity = "major"
    ca_file: Path | None = Field(
        None, description="PEM bundle to verify TLS against instead of the system store."
    )
    verify_tls: bool = True

    @field_validator("ca_file")
    @classmethod
    def _resolve_ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir", Path.cwd())
        path = value if value.is_absolute() else (base / value).resolve()
        if not path.is_file():
            raise ValueError(f"CA file {path} does not exist")
        return path


class Request(Section):
    """One HTTP request; `url` may be a path resolved against the environment's base_url."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str
    # Not in repr: they may hold credentials, and pytest may split a long repr mid-secret.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    json_body: Any = Field(None, alias="json", description="JSON request body.", repr=False)
    timeout_s: Seconds | None = None

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if value.startswith("/"):
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http(s):// URL with a host, or a path starting with /")
        return value


class Expect(Section):
    """What the answer must look like."""

    status: Annotated[list[StatusCode], BeforeValidator(_status_list)] = Field(
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


def _unsupported(value: Any, info: ValidationInfo) -> Any:
    if value is not None:
        raise PydanticCustomError(
            "gonogo",
            f"section '{info.field_name}' is not supported yet by this gonogo version; "
            "remove it (an ignored expectation would be a GO nobody earned)",
        )
    return value


Unsupported = Annotated[
    Any, BeforeValidator(_unsupported), Field(None, description="Not supported yet.")
]


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

    endpoints: Unsupported
    ports: Unsupported
    tls: Unsupported
    headers: Unsupported
    containers: Unsupported
    hosts: Unsupported
    firewall: Unsupported
    dependencies: Unsupported
    flows: Unsupported
    load: Unsupported
    metrics: Unsupported
    watch: Unsupported
    rollback: Unsupported
    waivers: Unsupported
    baseline: Unsupported
    notify: Unsupported

    @field_validator("base_url")
    @classmethod
    def _base_url_shape(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("expected an http(s):// URL with a host")
        return value

    @field_validator("smoke")
    @classmethod
    def _unique_names(cls, value: list[SmokeCheck]) -> list[SmokeCheck]:
        first: dict[str, int] = {}
        for index, check in enumerate(value):
            if check.name in first:
                raise PydanticCustomError(
                    "gonogo",
                    f"smoke[{index}].name: {check.name!r} is already used by "
                    f"smoke[{first[check.name]}]; names must be unique",
                )
            first[check.name] = index
        return value

    @model_validator(mode="after")
    def _resolve_references(self) -> Environment:
        for index, check in enumerate(self.smoke):
            if check.request.url.startswith("/") and self.base_url is None:
                raise PydanticCustomError(
                    "gonogo",
                    f"smoke[{index}].request.url: {check.request.url!r} is a path, "
                    "expected a full URL or a top-level base_url to resolve it against",
                )
        if self.wait is not None and self.wait.check not in {c.name for c in self.smoke}:
            names = [c.name for c in self.smoke]
            raise PydanticCustomError(
                "gonogo",
                f"wait.check: no smoke check named {self.wait.check!r}; expected one of {names}",
            )
        return self

    def url(self, request: Request) -> str:
        """The absolute URL a request goes to."""
        if request.url.startswith("/") and self.base_url:
            return urljoin(self.base_url.rstrip("/") + "/", request.url.lstrip("/"))
        return request.url

    def severity_of(self, check: SmokeCheck) -> Severity:
        return check.severity or self.defaults.severity

    def timeout_of(self, request: Request) -> float:
        return request.timeout_s or self.defaults.timeout_s

    def smoke_check(self, name: str) -> SmokeCheck:
        return next(check for check in self.smoke if check.name == name)
