"""The API behaviour sections: declarative flows, the negative smoke, and the OpenAPI smoke.

What the documents' `tests/e2e` suites do by hand for each project: log in and use the
token, be refused without it, create, read and delete, upload and download the same bytes,
reject bad input with a 4xx and never a stack trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gonogo._section import (
    Entry,
    HttpUrl,
    Name,
    Seconds,
    Section,
    Severity,
    StatusCodes,
    existing_file,
    http_url,
)

__all__ = [
    "BUILTIN_VARIABLES",
    "VARIABLE",
    "BadInput",
    "Capture",
    "Cleanup",
    "Flow",
    "FlowStep",
    "OpenApiSmoke",
    "SchemathesisRun",
    "Step",
    "StepExpect",
    "StepRequest",
    "Upload",
    "flow_steps",
    "variables_in",
]

# `{{ name }}`: a value captured by an earlier step, filled in when the step runs.
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
BUILTIN_VARIABLES = ("run_id",)  # unique per run: names created things so runs never collide
VariableName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
MAX_UPLOAD_BYTES = 64 * 1024**2


def _flow_url(value: str) -> str:
    """A step may go where an earlier answer pointed: `url: "{{ location }}"`."""
    return value if value.startswith("{{") else http_url(value)


FlowUrl = Annotated[str, AfterValidator(_flow_url), Field(description="URL, path or {{ var }}.")]


def variables_in(value: Any) -> Iterator[str]:
    """Every `{{ name }}` in a value, however deeply nested in lists and mappings."""
    if isinstance(value, str):
        yield from VARIABLE.findall(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from variables_in(key)
            yield from variables_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from variables_in(item)


def _resolve_file(value: Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    path = existing_file(value, info, "file")
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise ValueError(f"file {path} is larger than {MAX_UPLOAD_BYTES} bytes")
    return path


def _compiled(value: Any) -> Any:
    if not isinstance(value, dict):
        return value  # the mapping's own validation says what is wrong
    for key, pattern in value.items():
        if not isinstance(pattern, str):
            continue  # likewise: expected a string
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PydanticCustomError(
                "gonogo", f"{key}: not a valid regular expression: {exc}, in {pattern!r}"
            ) from None
    return value


class Upload(Section):
    """A file sent as multipart/form-data: from a file next to the environment, or inline."""

    path: Path | None = None
    content: str | None = Field(None, repr=False)
    filename: str | None = Field(None, description="Default: the file's name, or upload.bin.")
    content_type: str = "application/octet-stream"

    _resolve = field_validator("path")(_resolve_file)

    @model_validator(mode="after")
    def _one_source(self) -> Upload:
        if (self.path is None) == (self.content is None):
            raise PydanticCustomError("gonogo", "expected exactly one of `path` or `content`")
        return self

    @property
    def name(self) -> str:
        return self.filename or (self.path.name if self.path else "upload.bin")


class StepRequest(Section):
    """One request of a flow; strings may hold `{{ var }}` captured by earlier steps."""

    method: Method = "GET"
    url: FlowUrl
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    query: dict[str, str | int | float | bool] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json", repr=False)
    form: dict[str, str] = Field(default_factory=dict, repr=False)
    files: dict[str, Upload] = Field(default_factory=dict, description="Form field -> file.")
    body: str | None = Field(None, repr=False, description="A raw body, sent as given.")
    timeout_s: Seconds | None = None

    @model_validator(mode="after")
    def _one_body(self) -> StepRequest:
        given = [
            key
            for key, present in (
                ("json", self.json_body is not None),
                ("form/files", bool(self.form or self.files)),
                ("body", self.body is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise PydanticCustomError(
                "gonogo", f"expected one kind of body, found {' and '.join(given)}"
            )
        return self


class Capture(Section):
    """Where a variable's value comes from: a JSON path of the body, or a response header."""

    json_path: str | None = Field(None, alias="json")
    header: str | None = None
    secret: bool = Field(False, description="Mask the value in every message and report.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"json": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_source(self) -> Capture:
        if (self.json_path is None) == (self.header is None):
            raise PydanticCustomError("gonogo", "expected exactly one of `json` or `header`")
        return self


class StepExpect(Section):
    """What the answer to a step must be; every expectation given is judged."""

    status: StatusCodes | None = Field(None, description="Accepted codes; default any 2xx.")
    headers: dict[str, str] = Field(default_factory=dict, description="Exact header values.")
    header_matches: Annotated[dict[str, str], BeforeValidator(_compiled)] = Field(
        default_factory=dict
    )
    json_fields: dict[str, Any] = Field(
        default_factory=dict, alias="json", description="Dotted path -> value it must equal."
    )
    json_contains: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted path -> a substring, a list element or a sub-mapping it must hold.",
    )
    json_exists: list[str] = Field(default_factory=list)
    json_absent: list[str] = Field(default_factory=list)
    json_matches: Annotated[dict[str, str], BeforeValidator(_compiled)] = Field(
        default_factory=dict
    )
    json_schema: dict[str, Any] | None = Field(None, description="A JSON Schema for the body.")
    body_file: Path | None = Field(None, description="The body must be exactly this file.")
    body_contains: str | None = None
    latency_ms: Annotated[float, Field(gt=0, le=600_000)] | None = None

    _resolve = field_validator("body_file")(_resolve_file)

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from jsonschema import exceptions, validators

            try:
                validators.validator_for(value).check_schema(value)
            except exceptions.SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value


