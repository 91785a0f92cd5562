"""PostgreSQL and MySQL/MariaDB: log in, ping, and run the environment's query read-only.

A smoke check must never write, whatever SQL the environment file holds: the query runs in
a read-only transaction that is always rolled back, and as one statement only (PostgreSQL's
extended protocol, PyMySQL without multi-statements), so `COMMIT; DELETE ...` cannot escape.
The drivers are imported here, not at module level: each is an optional extra.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from gonogo.environment_dependencies import Dependency
from gonogo.probes._connect import Watchdog
from gonogo.probes._dependency_facts import DependencyFacts, Stopwatch, scrub, unreachable
from gonogo.probes.http import tls_context

if TYPE_CHECKING:
    import psycopg

__all__ = ["probe_mysql", "probe_postgres"]

# libpq prefixes every connection failure with where it tried; the operator knows that.
_LIBPQ_WHERE = re.compile(r'^(connection failed: )?connection to server at "[^"]*"[^:]*failed: ')


def probe_postgres(
    dependency: Dependency, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """`SELECT 1` after login; the version is the one the server announced at startup.

    libpq counts connect_timeout in whole seconds and raises anything below 2 to 2.
    """
    import psycopg

    params: dict[str, Any] = {
        "host": dependency.host,
        "port": dependency.port,
        "dbname": dependency.path or "postgres",
        "connect_timeout": max(1, round(timeout_s)),
        "application_name": "gonogo",
    }
    if dependency.username is not None:
        params["user"] = dependency.username
    if dependency.secret is not None:
        params["password"] = dependency.secret
    sslmode = _query(dependency).get("sslmode", [None])[-1]
    if sslmode:
        verifying = sslmode.startswith("verify")
        params["sslmode"] = "require" if verifying and not verify_tls else sslmode
        if verifying and verify_tls and ca_file is not None:
            params["sslrootcert"] = str(ca_file)
    watch = Stopwatch()
    try:
        connection = psycopg.connect(**params, autocommit=True)
    except psycopg.Error as exc:
        raise unreachable(dependency, _postgres_reason(exc, timeout_s)) from None
    # libpq has no timeout after the connect: a server (or pgbouncer) that logged us in and
    # then waits would hold SELECT 1 forever. The watchdog ends it, and the query, at a deadline.
    with connection, Watchdog() as watchdog:
        watchdog.watch_descriptor(connection.pgconn.socket)
        watchdog.arm(timeout_s)
        try:
            connection.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            reason = (
                f"logged in, then no answer to SELECT 1 within {timeout_s:g} s"
                if watchdog.fired
                else f"no answer to SELECT 1 ({exc})"
            )
            raise unreachable(dependency, reason) from None
        latency_ms = watch.ms
        watchdog.arm(timeout_s)  # the query, if any, gets one more (statement_timeout too)
        version = connection.info.parameter_status("server_version") or "unknown"
        facts = DependencyFacts(
            kind=dependency.kind,
            where=dependency.display_url,
            latency_ms=latency_ms,
            server=f"PostgreSQL {version.split()[0]}",  # not the distribution's suffix
        )
        if dependency.query is None:
            return facts
        facts = _postgres_query(connection, dependency, facts, timeout_s)
        if watchdog.fired:  # the server stopped answering: its own error says little
            return replace(facts, query_error=f"no answer within {timeout_s:g} s")
        return facts


def _postgres_query(
    connection: psycopg.Connection[Any],
    dependency: Dependency,
    facts: DependencyFacts,
    timeout_s: float,
) -> DependencyFacts:
    """statement_timeout is SET LOCAL, not a startup option: pgbouncer refuses `options`."""
    import psycopg

    assert dependency.query is not None  # noqa: S101 - the caller checked
    value: Any = None
    error: str | None = None
    query_ms: float | None = None
    try:
        connection.execute("BEGIN READ ONLY")
        connection.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
        watch = Stopwatch()
        try:
            # binary=True forces the extended protocol, which takes exactly one statement.
            cursor = connection.execute(dependency.query.sql, binary=True)
            row = cursor.fetchone() if cursor.description else None
        finally:
            query_ms = watch.ms
        value, error = _first_value(row)
    except psycopg.Error as exc:
        error = str(exc)
    finally:
        try:
            connection.execute("ROLLBACK")
        except psycopg.Error as exc:
            error = error or f"rollback failed ({exc})"
    return _with_query(facts, dependency, value, query_ms, error)


def probe_mysql(
    dependency: Dependency, timeout_s: float, ca_file: Path | None, verify_tls: bool
) -> DependencyFacts:
    """COM_PING after login; the version is the one in the server's handshake."""
    import pymysql

    watch = Stopwatch()
    try:
        connection = pymysql.connect(
            host=dependency.host,
            port=dependency.port,
            user=dependency.username,
            password=dependency.secret or "",
            database=dependency.path or None,
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            write_timeout=timeout_s,
            charset="utf8mb4",
            autocommit=True,
            **_mysql_tls(dependency, ca_file, verify_tls),
        )
    except pymysql.MySQLError as exc:
        raise unreachable(dependency, _mysql_reason(exc, timeout_s)) from None
    with connection:
        try:
            connection.ping(reconnect=False)
        except pymysql.MySQLError as exc:
            raise unreachable(dependency, _mysql_reason(exc, timeout_s)) from None
        latency_ms = watch.ms
        # MariaDB 10 prefixes 5.5.5- for clients that parse only one leading number.
        version = str(connection.get_server_info()).removeprefix("5.5.5-")
        product = "MariaDB" if "mariadb" in version.lower() else "MySQL"
        facts = DependencyFacts(
            kind=dependency.kind,
            where=dependency.display_url,
            latency_ms=latency_ms,
            server=f"{product} {version.split('-')[0]}",
        )
        if dependency.query is None:
            return facts
        return _mysql_query(connection, dependency, facts, timeout_s, product)


