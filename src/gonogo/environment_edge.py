"""The edge sections of the environment file: what a client sees from outside the deployment.

Ports, TLS, redirects, response headers, cookies, CORS, response behaviour, rate limits and
paths that must not be served. Defaults are the source documents' numbers, so an entry that
names only its target already asks for what the documents ask for.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gonogo._section import (
    Entry,
    HttpUrl,
    Name,
    Request,
    Seconds,
    Section,
    StatusCodes,
    check_url_port,
)

__all__ = [
    "DIGEST_HEADERS",
    "CookiePolicy",
    "Cors",
    "EndpointBehaviour",
    "ExposedPath",
    "Grade",
    "HeaderPolicy",
    "Hsts",
    "PortPolicy",
    "RateLimit",
    "Redirect",
    "TlsPolicy",
    "port_ranges",
]

Port = Annotated[int, Field(ge=1, le=65535)]
TlsVersion = Literal["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
Grade = Literal["A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F"]
# The documents' header set. HSTS and CSP are judged by meaning (`hsts`, `csp`), not by text.
DIGEST_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
_DIGEST_PROTOCOLS: tuple[TlsVersion, ...] = ("TLSv1.2", "TLSv1.3")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def port_ranges(value: Any) -> Any:
    """`1-1024`, `1-1024, 8000-9000`, `443` or a list of those, as (first, last) pairs."""
    if value is None:
        return None
    parts = value if isinstance(value, list) else str(value).split(",")
    ranges = []
    for part in parts:
        match = _RANGE.match(str(part))
        if not match:
            raise PydanticCustomError(
                "gonogo", f"expected a port range such as 1-1024, got {part!r}"
            )
        first, last = int(match[1]), int(match[2] or match[1])
        if not 1 <= first <= last <= 65535:
            raise PydanticCustomError(
                "gonogo", f"expected a range within 1-65535, first <= last, got {part!r}"
            )
        ranges.append((first, last))
    return ranges


class PortPolicy(Entry):
    """Which ports of one host answer, seen from where the suite runs (a TCP connect scan)."""

    host: str = Field(min_length=1, description="Host name or IP address; resolved once.")
    open: list[Port] = Field(default_factory=list, description="Ports that must accept.")
    closed: list[Port] = Field(
        default_factory=list,
        description="Ports that must not be reachable (refused or filtered): databases, caches.",
    )
    nothing_else_open_in: Annotated[list[tuple[int, int]] | None, BeforeValidator(port_ranges)] = (
        Field(None, description="Port ranges (e.g. 1-1024) where only `open` ports may accept.")
    )
    timeout_s: Seconds = Field(1.0, description="Per connect; no answer by then is 'filtered'.")
    family: Literal["any", "ipv4", "ipv6"] = "any"

    def _default_label(self) -> str:
        return self.host

    @model_validator(mode="after")
    def _consistent(self) -> PortPolicy:
        both = sorted(set(self.open) & set(self.closed))
        if both:
            raise PydanticCustomError(
                "gonogo", f"ports {both} are listed both as open and as closed"
            )
        if not (self.open or self.closed or self.nothing_else_open_in):
            raise PydanticCustomError(
                "gonogo", "expected at least one of open, closed, nothing_else_open_in"
            )
        return self

    def ports(self) -> list[int]:
        """Every port the scan must ask about."""
        wanted = set(self.open) | set(self.closed)
        for first, last in self.nothing_else_open_in or ():
            wanted.update(range(first, last + 1))
        return sorted(wanted)


class TlsPolicy(Entry):
    """What one TLS endpoint must offer and present; defaults are the documents' policy."""

    url: HttpUrl | None = Field(
        None, description="https://host:port (path ignored), or host:port; default base_url."
    )
    server_name: str | None = Field(None, description="SNI and host-name check; default host.")
    protocols: list[TlsVersion] = Field(
        default_factory=lambda: list(_DIGEST_PROTOCOLS),
        description="Exactly the versions that must be accepted; every other one refused.",
    )
    allow_cbc: bool = Field(False, description="Accept CBC (non-AEAD) TLS 1.2 suites.")
    forward_secrecy: bool = Field(True, description="Every TLS 1.2 suite uses ECDHE/DHE.")
    min_days_left: Annotated[int, Field(ge=0, le=3650)] = 30
    min_rsa_bits: Annotated[int, Field(ge=1024, le=16384)] = 2048
    min_ec_bits: Annotated[int, Field(ge=160, le=571)] = 256
    full_chain: bool = Field(True, description="The intermediates are served with the leaf.")
    ocsp_stapling: bool = Field(False, description="A fresh, good OCSP response is stapled.")
    timeout_s: Seconds | None = None

    def _default_label(self) -> str:
        host, port = self.address()
        return f"{host}:{port}"

    @field_validator("url", mode="before")
    @classmethod
    def _url_or_address(cls, value: Any) -> Any:
        if not isinstance(value, str) or "://" in value or value.startswith("/"):
            return value
        return f"https://{value}"

    @field_validator("url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme != "https":
            raise ValueError("expected an https:// URL or host:port")
        if value is not None:
            _port_of(value)
        return value

    @field_validator("protocols")
    @classmethod
    def _some_protocol(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("expected at least one TLS version to be accepted")
        return value

    def address(self) -> tuple[str, int]:
        """Host and port; only valid once the environment has filled in the URL."""
        parts = urlsplit(self.url or "")
        return parts.hostname or "", _port_of(self.url or "")

    def sni(self) -> str:
        return self.server_name or self.address()[0]


class Hsts(Section):
    """Strict-Transport-Security as the documents set it."""

    min_max_age: Annotated[int, Field(ge=0)] = 31_536_000
    include_subdomains: bool = True
    preload: bool = False


class HeaderPolicy(Entry):
    """Security headers of one response, and a grade in the spirit of the HTTP Observatory."""

    url: HttpUrl = Field("/", description="Where to look; a path is resolved on base_url.")
    expect: dict[str, str] = Field(
        default_factory=lambda: dict(DIGEST_HEADERS),
        description="Headers and the exact value each must have (case-insensitive).",
    )
    hsts: Hsts | None = Field(default_factory=Hsts, description="null: do not judge HSTS.")
    csp: Literal["strict", "present"] | None = Field(
        "strict",
        description="strict: present without unsafe-inline/eval or wildcards; null: not judged.",
    )
    allow_information_leaks: bool = Field(
        False, description="Allow Server with a version, X-Powered-By, X-AspNet-Version."
    )
    min_grade: Grade | None = Field(None, description="Lowest acceptable grade (A+ .. F).")

    def _default_label(self) -> str:
        return self.url


class Redirect(Entry):
    """http:// must send the client to https:// on the same host and path, permanently."""

    url: HttpUrl = Field(description="The http:// URL a client might type.")
    to: HttpUrl | None = Field(
        None, description="Where it must point; default the same host and path on https."
    )
    https_port: Port = Field(443, description="Port of the default https:// target.")
    status: StatusCodes = Field(default_factory=lambda: [301, 308])
    max_hops: Annotated[int, Field(ge=1, le=20)] = 5

    def _default_label(self) -> str:
        return self.url

    def target(self, absolute_url: str) -> str:
        """The URL the redirect must point to."""
        if self.to:
            return self.to
        parts = urlsplit(absolute_url)
        port = "" if self.https_port == 443 else f":{self.https_port}"
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        query = f"?{parts.query}" if parts.query else ""
        return f"https://{host}{port}{parts.path or '/'}{query}"


class CookiePolicy(Entry):
    """Cookies a request gets: Secure, HttpOnly and SameSite as the documents require."""

    name: Name
    request: Request
    cookies: list[str] = Field(
        default_factory=list,
        description="Cookie names that must be set; empty: at least one, and all are judged.",
    )
    secure: bool = True
    http_only: bool = True
    same_site: Literal["Strict", "Lax", "None"] | None = Field(
        "Strict", description="Required SameSite; null: not judged."
    )

    def _default_label(self) -> str:
        return self.name


class Cors(Entry):
    """Cross-origin access: listed origins are allowed, any other origin is not."""

    url: HttpUrl
    allowed_origins: list[str] = Field(min_length=1)
    disallowed_origin: str = Field(
        "https://disallowed.invalid", description="An origin that must be refused."
    )
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"

    def _default_label(self) -> str:
        return self.url

    @field_validator("allowed_origins", "disallowed_origin")
    @classmethod
    def _origin_shape(cls, value: Any) -> Any:
        for origin in value if isinstance(value, list) else [value]:
            parts = urlsplit(origin)
            shaped = parts.scheme in ("http", "https") and parts.hostname and not parts.path
            try:
                check_url_port(origin)
            except ValueError:
                shaped = False
            if origin != "*" and not shaped:
                raise PydanticCustomError(
                    "gonogo",
                    f"expected an origin like https://app.example.com (no path), got {origin!r}",
                )
        return value


class Cache(Section):
    """Cache-Control of static files: the documents' `public, immutable`, one year."""

    directives: list[str] = Field(default_factory=lambda: ["public", "immutable"])
    min_max_age: Annotated[int, Field(ge=0)] | None = 31_536_000


class EndpointBehaviour(Entry):
    """How one URL answers beyond its status: compression, caching, request body limit."""

    url: HttpUrl
    compression: list[Literal["gzip", "br", "deflate", "zstd"]] | None = Field(
        None, description="Encodings offered; the answer must use one of them."
    )
    cache: Cache | None = None
    body_limit_bytes: Annotated[int, Field(ge=1, le=268_435_455)] | None = Field(
        None, description="A body one byte larger must get 413 (not 500, not accepted)."
    )
    body_limit_method: Literal["POST", "PUT", "PATCH"] = "POST"

    def _default_label(self) -> str:
        return self.url

    @model_validator(mode="after")
    def _asks_something(self) -> EndpointBehaviour:
        if self.compression is None and self.cache is None and self.body_limit_bytes is None:
            raise PydanticCustomError(
                "gonogo", "expected at least one of compression, cache, body_limit_bytes"
            )
        return self


class RateLimit(Entry):
    """`limit` requests within `window_s` pass; the next one gets `status` (429)."""

    name: Name
    request: Request
    limit: Annotated[int, Field(ge=1, le=500)]
    window_s: Seconds = 60.0
    status: Annotated[int, Field(ge=400, le=599)] = 429
    margin: Annotated[int, Field(ge=0, le=10)] = Field(
        1, description="Extra requests tolerated (tokens refilled during the burst)."
    )
    allow_on_protected: bool = Field(
        False, description="Run even though the environment is protected."
    )

    def _default_label(self) -> str:
        return self.name

    def most_requests(self) -> int:
        """The hard cap of requests sent: a rate-limit check must never become a load test."""
        return self.limit + 1 + self.margin


class ExposedPath(Entry):
    """A path that must not be served (a 403 or 404, never a 200 or a directory listing)."""

    url: HttpUrl
    status: StatusCodes = Field(default_factory=lambda: [403, 404])

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    def _default_label(self) -> str:
        return self.url


def _port_of(url: str) -> int:
    try:
        port = urlsplit(url).port
    except ValueError as exc:
        raise ValueError(f"{url!r}: {exc}") from None
    if port == 0:
        raise ValueError(f"{url!r}: port 0, expected 1-65535")
    return port or 443
