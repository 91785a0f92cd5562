"""Request limits as facts: what a server answers to a body over its limit, and to a burst.

Knows nothing of pytest or of expectations. Asking about a limit must never become the load
the limit is there to stop, so both probes are bounded in bytes, requests and time: a body is
at most 256 MiB, sent once, and no longer sent once the server answers; a burst is at most
`count` (never more than 1000) requests, one at a time on one connection, ending at the first
limited answer or once its window has passed.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from gonogo.errors import TargetTimeoutError, TargetUnreachableError
from gonogo.probes._connect import Watchdog
from gonogo.probes.http import DEFAULT_MAX_BODY_BYTES, _reason, _tracer, tls_context

__all__ = ["MAX_BODY_BYTES", "MAX_BURST", "BodyLimitFact", "BurstFact", "burst", "oversized_body"]

MAX_BODY_BYTES = 256 * 1024 * 1024
MAX_BURST = 1000
_HEAD_LIMIT = 65_536  # of an answer's status line and headers; the body is never read
# More than a TLS record holds, so no decrypted byte waits unread where a selector can't see it.
_RECV_BYTES = 65_536
_ZEROS = bytes(65_536)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})")


@dataclass(frozen=True)
class BodyLimitFact:
    """What the server answered to a declared body, and how much of it had gone out by then.

    `status` is None when the connection closed or reset before any status line; `detail`
    says so, with the bytes sent. `sent_bytes` counts body bytes handed to the operating
    system, which the server need not have read.
    """

    status: int | None
    sent_bytes: int
    declared_bytes: int
    detail: str
    elapsed_ms: float


@dataclass(frozen=True)
class BurstFact:
    """The status of each request of a burst, in order, and where the limit began."""

    statuses: tuple[int, ...]
    first_limited: int | None  # 1-based position of the first limited answer
    elapsed_s: float
    retry_after: str | None  # Retry-After of the first limited answer, as sent


def oversized_body(
    url: str,
    *,
    size_bytes: int,
    method: str = "POST",
    content_type: str = "application/octet-stream",
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
) -> BodyLimitFact:
    """Declare `size_bytes` in Content-Length and send that many zero bytes, then read the answer.

    The answer is watched for while sending and sending stops once it starts: a server that
    enforces a limit answers (nginx: 413) on reading Content-Length, and would only discard
    the rest. Only the status line and headers are read. Raises TargetUnreachableError when
    no connection or TLS session is made, or nothing answers within `timeout_s` (the whole
    exchange); ValueError for a size above MAX_BODY_BYTES or a malformed method or type.
    """
    if not 0 <= size_bytes <= MAX_BODY_BYTES:
        raise ValueError(f"size_bytes must be 0 to {MAX_BODY_BYTES}, got {size_bytes}")
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"method {method!r} is not an HTTP method name")
    if "\r" in content_type or "\n" in content_type:
        raise ValueError(f"content_type {content_type!r} would break the request head")
    target = httpx.URL(url)
    if target.scheme not in ("http", "https"):
        raise ValueError(f"{url}: only http and https URLs can be probed")
    head = (
        f"{method} {target.raw_path.decode('ascii')} HTTP/1.1\r\n"
        f"Host: {target.netloc.decode('ascii')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {size_bytes}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    with (
        _connect(target, timeout_s, deadline, tls, f"{method} {url}") as sock,
        selectors.DefaultSelector() as selector,
    ):
        upload = _Upload(sock, selector, deadline)
        try:
            upload.send(head, size_bytes)
            upload.read_head()
        except TimeoutError:
            raise TargetTimeoutError(
                f"{method} {url}: no answer within {timeout_s:g} s "
                f"(sent {upload.body_sent(head)} of {size_bytes} body bytes)"
            ) from None
    sent = upload.body_sent(head)
    progress = f"after sending {sent} of {size_bytes} body bytes"
    line = upload.received.split(b"\r\n", 1)[0][:200].decode("latin-1")
    status = _STATUS_LINE.match(upload.received)
    if status:
        detail = f"answered {line!r} {progress}"
    elif upload.received:
        detail = f"answered with something that is not HTTP ({line!r}) {progress}"
    else:
        detail = f"connection {upload.ended} {progress}, before any answer"
    return BodyLimitFact(
        status=int(status.group(1)) if status else None,
        sent_bytes=sent,
        declared_bytes=size_bytes,
        detail=detail,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def burst(
    url: str,
    *,
    count: int,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
    limited_status: int = 429,
    within_s: float,
) -> BurstFact:
    """Send up to `count` requests one after another on one keep-alive connection (another
    only if the server closes it).

    Stops at the first `limited_status` answer, and sends no request once `within_s` (the
    window the limit counts in) has passed since the first: enough to see a limit, never a
    load test. `timeout_s` bounds each whole request. Raises TargetUnreachableError when a
    request gets no answer, saying how many had been answered; ValueError for a count
    above MAX_BURST.
    """
    if not 1 <= count <= MAX_BURST:
        raise ValueError(f"count must be 1 to {MAX_BURST}, got {count}")
    if within_s <= 0:
        raise ValueError(f"within_s must be positive, got {within_s}")
    content = None if json_body is None else json.dumps(json_body).encode()
    request_headers = dict(headers or {})
    if content is not None:
        request_headers.setdefault("content-type", "application/json")
    statuses: list[int] = []
    retry_after = None
    started = time.monotonic()
    # One connection at most: the limit is asked about by one client, as a client would.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with (
        httpx.Client(
            verify=tls or tls_context(None), timeout=timeout_s, limits=limits, trust_env=False
        ) as client,
        Watchdog() as watchdog,  # httpx times each read: a trickle of bytes would never trip it
    ):
        while len(statuses) < count and time.monotonic() - started < within_s:
            deadline = time.monotonic() + timeout_s
            watchdog.arm(timeout_s)
            try:
                with client.stream(
                    method,
                    url,
                    headers=request_headers,
                    content=content,
                    extensions={"trace": _tracer(watchdog)},
                ) as response:
                    _drain(response, deadline)
            except httpx.HTTPError as exc:
                late = watchdog.fired or isinstance(exc, httpx.TimeoutException)
                reason = (
                    f"no complete answer within {timeout_s:g} s"
                    if late and not isinstance(exc, httpx.ConnectTimeout)
                    else _reason(exc, timeout_s)
                )
                error = TargetTimeoutError if late else TargetUnreachableError
                raise error(
                    f"{method} {url}: request {len(statuses) + 1} of a burst of {count}: "
                    f"{reason} ({len(statuses)} answered before it)"
                ) from None
            finally:
                watchdog.disarm()
            statuses.append(response.status_code)
            if response.status_code == limited_status:
                retry_after = response.headers.get("retry-after")
                break
    limited = statuses[-1:] == [limited_status]
    return BurstFact(
        statuses=tuple(statuses),
        first_limited=len(statuses) if limited else None,
        elapsed_s=time.monotonic() - started,
        retry_after=retry_after,
    )


def _drain(response: httpx.Response, deadline: float) -> None:
    """Read the body away so the connection can carry the next request.

    A body over the cap is left unread; closing it drops the connection, and the next
    request opens another.
    """
    drained = 0
    for chunk in response.iter_raw():
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("answer not complete within the deadline")
        drained += len(chunk)
        if drained > DEFAULT_MAX_BODY_BYTES:
            return


def _connect(
    target: httpx.URL, timeout_s: float, deadline: float, tls: ssl.SSLContext | None, what: str
) -> socket.socket:
    """A connected socket, TLS-wrapped for https with SNI = the URL's host."""
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except TimeoutError:
        raise TargetTimeoutError(
            f"{what}: no connection within {timeout_s:g} s (host down or port filtered?)"
        ) from None
    except ConnectionRefusedError:
        raise TargetUnreachableError(f"{what}: connection refused (nothing listening?)") from None
    except socket.gaierror:
        raise TargetUnreachableError(f"{what}: host name does not resolve") from None
    except OSError as exc:
        raise TargetUnreachableError(f"{what}: cannot connect ({exc.strerror or exc})") from None
    # The head and the body go out as separate writes; with Nagle's algorithm the second would
    # wait for the server's delayed ACK, some 40 ms, on every probe.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if target.scheme == "http":
        return sock
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        return (tls or tls_context(None)).wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        reason = f"TLS certificate rejected: {exc.verify_message}"
    except ssl.SSLError as exc:
        reason = f"TLS handshake failed: {exc.reason or exc}"
    except TimeoutError:
        reason = f"no TLS answer within {timeout_s:g} s (not a TLS port?)"
    except OSError as exc:
        reason = f"connection failed during the TLS handshake ({exc.strerror or exc})"
    sock.close()
    raise TargetUnreachableError(f"{what}: {reason}")