def _mysql_tls(dependency: Dependency, ca_file: Path | None, verify_tls: bool) -> dict[str, Any]:
    """`?ssl-mode=` as the mysql client reads it; unset, PyMySQL prefers TLS when offered.

    VERIFY_CA checks the host name too: a certificate for another host is no proof either.
    """
    options = {k.lower().replace("_", "-"): v[-1] for k, v in _query(dependency).items()}
    mode = options.get("ssl-mode", "").lower().replace("-", "_")
    if mode == "disabled":
        return {"ssl_disabled": True}
    if mode == "required":  # encrypted, but any certificate will do: what REQUIRED means
        return {"ssl": tls_context(None, verify=False)}
    if mode in ("verify_ca", "verify_identity"):
        return {"ssl": tls_context(ca_file, verify_tls)}
    return {}


def _mysql_query(
    connection: Any,
    dependency: Dependency,
    facts: DependencyFacts,
    timeout_s: float,
    product: str,
) -> DependencyFacts:
    """The read timeout bounds the wait; the server-side limit also stops the server's work."""
    import pymysql

    assert dependency.query is not None  # noqa: S101 - the caller checked
    value: Any = None
    error: str | None = None
    query_ms: float | None = None
    limit = (
        f"SET SESSION max_statement_time = {timeout_s:.3f}"
        if product == "MariaDB"
        else f"SET SESSION max_execution_time = {max(1, int(timeout_s * 1000))}"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")  # and after a COMMIT too
            cursor.execute(limit)
            cursor.execute("START TRANSACTION READ ONLY")
            watch = Stopwatch()
            try:
                cursor.execute(dependency.query.sql)
                row = cursor.fetchone() if cursor.description else None
            finally:
                query_ms = watch.ms
            value, error = _first_value(row)
    except pymysql.MySQLError as exc:
        error = _mysql_message(exc)
    finally:
        try:
            connection.rollback()
        except pymysql.MySQLError as exc:
            error = error or f"rollback failed ({_mysql_message(exc)})"
    return _with_query(facts, dependency, value, query_ms, error)


def _query(dependency: Dependency) -> dict[str, list[str]]:
    return parse_qs(dependency.url_parts.query)


def _first_value(row: Any) -> tuple[Any, str | None]:
    """The first column; NUMERIC/DECIMAL as int or float, the numbers bounds and reports use."""
    if not row:
        return None, "returned no rows"
    value = row[0]
    if isinstance(value, Decimal):
        integral = value.is_finite() and value == value.to_integral_value()
        return (int(value) if integral else float(value)), None
    return value, None


def _with_query(
    facts: DependencyFacts,
    dependency: Dependency,
    value: Any,
    query_ms: float | None,
    error: str | None,
) -> DependencyFacts:
    return replace(
        facts,
        query_value=value,
        query_ms=query_ms,
        query_error=scrub(error, dependency) if error else None,
    )


def _postgres_reason(exc: Exception, timeout_s: float) -> str:
    text = " ".join(str(exc).split())
    first = _LIBPQ_WHERE.sub("", text).removeprefix("FATAL: ")
    if "Connection refused" in first:
        return "connection refused (nothing listening?)"
    if "timeout expired" in first:
        return f"no answer within {max(2, round(timeout_s))} s (libpq connect_timeout)"
    if "could not translate host name" in first or "failed to resolve host" in first:
        return f"host name does not resolve ({first})"
    if "invalid response to SSL negotiation" in first:  # libpq quotes the byte it got
        return (
            "not PostgreSQL: the server answered the TLS negotiation (SSLRequest) with "
            f"something else ({first.partition(':')[0]})"
        )
    return first


def _mysql_message(exc: Exception) -> str:
    """PyMySQL errors are (code, message) pairs; the message alone is what the server said."""
    return str(exc.args[1]) if len(exc.args) > 1 else str(exc)


def _mysql_reason(exc: Exception, timeout_s: float) -> str:
    message = _mysql_message(exc)
    if "Connection refused" in message:
        return "connection refused (nothing listening?)"
    if "timed out" in message:
        return f"no answer within {timeout_s:g} s"
    return message
