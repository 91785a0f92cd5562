"""The TCP connect every TLS-speaking probe starts with, and its failures in operator words;
and the watchdog that holds a library's exchange to a deadline its own timeouts do not keep.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from types import TracebackType

from gonogo.errors import TargetTimeoutError, TargetUnreachableError

__all__ = ["NOT_TLS", "Watchdog", "connect"]

# What OpenSSL says when the first bytes back cannot be a TLS record at all.
NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
    }
)


def connect(host: str, port: int, timeout_s: float, where: object) -> socket.socket:
    """A connected socket, or TargetUnreachableError naming `where` and what went wrong."""
    try:
        return socket.create_connection((host, port), timeout=timeout_s)
    except ConnectionRefusedError:
        raise TargetUnreachableError(f"{where}: connection refused (nothing listening?)") from None
    except socket.gaierror as exc:
        raise TargetUnreachableError(
            f"{where}: host name {host} does not resolve ({exc.strerror or exc})"
        ) from None
    except TimeoutError:
        raise TargetTimeoutError(
            f"{where}: no connection within {timeout_s:g} s (host down or port filtered?)"
        ) from None
    except OSError as exc:
        raise TargetUnreachableError(f"{where}: cannot connect ({exc.strerror or exc})") from None


class Watchdog:
    """Ends an exchange at its deadline, whichever library drives it.

    Client libraries time each socket operation (httpx, redis-py) or nothing after the
    connect (libpq), so a server sending a byte now and then, or nothing after the
    handshake, holds a probe for as long as it likes. `watch` each connection the exchange
    opens (a duplicate is kept; the latest replaces the one before) and `arm` the clock: at
    the deadline a timer shuts the connection down, which wakes any read, write or TLS
    handshake blocked on it (shutdown acts on the connection, not on one descriptor). The
    library then raises some error of its own, and `fired` says it was the deadline.
    """

    def __init__(self) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer: threading.Timer | None = None
        self._armed = 0  # which arm() the running timer belongs to

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def arm(self, timeout_s: float) -> None:
        """Start the clock for the next exchange (a running one is cancelled)."""
        with self._lock:
            self._disarm_locked()
            self.fired = False
            self._armed += 1
            self._timer = threading.Timer(timeout_s, self._fire, args=(self._armed,))
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        """The exchange ended in time, or failed by itself: the timer must not fire."""
        with self._lock:
            self._disarm_locked()

    def watch(self, sock: socket.socket) -> None:
        """Shut this connection down at the deadline (at once if it has passed)."""
        self.watch_descriptor(sock.fileno())

    def watch_descriptor(self, descriptor: int) -> None:
        """The same for a connection a library holds only as a descriptor (libpq)."""
        watched = socket.socket(fileno=os.dup(descriptor))
        with self._lock:
            if self._socket is not None:
                self._socket.close()
            self._socket = watched
            if self.fired:
                self._shut()

    def close(self) -> None:
        """Stop the clock and let go of the connection."""
        with self._lock:
            self._disarm_locked()
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def _disarm_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, armed: int) -> None:
        with self._lock:
            if armed != self._armed or self._timer is None:
                return  # disarmed, or armed again for a later exchange, meanwhile
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
