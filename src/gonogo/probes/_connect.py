"""The TCP connect every TLS-speaking probe starts with, and its failures in operator words."""

from __future__ import annotations

import socket

from gonogo.errors import TargetUnreachableError

__all__ = ["connect"]


def connect(host: str, port: int, timeout_s: float, where: object) -> socket.socket:
    """A connected socket, or TargetUnreachableError naming `where` and what went wrong."""
    try:
        return socket.create_connection((host, port), timeout=timeout_s)
    except ConnectionRefusedError:
        raise TargetUnreachableError(f"{where}: connection refused (nothing listening?)") from None
    except TimeoutError:
        raise TargetUnreachableError(
            f"{where}: no connection within {timeout_s:g} s (host down or port filtered?)"
        ) from None
    except OSError as exc:
        raise TargetUnreachableError(f"{where}: cannot connect ({exc.strerror or exc})") from None
