"""RabbitMQ: open an AMQP connection to the vhost and a channel on it; optionally ask the
management API's aliveness test, which declares, publishes to and consumes from a queue.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gonogo.environment_dependencies import Dependency
from gonogo.errors import TargetUnreachableError
from gonogo.probes._dependency_facts import DependencyFacts, Stopwatch, scrub, unreachable
from gonogo.probes.http import fetch, tls_context

__all__ = ["probe_rabbitmq"]

_GUEST = "guest"  # what a broker and pika assume when the URL names nobody


def probe_rabbitmq(
    dependency: Dependency, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """One connection attempt, every stage of it bounded by `timeout_s`."""
    import pika
    from pika.adapters.utils.connection_workflow import AMQPConnectorException
    from pika.exceptions import AMQPError

    # A handshake timeout is only an AMQPConnectorException; a TLS failure comes through raw.
    failures = (AMQPError, AMQPConnectorException, OSError)
    vhost = dependency.path or "/"
    ssl_options = (
        pika.SSLOptions(tls_context(ca_file, verify_tls), server_hostname=dependency.host)
        if dependency.tls
        else None
    )
    parameters = pika.ConnectionParameters(
        host=dependency.host,
        port=dependency.port,
        virtual_host=vhost,
        credentials=pika.PlainCredentials(
            dependency.username or _GUEST, dependency.secret or _GUEST
        ),
        ssl_options=ssl_options,
        socket_timeout=timeout_s,
        blocked_connection_timeout=timeout_s,
        stack_timeout=timeout_s,
        connection_attempts=1,
        retry_delay=0,
        client_properties={"connection_name": "gonogo"},
    )
    watch = Stopwatch()
    try:
        connection = pika.BlockingConnection(parameters)
    except failures as exc:
        raise unreachable(dependency, _amqp_reason(exc, vhost, timeout_s)) from None
    try:
        connection.channel().close()
        latency_ms = watch.ms
        # BlockingConnection does not expose what the broker announced; its connection does.
        properties: dict[str, Any] = connection._impl.server_properties or {}
    except failures as exc:
        raise unreachable(dependency, _amqp_reason(exc, vhost, timeout_s)) from None
    finally:
        with contextlib.suppress(*failures):  # the answer is in; a failing goodbye changes nothing
            if connection.is_open:
                connection.close()
    management, management_error = (
        _aliveness(dependency, vhost, timeout_s, ca_file, verify_tls)
        if dependency.management_url
        else (None, None)
    )
    return DependencyFacts(
        kind=dependency.kind,
        where=dependency.display_url,
        latency_ms=latency_ms,
        server=f"{_text(properties.get('product', 'AMQP'))} {_text(properties.get('version'))}",
        management=management,
        management_error=management_error,
    )


def _aliveness(
    dependency: Dependency, vhost: str, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> tuple[str | None, str | None]:
    """("ok", None) when the API says {"status": "ok"}; else (None, what it said instead)."""
    assert dependency.management_url is not None  # noqa: S101 - the caller checked
    url = f"{dependency.management_url.rstrip('/')}/api/aliveness-test/{quote(vhost, safe='')}"
    login = f"{dependency.username or _GUEST}:{dependency.secret or _GUEST}"
    authorization = "Basic " + base64.b64encode(login.encode()).decode()
    try:
        response = fetch(
            url,
            headers={"authorization": authorization},
            timeout_s=timeout_s,
            tls=tls_context(ca_file, verify_tls),
        )
    except TargetUnreachableError as exc:
        return None, scrub(str(exc), dependency)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status == 200 and isinstance(body, dict) and body.get("status") == "ok":
        return "ok", None
    return None, scrub(
        f'GET {url}: expected 200 with {{"status": "ok"}}, got {response.status}: '
        f"{response.excerpt()}",
        dependency,
    )


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def _amqp_reason(exc: Exception, vhost: str, timeout_s: float) -> str:
    """pika wraps the cause in layers of AMQPConnectionError; the innermost says what broke."""
    from pika import exceptions

    cause = _innermost(exc)
    detail = " ".join(" ".join(str(arg) for arg in cause.args).split()) or type(cause).__name__
    if isinstance(exc, exceptions.ProbableAuthenticationError | exceptions.AuthenticationError):
        return f"authentication failed ({detail})"
    if isinstance(exc, exceptions.ProbableAccessDeniedError):
        return f"access to vhost '{vhost}' refused ({detail})"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS handshake failed (certificate verify failed: {cause.verify_message})"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed ({cause.reason or detail})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (nothing listening?)"
    if "Timeout during AMQP handshake" in detail:  # the rest repeats the address tuple
        return f"no answer within {timeout_s:g} s (AMQP handshake not completed)"
    if isinstance(cause, TimeoutError) or "timeout" in detail.lower():
        return f"no answer within {timeout_s:g} s ({detail})"
    return detail


def _innermost(exc: BaseException) -> BaseException:
    """Down through args[0] and pika's phase wrappers (`.exception`) to the first real cause."""
    while True:
        inner = getattr(exc, "exception", None)
        if not isinstance(inner, BaseException) and exc.args:
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            return exc
        exc = inner