class _Upload:
    """One request on a non-blocking socket: written while watching for the answer's head.

    A selector, not select(): a process that also scans ports can hold descriptors beyond
    select's limit of 1024.
    """

    def __init__(
        self, sock: socket.socket, selector: selectors.BaseSelector, deadline: float
    ) -> None:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        self.sock = sock
        self.selector = selector
        self.deadline = deadline
        self.written = 0  # request bytes, head included
        self.received = b""
        self.ended = ""  # how the connection ended, once it has
        self.eof = False  # nothing more will arrive

    def body_sent(self, head: bytes) -> int:
        return max(self.written - len(head), 0)

    def send(self, head: bytes, size: int) -> None:
        """Write head and body until done, or until the server answers or hangs up."""
        total = len(head) + size
        while self.written < total:
            readable, writable = self._wait()
            if readable and self._receive():
                return
            if not writable:
                continue
            offset = self.written
            # A retry after SSLWantWrite must offer the same bytes again: the same offset does.
            if offset < len(head):
                piece = head[offset:]
            else:
                piece = _ZEROS[: min(len(_ZEROS), total - offset)]
            try:
                self.written += self.sock.send(piece)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                continue
            except OSError as exc:
                # An answer may already be waiting in our buffer; read_head finds it or not.
                self.ended = _ending(exc)
                return

    def read_head(self) -> None:
        """Read until the end of the answer's headers, the cap, or the end of the connection."""
        self.selector.modify(self.sock, selectors.EVENT_READ)
        while (
            not self.eof and b"\r\n\r\n" not in self.received and len(self.received) < _HEAD_LIMIT
        ):
            readable, _ = self._wait()
            if readable:
                self._receive()

    def _wait(self) -> tuple[bool, bool]:
        """Whether the socket is readable, writable; TimeoutError once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready = self.selector.select(left)
        events = ready[0][1] if ready else 0
        return bool(events & selectors.EVENT_READ), bool(events & selectors.EVENT_WRITE)

    def _receive(self) -> bool:
        """Take what arrived; False when it was only TLS housekeeping (a session ticket)."""
        try:
            data = self.sock.recv(_RECV_BYTES)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except OSError as exc:
            self.eof, self.ended = True, self.ended or _ending(exc)
            return True
        if not data:
            self.eof, self.ended = True, self.ended or "closed by the server"
            return True
        self.received += data
        return True


def _ending(exc: OSError) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset by the server"
    if isinstance(exc, BrokenPipeError):
        return "closed by the server"
    return f"failed ({exc.strerror or exc})"
