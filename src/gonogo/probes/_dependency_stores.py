"""Redis and MongoDB: log in and ping; for Redis, optionally write, read back and delete a key.

Both drivers retry and reconnect on their own; here each gets exactly one attempt bounded
by the timeout, so a dead dependency costs timeout_s, not the driver's idea of patience.
redis-py's timeouts are per socket operation, so a watchdog also holds Redis's connect,
login and ping (and then INFO and the round trip) to a deadline each.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from gonogo.environment_dependencies import Dependency
from gonogo.probes._connect import Watchdog
from gonogo.probes._dependency_facts import DependencyFacts, Stopwatch, scrub, unreachable

if TYPE_CHECKING:
    import redis

__all__ = ["ROUND_TRIP_PREFIX", "probe_mongodb", "probe_redis"]

ROUND_TRIP_PREFIX = "gonogo:roundtrip:"
_ROUND_TRIP_TTL_MS = 30_000  # a key we fail to delete still goes away on its own
_MONGO_AUTHENTICATION_FAILED = 18


def probe_redis(
    dependency: Dependency, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """AUTH + PING, then INFO server for the version; rediss:// verifies like every probe."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        db = int(dependency.path or 0)
    except ValueError:
        raise unreachable(
            dependency, f"expected a database number as the URL path, found '{dependency.path}'"
        ) from None
    tls: dict[str, Any] = {}
    if dependency.tls:
        tls = {
            "ssl": True,
            "ssl_ca_certs": str(ca_file) if ca_file and verify_tls else None,
            "ssl_cert_reqs": "required" if verify_tls else "none",
            "ssl_check_hostname": verify_tls,
        }
    watchdog = Watchdog()

    def watched(connection: Any) -> None:
        # Called by redis-py instead of its own handshake once a connection's socket is up.
        sock = getattr(connection, "_sock", None)
        if isinstance(sock, socket.socket):
            watchdog.watch(sock)
        connection.on_connect()

    client = redis.Redis(
        host=dependency.host,
        port=dependency.port,
        db=db,
        username=dependency.username,
        password=dependency.secret,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        protocol=2,  # AUTH, not HELLO: servers before Redis 6 know no HELLO
        redis_connect_func=watched,  # type: ignore[arg-type]  # called with the connection
        **tls,
    )
    with client, watchdog:
        watch = Stopwatch()
        watchdog.arm(timeout_s)
        try:
            client.ping()
        except redis.RedisError as exc:
            reason = (
                f"no answer within {timeout_s:g} s (to connect, log in and PING)"
                if watchdog.fired and not isinstance(exc, redis.TimeoutError)
                else _redis_reason(exc, timeout_s)
            )
            raise unreachable(dependency, reason) from None
        latency_ms = watch.ms
        watchdog.arm(timeout_s)  # INFO and the round trip, together
        try:
            info: dict[str, Any] = client.info("server")
            server = f"Redis {info.get('redis_version', 'unknown')}"
        except redis.RedisError as exc:  # INFO renamed away on hardened servers
            server = f"Redis (INFO refused: {scrub(str(exc), dependency)})"
        round_trip_error = _round_trip(client, dependency) if dependency.round_trip else None
    return DependencyFacts(
        kind=dependency.kind,
        where=dependency.display_url,
        latency_ms=latency_ms,
        server=server,
        round_trip_done=dependency.round_trip,
        round_trip_error=round_trip_error,
    )


def _round_trip(client: redis.Redis, dependency: Dependency) -> str | None:
    """SET with an expiry, GET, compare, and DEL whatever happened: None when all held."""
    import redis

    key = f"{ROUND_TRIP_PREFIX}{secrets.token_hex(8)}"
    value = secrets.token_hex(16).encode()
    error: str | None = None
    try:
        if not client.set(key, value, px=_ROUND_TRIP_TTL_MS):
            error = f"SET {key} was not acknowledged"
        else:
            read = client.get(key)
            if read != value:
                shown = "nothing" if read is None else f"{len(read)} other bytes"
                error = f"GET {key} returned {shown}, expected the {len(value)} bytes just set"
    except redis.RedisError as exc:
        error = f"{key}: {exc}"
    finally:
        try:
            client.delete(key)
        except redis.RedisError as exc:
            error = error or f"DEL {key} failed ({exc}); it expires within 30 s"
    return scrub(error, dependency) if error else None


def _redis_reason(exc: Exception, timeout_s: float) -> str:
    import redis

    text = " ".join(str(exc).split())
    if isinstance(exc, redis.AuthenticationError):
        return f"authentication failed ({text})"
    if isinstance(exc, redis.TimeoutError):
        return f"no answer within {timeout_s:g} s ({text})"
    if "Connection refused" in text:
        return "connection refused (nothing listening?)"
    if "name resolution" in text or "Name or service not known" in text:
        return f"host name does not resolve ({text})"
    if "SSL" in text or "certificate" in text:
        return f"TLS handshake failed ({text})"
    return text


def probe_mongodb(
    dependency: Dependency, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """ping on admin, then buildInfo for the version; this host only (directConnection), as
    the URL names it, not whichever replica set member the driver would discover."""
    import pymongo
    from pymongo.errors import OperationFailure, PyMongoError

    options = {k.lower(): v[-1] for k, v in parse_qs(dependency.url_parts.query).items()}
    ms = max(1, int(timeout_s * 1000))
    kwargs: dict[str, Any] = {
        "host": dependency.host,
        "port": dependency.port,
        "directConnection": True,
        "serverSelectionTimeoutMS": ms,
        "connectTimeoutMS": ms,
        "socketTimeoutMS": ms,
        "appname": "gonogo",
    }
    if dependency.username is not None:
        kwargs["username"] = dependency.username
        kwargs["password"] = dependency.secret
        kwargs["authSource"] = options.get("authsource") or dependency.path or "admin"
    if options.get("tls", options.get("ssl", "false")).lower() == "true":
        kwargs["tls"] = True
        kwargs["tlsAllowInvalidCertificates"] = not verify_tls
        kwargs["tlsAllowInvalidHostnames"] = not verify_tls
        if ca_file is not None and verify_tls:
            kwargs["tlsCAFile"] = str(ca_file)
    watch = Stopwatch()  # before the client: it starts connecting as soon as it exists
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(**kwargs)
    try:
        client.admin.command("ping")
        latency_ms = watch.ms
        version = client.admin.command("buildInfo").get("version", "unknown")
    except OperationFailure as exc:
        reason = f"{(exc.details or {}).get('errmsg') or exc} (code {exc.code})"
        if exc.code == _MONGO_AUTHENTICATION_FAILED:
            reason = f"authentication failed ({reason})"
        raise unreachable(dependency, reason) from None
    except PyMongoError as exc:
        raise unreachable(dependency, _mongo_reason(exc, timeout_s)) from None
    finally:
        client.close()
    return DependencyFacts(
        kind=dependency.kind,
        where=dependency.display_url,
        latency_ms=latency_ms,
        server=f"MongoDB {version}",
    )


def _mongo_reason(exc: Exception, timeout_s: float) -> str:
    """Server selection errors carry the whole topology; the one server's error is the news."""
    from pymongo.errors import ServerSelectionTimeoutError

    text = " ".join(str(exc).split()).split(", Timeout: ")[0].split(" (configured timeouts:")[0]
    if "Connection refused" in text:
        return "connection refused (nothing listening?)"
    if isinstance(exc, ServerSelectionTimeoutError):
        if text == "No servers found yet":  # the first hello was still unanswered
            text = "no answer to hello"
        return f"no usable answer within {timeout_s:g} s ({text})"
    return text