class Cleanup(Section):
    """A request that undoes what its step created; runs at the end of the flow, always."""

    request: StepRequest
    status: StatusCodes | None = Field(None, description="Accepted codes; default 2xx or 404.")


class Step(Section):
    """One request of a flow, what its answer must be, and what it hands to later steps."""

    name: Name
    request: StepRequest
    expect: StepExpect = Field(default_factory=StepExpect)
    capture: dict[VariableName, Capture] = Field(default_factory=dict)
    cleanup: Cleanup | None = Field(
        None, description="Registered once this step passes; runs however the flow ends."
    )


class Flow(Entry):
    """A named scenario of steps; a failed step stops the flow, and cleanups still run."""

    name: Name
    description: str = ""
    steps: Annotated[list[Step], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _variables_defined_before_use(self) -> Flow:
        known = set(BUILTIN_VARIABLES)
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            if step.name in seen:
                raise PydanticCustomError(
                    "gonogo", f"steps[{index}].name: {step.name!r} is used twice in this flow"
                )
            seen.add(step.name)
            parts = {"request": step.request, "expect": step.expect}
            for part, model in parts.items():
                self._check_defined(model.model_dump(by_alias=True), known, index, part)
            known |= set(step.capture)
            if step.cleanup is not None:
                self._check_defined(step.cleanup.model_dump(by_alias=True), known, index, "cleanup")
        return self

    @staticmethod
    def _check_defined(value: Any, known: set[str], index: int, part: str) -> None:
        for variable in variables_in(value):
            if variable not in known:
                before = ", ".join(sorted(known)) or "none"
                raise PydanticCustomError(
                    "gonogo",
                    f"steps[{index}].{part}: {{{{ {variable} }}}} is not captured by an earlier "
                    f"step; variables known here: {before}",
                )

    def _default_label(self) -> str:
        return self.name


@dataclass(frozen=True)
class FlowStep:
    """One step of a flow: its own line in the report, judged from the flow's one run."""

    flow: Flow
    index: int

    @property
    def step(self) -> Step:
        return self.flow.steps[self.index]

    @property
    def label(self) -> str:
        return f"{self.flow.name}/{self.index + 1}-{self.step.name}"

    @property
    def severity(self) -> Severity | None:
        return self.flow.severity


def flow_steps(flows: list[Flow]) -> list[FlowStep]:
    return [FlowStep(flow, index) for flow in flows for index in range(len(flow.steps))]


class BadInput(Entry):
    """An endpoint fed malformed and hostile input; every answer must be a clean 4xx."""

    url: HttpUrl
    method: Method = "POST"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    json_body: Any = Field(
        None, alias="json", description="A valid example body; the cases are mutations of it."
    )
    query: dict[str, str] = Field(
        default_factory=dict, description="Valid query parameters; mutated like body fields."
    )
    max_cases: Annotated[int, Field(ge=1, le=500)] = Field(
        40, description="Upper bound on requests sent to this endpoint."
    )
    oversized_bytes: Annotated[int, Field(ge=1024, le=64 * 1024**2)] = 1024**2
    accept: StatusCodes | None = Field(None, description="Accepted codes; default any 4xx.")
    free_text: list[str] = Field(
        default_factory=list,
        description="Fields or parameters where injection-like text is legitimate content: "
        "those cases may be accepted, but never answered with a 5xx.",
    )
    healthy: Name | None = Field(
        None, description="Smoke check re-run afterwards; default the wait check."
    )
    timeout_s: Seconds | None = None

    def _default_label(self) -> str:
        return f"{self.method} {self.url}"


class SchemathesisRun(Section):
    """A bounded property-based run of schemathesis over the same document."""

    max_examples: Annotated[int, Field(ge=1, le=1000)] = 10
    max_duration_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    allow_on_protected: bool = Field(
        False, description="It sends generated writes (POST, PUT...) to every operation."
    )


class OpenApiSmoke(Entry):
    """A published OpenAPI document: each parameterless GET answers non-5xx, to its schema."""

    url: HttpUrl = Field(description="Where the document is served, e.g. /openapi.json.")
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    exclude: list[str] = Field(
        default_factory=list, description="Path patterns (fnmatch) not to call, e.g. /admin/*."
    )
    max_operations: Annotated[int, Field(ge=1, le=1000)] = 100
    schemathesis: SchemathesisRun | None = None
    timeout_s: Seconds | None = None

    def _default_label(self) -> str:
        return self.url
