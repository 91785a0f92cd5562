"""HTTP(S) requests as facts: status, headers, a capped body and the time it took.

Knows nothing of pytest or of expectations. Every request has a deadline for the whole
exchange, headers and body, not only per socket operation, so a server trickling bytes
cannot stall a run, and a body that never ends is no answer; only its start is kept.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpcore
import httpx

from gonogo.errors import TargetTimeoutError, TargetUnreachableError
from gonogo.probes._connect import NOT_TLS, Watchdog

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpResponse", "fetch", "merged_headers", "tls_context"]

DEFAULT_MAX_BODY_BYTES = 1_048_576
_Trace = Callable[[str, dict[str, Any]], None]
# httpcore gives up on an answer whose head grows past this without ending.
_HEAD_LIMIT: int = getattr(httpcore.HTTP11Connection, "MAX_INCOMPLETE_EVENT_SIZE", 102_400)


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
    """Send one request without following redirects; raise TargetUnreachableError on no answer,
    TargetTimeoutError when no complete answer came within `timeout_s`.

    The body is `json_body` encoded as JSON, or `content` sent as given (its content-type
    header is the caller's to set). The answer's body is read to its end, so one that never
    ends is no answer; only its first `max_body_bytes` are kept.
    """
    request_headers = dict(headers or {})
    if json_body is not None:
        content = json.dumps(json_body).encode()
        request_headers.setdefault("content-type", "application/json")
    progress = _Progress()
    watchdog = Watchdog()  # httpx times each read: a trickle of bytes would never trip it
    watchdog.arm(timeout_s)
    deadline = time.monotonic() + timeout_s
    started = time.perf_counter()
    try:
        with (
            httpx.Client(
                verify=tls or tls_context(None), timeout=timeout_s, trust_env=False
            ) as client,
            client.stream(
                method,
                url,
                headers=request_headers,
                content=content,
                extensions={"trace": _tracer(watchdog, progress)},
            ) as response,
        ):
            progress.head, progress.declared = True, response.headers.get("content-length")
            body = bytearray()
            for chunk in response.iter_raw():
                progress.received += len(chunk)
                if len(body) < max_body_bytes:
                    body += chunk[: max_body_bytes - len(body)]
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("body not complete within the deadline")
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
                truncated=progress.received > max_body_bytes,
                elapsed_ms=elapsed_ms,
                set_cookies=tuple(response.headers.get_list("set-cookie")),
            )
    except httpx.HTTPError as exc:
        if watchdog.fired or isinstance(exc, httpx.TimeoutException):
            # httpx calls a stalled TLS handshake a connect timeout too; it is not one.
            connecting = isinstance(exc, httpx.ConnectTimeout) and not progress.handshaking
            reason = (
                _reason(exc, timeout_s)
                if connecting
                else f"no complete answer within {timeout_s:g} s{progress.late()}"
            )
            raise TargetTimeoutError(f"{method} {url}: {reason}") from None
        raise TargetUnreachableError(
            f"{method} {url}: {_reason(exc, timeout_s)}{progress}"
        ) from None
    except (httpx.InvalidURL, UnicodeError) as exc:  # an unusable URL, or Location answered
        raise TargetUnreachableError(f"{method} {url}: invalid URL ({exc})") from None
    finally:
        watchdog.close()


class _Progress:
    """How far an exchange got, for the message when it ends early."""

    def __init__(self) -> None:
        self.handshaking = False  # a TLS handshake started and has not finished
        self.head = False  # the status line and headers are in
        self.declared: str | None = None  # their Content-Length
        self.received = 0  # body bytes, as sent (before any decompression)

    def late(self) -> str:
        """Where the deadline struck."""
        if self.handshaking:
            return " (the TLS handshake had not completed)"
        return str(self) or " (the status line and headers had not all arrived)"

    def __str__(self) -> str:
        if not self.head:
            return ""
        declared = f"; Content-Length {self.declared}" if self.declared is not None else ""
        return f" (after the headers and {_size(self.received)}{declared})"


def _size(count: int) -> str:
    if count < 10_000:
        return f"{count} body bytes"
    if count < 10_000_000:
        return f"{count / 1024:.0f} KiB of the body"
    return f"{count / 1024**2:.0f} MiB of the body"


def _tracer(watchdog: Watchdog, progress: _Progress | None = None) -> _Trace:
    """httpcore's "trace" request extension: hands each new connection's socket to the
    watchdog, and notes in `progress` whether a TLS handshake is under way."""

    def trace(event: str, info: dict[str, Any]) -> None:
        if progress is not None and event.startswith("connection.start_tls."):
            if event.endswith(".started"):
                progress.handshaking = True
            elif event.endswith(".complete"):
                progress.handshaking = False
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            raw = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(raw, socket.socket):
                watchdog.watch(raw)

    return trace


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
            reason = cause.reason or str(cause)
            if reason in NOT_TLS:
                return (
                    f"TLS handshake failed: the answer is not TLS "
                    f"({reason.lower().replace('_', ' ')}); "
                    "plain HTTP or another protocol on this port?"
                )
            return f"TLS handshake failed: {reason}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing listening?)"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, socket.gaierror):
            return f"host name does not resolve ({cause.strerror or cause})"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name does not resolve"
    if "Receive buffer too long" in text:  # h11: the status line and headers never ended
        return (
            f"status line and headers exceed {_HEAD_LIMIT // 1024} KiB "
            "(the limit of httpx and of most clients); answer not read"
        )
    if "without sending a response" in text:
        return "connection closed by the server before any answer"
    if "peer closed connection without sending complete message body" in text:
        return "connection closed by the server before the end of the body"
    return f"{type(exc).__name__}: {text or 'no detail'}"
