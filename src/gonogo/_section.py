"""Building blocks every section of the environment file shares: the base model and field types."""

from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "SEVERITIES",
    "Entry",
    "HttpUrl",
    "Name",
    "Request",
    "Seconds",
    "Section",
    "Severity",
    "StatusCode",
    "StatusCodes",
    "check_url_port",
    "existing_file",
    "http_url",
]

Severity = Literal["critical", "major", "minor"]
SEVERITIES: tuple[Severity, ...] = ("critical", "major", "minor")

Name = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="Identifier shown in test ids: letters, digits, '_', '.', '-'.",
    ),
]
Seconds = Annotated[float, Field(gt=0, le=3600)]
StatusCode = Annotated[int, Field(ge=100, le=599)]


def _status_list(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, list):
        raise PydanticCustomError(
            "gonogo", f"expected a status code (e.g. 200) or a list of them, got {value!r}"
        )
    return value


StatusCodes = Annotated[list[StatusCode], BeforeValidator(_status_list)]


def check_url_port(url: str) -> None:
    """A URL's port, when it has one, is 1-65535: urlsplit only looks when asked, so a typo
    like :80800 would otherwise surface mid-run as a failed connection."""
    try:
        port = urlsplit(url).port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("expected a URL whose port is 1-65535")


def http_url(value: str) -> str:
    if value.startswith("/"):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http(s):// URL with a host, or a path starting with /")
    check_url_port(value)
    return value


HttpUrl = Annotated[
    str, AfterValidator(http_url), Field(description="A URL, or a path on base_url.")
]


def existing_file(value: Path, info: ValidationInfo, what: str) -> Path:
    """A path as written in the environment file, made absolute against that file's directory;
    it must name an existing file, since a missing one would only fail mid-run."""
    base = (info.context or {}).get("base_dir", Path.cwd())
    try:
        path = value if value.is_absolute() else (base / value).resolve()
        found = path.is_file()
    except OSError as exc:  # a name too long, a loop of links
        raise ValueError(f"{what} {str(value)[:80]!r}: {exc.strerror}") from None
    if not found:
        raise ValueError(f"{what} {path} does not exist")
    return path


class Section(BaseModel):
    """Base of every section: frozen, and unknown keys are errors with a did-you-mean."""

    # No NaN or infinity: a bound that compares false with everything is a GO nobody earned.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

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


class Entry(Section):
    """An entry of a list section: an optional name for test ids, an optional severity."""

    name: Name | None = None
    severity: Severity | None = None

    @property
    def label(self) -> str:
        """What the test ids and messages call this entry: its name, else its target."""
        return self.name or self._default_label()

    def _default_label(self) -> str:
        raise NotImplementedError


class Request(Section):
    """One HTTP request; `url` may be a path resolved against the environment's base_url."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: HttpUrl
    # Not in repr: they may hold credentials, and pytest may split a long repr mid-secret.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    json_body: Any = Field(None, alias="json", description="JSON request body.", repr=False)
    timeout_s: Seconds | None = None
