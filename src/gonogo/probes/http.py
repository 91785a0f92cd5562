"""HTTP(S) requests as facts: status, headers, a capped body and the time it took.

Knows nothing of pytest or of expectations. Every request has a deadline for the whole
exchange, not only per socket operation, so a server trickling bytes cannot stall a run.
"""

from __future__ import annotations

import json
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from gonogo.errors import TargetUnreachableError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpResponse", "fetch", "merged_headers", "tls_context"]

DEFAULT_MAX_BODY_BYTES = 1_048_576


@dataclass(frozen=True)
class HttpResponse:
    """What the server answered; `body` holds at most the cap, `truncated` says if more came."""

    method: str
    url: str
    status: int
    reason: str
    http_version: str
    headers: dict[str, str] = field(repr=False)  # Set-Cookie may carry a session
    body: bytes = field(repr=False)  # messages show excerpt(); a repr could split a secret
    truncated: bool
    elapsed_ms: float
    # Each Set-Cookie on its own: joined with commas they could not be told apart (Expires).
    set_cookies: tuple[str, ...] = field(default=(), repr=False)
    _json: list[Any] = field(default_factory=list, repr=False, compare=False)

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError saying why it is not."""
        if not self._json:
            if self.truncated:
                raise ValueError(f"body exceeds {len(self.body)} bytes; not parsed")
            try:
                self._json.append(json.loads(self.body))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"body is not JSON ({exc})") from None
        return self._json[0]

    def excerpt(self, limit: int = 200) -> str:
        """The start of the body on one line, for messages."""
        text = " ".join(self.body[: limit * 2].decode("utf-8", errors="replace").split())
        more = len(text) > limit or len(self.body) > limit * 2 or self.truncated
        return text[:limit] + ("..." if more else "")


@lru_cache(maxsize=16)
def tls_context(ca_file: Path | None, verify: bool = True) -> ssl.SSLContext:
    """One context per CA file: loading a trust store costs milliseconds, so it is shared."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> HttpResponse:
    """Send one request without following redirects; raise TargetUnreachableError on no answer.

    The body is `json_body` encoded as JSON, or `content` sent as given (its content-type
    header is the caller's to set).
    """
    deadline = time.monotonic() + timeout_s
    request_headers = dict(headers or {})
    if json_body is not None:
        content = json.dumps(json_body).encode()
        request_headers.setdefault("content-type", "application/json")
    started = time.perf_counter()
    try:
        with (
            httpx.Client(verify=tls or tls_context(None), timeout=timeout_s) as client,
            client.stream(method, url, headers=request_headers, content=content) as response,
        ):
            body = bytearray()
            truncated = False
            for chunk in response.iter_raw():
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("body not complete within the deadline")
                room = max_body_bytes - len(body)
                body += chunk[:room]
                if len(chunk) > room:
                    truncated = True
                    break
            elapsed_ms = (time.perf_counter() - started) * 1000
            return HttpResponse(
                method=method,
                url=url,
                status=response.status_code,
                reason=response.reason_phrase,
                http_version=response.http_version,
                headers={k.lower(): v for k, v in _joined(response.headers).items()},
                body=_decoded(
                    bytes(body), response.headers.get("content-encoding", ""), max_body_bytes
                ),
                truncated=truncated,
                elapsed_ms=elapsed_ms,
                set_cookies=tuple(response.headers.get_list("set-cookie")),
            )
    except httpx.HTTPError as exc:
        raise TargetUnreachableError(f"{method} {url}: {_reason(exc, timeout_s)}") from None
    except (httpx.InvalidURL, UnicodeError) as exc:  # an unusable URL, or Location answered
        raise TargetUnreachableError(f"{method} {url}: invalid URL ({exc})") from None


def merged_headers(base: Mapping[str, str], override: Mapping[str, str]) -> dict[str, str]:
    """Header names compare case-insensitively; the override's spelling and value win, and an
    empty value removes the header (how a request says "without the default Authorization")."""
    merged = {name.lower(): (name, value) for name, value in base.items()}
    merged |= {name.lower(): (name, value) for name, value in override.items()}
    return {name: value for name, value in merged.values() if value != ""}


def _joined(headers: httpx.Headers) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in headers.multi_items():
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def _decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo gzip/deflate so checks see the document; a corrupt stream is kept as sent."""
    if encoding.strip().lower() not in ("gzip", "deflate"):
        return body
    try:
        return zlib.decompressobj(wbits=47).decompress(body, limit)
    except zlib.error:
        return body


def _reason(exc: httpx.HTTPError, timeout_s: float) -> str:
    """Name the failure the way an operator would look for it."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {timeout_s:g} s (host down or port filtered?)"
    if isinstance(exc, httpx.TimeoutException):
        return f"no complete answer within {timeout_s:g} s"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing listening?)"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name does not resolve"
    return f"{type(exc).__name__}: {text or 'no detail'}"
