"""The `dependencies` section: the databases, caches, brokers and services a deployment needs.

The documents check these by hand (`pg_isready`, `redis-cli -a ... ping`, `mysqladmin ping`,
`rabbitmq-diagnostics ping`, `curl /api/v1/heartbeat`); here each is one URL whose scheme
says what speaks there, probed directly from the suite with a timeout and a latency budget.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gonogo._section import Entry, Seconds, Section, StatusCodes, check_url_port

__all__ = ["DRIVERS", "KINDS", "Dependency", "DependencyKind", "QueryCheck"]

DependencyKind = Literal["postgres", "mysql", "redis", "rabbitmq", "mongodb", "tcp", "http"]
KINDS: dict[str, DependencyKind] = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "mongodb": "mongodb",
    "tcp": "tcp",
    "http": "http",
    "https": "http",
}
TLS_SCHEMES = frozenset({"rediss", "amqps", "https"})
# kind -> (module to import, pip extra that installs it)
DRIVERS: dict[DependencyKind, tuple[str, str]] = {
    "postgres": ("psycopg", "postgres"),
    "mysql": ("pymysql", "mysql"),
    "redis": ("redis", "redis"),
    "rabbitmq": ("pika", "rabbitmq"),
    "mongodb": ("pymongo", "mongodb"),
}
DEFAULT_PORTS: dict[str, int] = {
    "postgresql": 5432,
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "amqps": 5671,
    "mongodb": 27017,
    "http": 80,
    "https": 443,
}
# The documents' "DB query < 100 ms" is the default budget for every dependency.
DEFAULT_LATENCY_MS = 100.0


def _query(value: Any) -> Any:
    return {"sql": value} if isinstance(value, str) else value


class QueryCheck(Section):
    """A query whose first column of the first row must meet a bound (e.g. a row count > 0)."""

    sql: Annotated[str, Field(min_length=1, max_length=10_000)]
    equals: Any = Field(None, description="The value must equal this.")
    min: float | None = Field(None, description="The value must be a number >= this.")
    max: float | None = Field(None, description="The value must be a number <= this.")

    @property
    def asks_equals(self) -> bool:
        return "equals" in self.model_fields_set


class Dependency(Entry):
    """One dependency, reached directly: its URL's scheme says which probe speaks to it."""

    url: str = Field(
        description="postgresql://, mysql://, redis://, rediss://, amqp://, amqps://, "
        "mongodb://, tcp://host:port, http(s)://; credentials in the URL or in user/password."
    )
    user: str | None = Field(None, description="Overrides the URL's user.")
    password: str | None = Field(
        None, repr=False, description="Overrides the URL's password; use ${VAR}, never a literal."
    )
    timeout_s: Seconds | None = None
    latency_ms: Annotated[float, Field(gt=0, le=600_000)] | None = Field(
        DEFAULT_LATENCY_MS,
        description="Budget for connect + authenticate + ping; null for none.",
    )
    query: Annotated[QueryCheck | None, BeforeValidator(_query)] = Field(
        None, description="SQL for postgres/mysql: a string, or {sql, equals|min|max}."
    )
    round_trip: bool = Field(False, description="redis: write, read back and delete a scratch key.")
    management_url: str | None = Field(
        None, description="rabbitmq: management API base, for its aliveness check."
    )
    banner: str | None = Field(None, description="tcp: a regex the first line must match.")
    status: StatusCodes = Field(default_factory=lambda: [200], description="http: accepted.")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in KINDS:
            raise ValueError(
                f"unknown scheme {parts.scheme + '://' if parts.scheme else 'none'}; "
                f"expected one of {', '.join(s + '://' for s in KINDS)}"
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"invalid port ({exc})") from None
        if port == 0:
            raise ValueError("invalid port (0); expected 1-65535")
        if not parts.hostname:
            raise ValueError("expected a host in the URL")
        if parts.scheme == "tcp" and port is None:
            raise ValueError("tcp:// needs a port, e.g. tcp://127.0.0.1:8000")
        return value

    @field_validator("management_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("expected an http(s):// URL with a host")
            check_url_port(value)
        return value

    @field_validator("banner")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _options_fit_kind(self) -> Dependency:
        only = {
            "query": ("postgres", "mysql"),
            "round_trip": ("redis",),
            "management_url": ("rabbitmq",),
            "banner": ("tcp",),
            "status": ("http",),
        }
        for option, kinds in only.items():
            if option in self.model_fields_set and self.kind not in kinds:
                raise PydanticCustomError(
                    "gonogo",
                    f"{option}: only for {' and '.join(kinds)} dependencies; "
                    f"{self.url_parts.scheme}:// is {self.kind}",
                )
        return self

    @property
    def url_parts(self) -> SplitResult:
        return urlsplit(self.url)

    @property
    def kind(self) -> DependencyKind:
        return KINDS[self.url_parts.scheme]

    @property
    def tls(self) -> bool:
        return self.url_parts.scheme in TLS_SCHEMES

    @property
    def host(self) -> str:
        return self.url_parts.hostname or ""

    @property
    def port(self) -> int:
        return self.url_parts.port or DEFAULT_PORTS[self.url_parts.scheme]

    @property
    def username(self) -> str | None:
        if self.user is not None:
            return self.user
        return unquote(self.url_parts.username) if self.url_parts.username else None

    @property
    def secret(self) -> str | None:
        """The password, from `password` or the URL; never shown."""
        if self.password is not None:
            return self.password
        return unquote(self.url_parts.password) if self.url_parts.password else None

    @property
    def path(self) -> str:
        """The URL's path without its leading slash: database, vhost or Redis db number."""
        return unquote(self.url_parts.path.lstrip("/"))

    @property
    def display_url(self) -> str:
        """The URL with any password replaced by ***, for every message and report."""
        parts = self.url_parts
        if parts.password is None:
            return self.url
        user = parts.username or ""
        netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()

    def _default_label(self) -> str:
        return f"{self.kind}-{self.host}:{self.port}"
