"""Hostile targets on 127.0.0.1: servers that misbehave on purpose, the way broken deployments do.

A gate runs exactly when things are broken, so the robustness tests point the suite at these.
Each server is a context manager that yields itself (`.port`, `.url`). Its threads are daemons,
every wait in them is bounded by a short socket timeout and a stop event, a server stops
accepting after `lifetime_s` even if never closed, and leaving the block stops accepting,
shuts every connection down and joins every thread.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
LIFETIME_S = 120.0  # no server outlives this, whatever the test does
_TICK_S = 0.05  # how often a waiting thread looks at the stop event
_HEAD_LIMIT = 65_536  # of a request read by a handler, head and body

Handler = Callable[[socket.socket, "Stop"], None]


class Stop:
    """When a connection's handler must give up: the server closed, or its lifetime is over."""

    def __init__(self, event: threading.Event, deadline: float) -> None:
        self._event = event
        self._deadline = deadline

    def is_set(self) -> bool:
        return self._event.is_set() or time.monotonic() >= self._deadline

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds` or until stopped; True when stopped."""
        left = min(seconds, self._deadline - time.monotonic())
        return self._event.wait(max(left, 0)) or self.is_set()


class HostileServer:
    """A TCP (or TLS, given `tls`) server on a free loopback port; each connection is handed to
    `handle` on its own daemon thread, after the TLS handshake when there is one."""

    def __init__(
        self,
        handle: Handler,
        *,
        tls: ssl.SSLContext | None = None,
        lifetime_s: float = LIFETIME_S,
    ) -> None:
        self._handle = handle
        self._tls = tls
        self._listener = socket.create_server((HOST, 0), backlog=64)
        self._listener.settimeout(_TICK_S)
        self.port: int = self._listener.getsockname()[1]
        self._event = threading.Event()
        self._stop = Stop(self._event, time.monotonic() + lifetime_s)
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{HOST}:{self.port}"

    def __enter__(self) -> HostileServer:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._event.set()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:  # wakes a handler blocked in send or recv
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        stuck = [thread.name for thread in threads if thread.is_alive()]
        self._listener.close()
        assert not stuck, f"hostile server threads did not stop: {stuck}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(
                target=self._serve, args=(connection,), name="hostile-conn", daemon=True
            )
            with self._lock:
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(_TICK_S)
            if self._tls is None:
                self._handle(connection, self._stop)
                return
            connection.settimeout(2)  # a handshake needs no more on loopback
            with self._tls.wrap_socket(connection, server_side=True) as secured:
                with self._lock:
                    self._connections.append(secured)
                secured.settimeout(_TICK_S)
                self._handle(secured, self._stop)
        except (OSError, ssl.SSLError):
            pass  # the client went away, or failed its handshake: nothing to serve
        finally:
            connection.close()


# --- what a connection gets -------------------------------------------------------------------


def read_request(connection: socket.socket, stop: Stop) -> bytes:
    """The request's head and its body (as much as Content-Length says, within 64 KiB in all):
    read so that closing does not reset the connection over unread bytes. b"" when no head
    came within 5 s."""
    data = b""
    deadline = time.monotonic() + 5
    while len(data) < _HEAD_LIMIT:
        head, blank, body = data.partition(b"\r\n\r\n")
        if blank and len(body) >= min(_content_length(head), _HEAD_LIMIT):
            break
        if stop.is_set() or time.monotonic() > deadline:
            return data if blank else b""
        try:
            chunk = connection.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return data


def read_some(connection: socket.socket, stop: Stop) -> bytes:
    """The first bytes the client sends (b"" when none within 5 s)."""
    deadline = time.monotonic() + 5
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            return connection.recv(_HEAD_LIMIT)
        except TimeoutError:
            continue
    return b""


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return 0


def send(connection: socket.socket, data: bytes, stop: Stop) -> bool:
    """All of `data` unless stopped or the client went away; False then."""
    view = memoryview(data)
    while view:
        if stop.is_set():
            return False
        try:
            sent = connection.send(view)
        except (TimeoutError, ssl.SSLWantWriteError):
            continue
        except OSError:
            return False
        view = view[sent:]
    return True


def silent(connection: socket.socket, stop: Stop) -> None:
    """Accept, then say nothing, ever."""
    stop.wait(LIFETIME_S)


def trickle(payload: bytes, interval_s: float = 1.0) -> Handler:
    """Answer `payload` one byte per `interval_s` (every read gets a byte before it times out),
    starting as soon as the client has said anything, in whatever protocol."""

    def handle(connection: socket.socket, stop: Stop) -> None:
        if not read_some(connection, stop):
            return
        for offset in range(len(payload)):
            if stop.wait(interval_s) or not send(connection, payload[offset : offset + 1], stop):
                return

    return handle


def reset_midway(partial: bytes, pause_s: float = 0.2) -> Handler:
    """Send the start of an answer, wait for the client to read it, then reset (RST)."""

    def handle(connection: socket.socket, stop: Stop) -> None:
        if not read_request(connection, stop) or not send(connection, partial, stop):
            return
        stop.wait(pause_s)
        # SO_LINGER on with a zero timeout: close() sends RST instead of FIN.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return handle


def garbage_instead_of_tls(connection: socket.socket, stop: Stop) -> None:
    """Read the ClientHello and answer bytes that are no TLS record at all, then nothing."""
    read_some(connection, stop)
    send(connection, b"\x9e\x13garbage, not a ServerHello\r\n" * 8, stop)
    stop.wait(LIFETIME_S)


def answer(head: bytes, body: bytes = b"") -> Handler:
    """Read the request, send `head` and `body` as given, then close."""

    def handle(connection: socket.socket, stop: Stop) -> None:
        if read_request(connection, stop):
            send(connection, head + body, stop)

    return handle


def endless(head: bytes, chunk: bytes, interval_s: float = 0.0) -> Handler:
    """Send `head`, then `chunk` again and again (every `interval_s`), until the client leaves."""

    def handle(connection: socket.socket, stop: Stop) -> None:
        if not read_request(connection, stop) or not send(connection, head, stop):
            return
        while send(connection, chunk, stop):
            if interval_s and stop.wait(interval_s):
                return

    return handle


def redirect_loop(connection: socket.socket, stop: Stop) -> None:
    """/loop-a sends to /loop-b and everything else to /loop-a, permanently."""
    head = read_request(connection, stop)
    if not head:
        return
    path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
    target = b"/loop-b" if path == b"/loop-a" else b"/loop-a"
    send(
        connection,
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: " + target + b"\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n",
        stop,
    )


_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104


def _startup_message(connection: socket.socket, stop: Stop) -> bytes:
    """A PostgreSQL client's first length-prefixed message, or b"" when none came whole."""
    data = b""
    deadline = time.monotonic() + 5
    while not stop.is_set() and time.monotonic() < deadline:
        if len(data) >= 4 and len(data) >= struct.unpack("!I", data[:4])[0]:
            return data[: struct.unpack("!I", data[:4])[0]]
        try:
            chunk = connection.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            return b""
        data += chunk
    return b""


def postgres_login_then_silence(connection: socket.socket, stop: Stop) -> None:
    """Refuse TLS ('N'), log anyone in without a password and say ready, then answer no query:
    an overloaded pgbouncer waiting for a server connection looks like this to a client."""
    while True:
        message = _startup_message(connection, stop)
        if len(message) < 8:
            return
        if struct.unpack("!I", message[4:8])[0] not in (_SSL_REQUEST, _GSSENC_REQUEST):
            break
        if not send(connection, b"N", stop):
            return
    version = b"server_version\x0016.0\x00"
    ready = (
        b"R" + struct.pack("!II", 8, 0),  # AuthenticationOk
        b"S" + struct.pack("!I", 4 + len(version)) + version,  # ParameterStatus
        b"K" + struct.pack("!III", 12, 1, 2),  # BackendKeyData
        b"Z" + struct.pack("!I", 5) + b"I",  # ReadyForQuery, idle
    )
    send(connection, b"".join(ready), stop)
    stop.wait(LIFETIME_S)


# --- ready-made targets -----------------------------------------------------------------------

INVALID_JSON = b'{"status": "ok", "access_token": "abc'  # cut off: no closing quote nor brace
ONE_MEBIBYTE = 1024 * 1024
TEN_GIGABYTES = 10 * 1024**3


def _head(status: str, *fields: str) -> bytes:
    return ("\r\n".join((f"HTTP/1.1 {status}", *fields)) + "\r\n\r\n").encode("latin-1")


def silent_server() -> HostileServer:
    """Accepts and never answers."""
    return HostileServer(silent)


def trickling_server(interval_s: float = 1.0) -> HostileServer:
    """A complete, valid JSON answer, one byte per `interval_s`, status line first."""
    body = b'{"status": "ok"}'
    head = _head(
        "200 OK",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    )
    return HostileServer(trickle(head + body, interval_s))


def resetting_server() -> HostileServer:
    """Headers and the first bytes of a 1000-byte JSON body, then a reset."""
    head = _head("200 OK", "Content-Type: application/json", "Content-Length: 1000")
    return HostileServer(reset_midway(head + b'{"status": "o'))


def garbage_tls_server() -> HostileServer:
    """Answers a ClientHello with garbage."""
    return HostileServer(garbage_instead_of_tls)


def stalling_tls_server(context: ssl.SSLContext) -> HostileServer:
    """Completes the TLS handshake (see `server_context`), then never says a word."""
    return HostileServer(silent, tls=context)


def postgres_stalling_server() -> HostileServer:
    """A PostgreSQL server that logs clients in and then never answers a query."""
    return HostileServer(postgres_login_then_silence)


def endless_body_server() -> HostileServer:
    """200 with a chunked JSON body that never ends, as fast as the client reads."""
    piece = b'"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ' * 800
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    head = _head("200 OK", "Content-Type: application/json", "Transfer-Encoding: chunked")
    opening = b'{"list": ['
    opening = f"{len(opening):x}\r\n".encode() + opening + b"\r\n"
    return HostileServer(endless(head + opening, chunk))


def huge_headers_server(size: int = ONE_MEBIBYTE) -> HostileServer:
    """200 whose header block is `size` bytes of filler fields, then a small JSON body."""
    line = "X-Filler: " + "f" * 100
    fields = [line] * (size // (len(line) + 2))
    head = _head("200 OK", "Content-Type: application/json", "Content-Length: 2", *fields)
    return HostileServer(answer(head, b"{}"))


def huge_length_server(interval_s: float = 0.0) -> HostileServer:
    """Declares a 10 GB body and sends zeros, endlessly (every `interval_s` if given)."""
    head = _head("200 OK", "Content-Type: application/json", f"Content-Length: {TEN_GIGABYTES}")
    return HostileServer(endless(head, bytes(65536 if not interval_s else 1024), interval_s))


def redirect_loop_server() -> HostileServer:
    """301 from /loop-a to /loop-b and back, on plain HTTP."""
    return HostileServer(redirect_loop)


def invalid_json_server() -> HostileServer:
    """200, Content-Type application/json, a body that is not JSON, on every path."""
    head = _head(
        "200 OK",
        "Content-Type: application/json",
        f"Content-Length: {len(INVALID_JSON)}",
        "Set-Cookie: session=abc123def456; Path=/",
        "Connection: close",
    )
    return HostileServer(answer(head, INVALID_JSON))


SECURITY_HEADERS = (
    "Strict-Transport-Security: max-age=31536000; includeSubDomains",
    "X-Frame-Options: DENY",
    "X-Content-Type-Options: nosniff",
    "X-XSS-Protection: 1; mode=block",
    "Referrer-Policy: strict-origin-when-cross-origin",
    "Content-Security-Policy: default-src 'self'",
)
OPENAPI_DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "well-behaved", "version": "1"},
    "paths": {
        "/health/live": {
            "get": {
                "operationId": "live",
                "responses": {
                    "200": {
                        "description": "alive",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status"],
                                    "properties": {"status": {"type": "string"}},
                                }
                            }
                        },
                    }
                },
            }
        }
    },
}
_ROUTES: dict[str, tuple[str, object, tuple[str, ...]]] = {
    "/": ("200 OK", {"status": "ok"}, ()),
    "/health": ("200 OK", {"status": "ok"}, ()),
    "/health/live": ("200 OK", {"status": "ok"}, ()),
    "/login": (
        "200 OK",
        {"status": "ok"},
        ("Set-Cookie: session=s-0123456789; Path=/; Secure; HttpOnly; SameSite=Strict",),
    ),
    "/api/v1/login": ("200 OK", {"access_token": "tok-0123456789", "token_type": "bearer"}, ()),
    "/api/v1/me": ("200 OK", {"name": "ci"}, ()),
    "/openapi.json": ("200 OK", OPENAPI_DOCUMENT, ()),
}


def route(connection: socket.socket, stop: Stop) -> None:
    """A well-behaved JSON service: the paths in _ROUTES, a 404 elsewhere, with every
    security header, promptly and completely."""
    request = read_request(connection, stop)
    if not request:
        return
    parts = request.split(b" ", 2)
    path = parts[1].decode("latin-1").split("?")[0] if len(parts) > 2 else "/"
    status, document, extra = _ROUTES.get(path, ("404 Not Found", {"detail": "not found"}, ()))
    body = json.dumps(document).encode()
    head = _head(
        status,
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *SECURITY_HEADERS,
        *extra,
    )
    send(connection, head + body, stop)


def well_behaved_server(tls: ssl.SSLContext | None = None) -> HostileServer:
    """The baseline every hostile target is measured against: see `route`."""
    return HostileServer(route, tls=tls)


def server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2 and 1.3, AEAD suites with forward secrecy only: what the TLS checks ask for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.load_cert_chain(certificate, key)
    return context
