"""The dependency probe against real servers: facts when they answer, and when they do not,
a reason an operator can act on, in time, and never the password."""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymongo  # noqa: F401 - imported up front: no timing below includes a first import
import pymysql
import pytest
import redis

from gonogo.environment_dependencies import Dependency
from gonogo.errors import TargetUnreachableError
from gonogo.probes.dependencies import (
    ROUND_TRIP_PREFIX,
    DependencyFacts,
    missing_drivers,
    probe_dependency,
)
from tests.asgi_server import serve
from tests.dependency_servers import BANNER, ROWS, DatabaseServer, RabbitServer, RedisServer
from tests.server_kit import HOST, Listener

WRONG = "zebra-Quokka-7781-wrong"  # distinctive: any message holding it leaked it


def probe(
    spec: dict[str, Any] | str,
    *,
    timeout_s: float = 5,
    ca_file: Path | None = None,
    verify_tls: bool = True,
) -> DependencyFacts:
    dependency = Dependency.model_validate({"url": spec} if isinstance(spec, str) else spec)
    return probe_dependency(dependency, timeout_s=timeout_s, ca_file=ca_file, verify_tls=verify_tls)


def unreachable(spec: dict[str, Any] | str, *, timeout_s: float = 5, **kwargs: Any) -> str:
    """The message of the TargetUnreachableError the probe must raise, checked for leaks."""
    with pytest.raises(TargetUnreachableError) as raised:
        probe(spec, timeout_s=timeout_s, **kwargs)
    message = str(raised.value)
    assert WRONG not in message
    return message


@pytest.fixture(
    params=[("postgres_server", "postgresql"), ("mariadb_server", "mysql")],
    ids=["postgres", "mysql"],
)
def sql(request: pytest.FixtureRequest) -> tuple[str, DatabaseServer]:
    """Each database server, with the URL scheme that reaches it."""
    fixture, scheme = request.param
    return scheme, request.getfixturevalue(fixture)


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve() as url:
        yield url


def _row_count(scheme: str, server: DatabaseServer) -> int:
    login = {"host": HOST, "port": server.port, "user": server.user, "password": server.password}
    if scheme == "postgresql":
        with psycopg.connect(**login, dbname=server.database) as connection:
            row = connection.execute("SELECT count(*) FROM items").fetchone()
    else:
        connection = pymysql.connect(**login, database=server.database)
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM items")
            row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_sql_server_answers_with_facts(sql: tuple[str, DatabaseServer]) -> None:
    scheme, server = sql
    facts = probe(server.url(scheme))
    assert facts.latency_ms > 0 and facts.query_value is None and facts.query_error is None
    assert facts.server.split()[0] in ("PostgreSQL", "MariaDB")
    assert facts.server.split()[1][0].isdigit(), facts.server
    assert facts.where == server.url(scheme, password="***")
    assert server.password not in repr(facts)


@pytest.mark.parametrize(
    "query",
    [
        {"sql": "SELECT count(*) FROM items", "equals": 3},
        {"sql": "SELECT sum(id) FROM items WHERE id <= 2", "min": 1},  # DECIMAL on MariaDB
    ],
)
def test_sql_query_value_is_a_number(
    sql: tuple[str, DatabaseServer], query: dict[str, Any]
) -> None:
    scheme, server = sql
    facts = probe({"url": server.url(scheme), "query": query})
    assert facts.query_error is None
    assert facts.query_value == 3 and type(facts.query_value) is int  # not Decimal
    assert facts.query_ms is not None and facts.query_ms > 0


@pytest.mark.parametrize(
    ("sql_text", "error"),
    [
        ("SELECT nope FROM items", "nope"),
        ("SELECT name FROM items WHERE id < 0", "returned no rows"),
    ],
)
def test_sql_query_failure_is_a_fact(
    sql: tuple[str, DatabaseServer], sql_text: str, error: str
) -> None:
    scheme, server = sql
    facts = probe({"url": server.url(scheme), "query": sql_text})
    assert facts.query_value is None and facts.query_error is not None
    assert error in facts.query_error
    assert facts.latency_ms > 0  # the database itself answered


@pytest.mark.parametrize(
    "sql_text",
    [
        "DELETE FROM items",
        "INSERT INTO items (id, name) VALUES (99, 'fig')",
        "DROP TABLE items",
        "SELECT 1; DELETE FROM items",
        "COMMIT; DELETE FROM items",
    ],
)
def test_sql_query_cannot_write(sql: tuple[str, DatabaseServer], sql_text: str) -> None:
    scheme, server = sql
    facts = probe({"url": server.url(scheme), "query": sql_text})
    assert facts.query_error, f"{sql_text!r} was accepted"
    assert _row_count(scheme, server) == len(ROWS)


def test_sql_wrong_password_names_the_refusal_not_the_password(
    sql: tuple[str, DatabaseServer],
) -> None:
    scheme, server = sql
    message = unreachable(server.url(scheme, password=WRONG))
    assert ("password authentication failed" in message) or ("Access denied" in message)
    assert server.url(scheme, password="***") in message


def test_password_field_is_never_shown(sql: tuple[str, DatabaseServer]) -> None:
    scheme, server = sql
    url = f"{scheme}://{server.user}@{HOST}:{server.port}/{server.database}"
    message = unreachable({"url": url, "password": WRONG})
    assert f"'{server.user}'" in message or f'"{server.user}"' in message


def test_sql_unknown_database(sql: tuple[str, DatabaseServer]) -> None:
    scheme, server = sql
    message = unreachable(server.url(scheme, database="nope"))
    assert "'nope'" in message or '"nope"' in message


@pytest.mark.parametrize("scheme", ["postgresql", "mysql", "redis", "amqp", "tcp", "http"])
def test_closed_port_is_refused_fast(scheme: str) -> None:
    started = time.monotonic()
    message = unreachable(f"{scheme}://u:{WRONG}@{HOST}:1/0")
    assert "refused" in message and time.monotonic() - started < 2


@pytest.mark.parametrize("scheme", ["postgresql", "mysql", "redis", "amqp", "mongodb"])
def test_silent_server_fails_within_the_timeout(scheme: str, silent_listener: Listener) -> None:
    started = time.monotonic()
    message = unreachable(f"{scheme}://u:{WRONG}@{HOST}:{silent_listener.port}/0", timeout_s=2)
    assert "no answer" in message or "no usable answer" in message
    assert time.monotonic() - started < 3


def test_redis_round_trip_leaves_no_key(redis_server: RedisServer) -> None:
    facts = probe({"url": redis_server.url(), "round_trip": True})
    assert facts.server.startswith("Redis 7") and facts.latency_ms > 0
    assert facts.round_trip_done and facts.round_trip_error is None
    with redis.Redis(HOST, redis_server.port, password=redis_server.password) as client:
        assert list(client.scan_iter(f"{ROUND_TRIP_PREFIX}*")) == []


def test_redis_wrong_password(redis_server: RedisServer) -> None:
    assert "authentication failed" in unreachable(redis_server.url(password=WRONG))


def test_redis_database_out_of_range(redis_server: RedisServer) -> None:
    assert "DB index is out of range" in unreachable(redis_server.url(db=99))


def test_rediss_verifies_against_the_given_ca(redis_server: RedisServer) -> None:
    facts = probe(redis_server.url(tls=True), ca_file=redis_server.ca_file)
    assert facts.server.startswith("Redis ") and facts.where.startswith("rediss://:***@")


@pytest.mark.parametrize("scheme", ["rediss", "amqps"])
def test_tls_without_the_ca_fails_on_the_certificate(
    redis_server: RedisServer, scheme: str
) -> None:
    """The system store does not know our CA; amqps reaches no AMQP here, but TLS comes first."""
    message = unreachable(f"{scheme}://u:{WRONG}@{HOST}:{redis_server.tls_port}/0")
    assert "TLS handshake failed" in message and "certificate verify failed" in message


def test_rediss_unverified_when_verification_is_off(redis_server: RedisServer) -> None:
    assert probe(redis_server.url(tls=True), verify_tls=False).server.startswith("Redis ")


def test_tls_mode_from_the_url(sql: tuple[str, DatabaseServer]) -> None:
    scheme, server = sql
    option = {"postgresql": "sslmode=require", "mysql": "ssl-mode=REQUIRED"}[scheme]
    message = unreachable(f"{server.url(scheme)}?{option}")  # neither server has a certificate
    assert "server does not support SSL" in message or "SSL is required" in message


@pytest.mark.parametrize("vhost", ["%2F", "", "shop"])
def test_rabbitmq_vhost_and_management(rabbitmq_server: RabbitServer, vhost: str) -> None:
    management_url = f"http://{HOST}:{rabbitmq_server.management_port}"
    facts = probe({"url": rabbitmq_server.url(vhost), "management_url": management_url})
    assert facts.server.startswith("RabbitMQ 3.") and facts.latency_ms > 0
    assert (facts.management, facts.management_error) == ("ok", None)


def test_rabbitmq_unknown_vhost(rabbitmq_server: RabbitServer) -> None:
    message = unreachable(rabbitmq_server.url("nope"))
    assert "vhost 'nope' refused" in message and "not found" in message


def test_rabbitmq_wrong_password(rabbitmq_server: RabbitServer) -> None:
    message = unreachable(rabbitmq_server.url(password=WRONG))
    assert "authentication failed" in message and "ACCESS_REFUSED" in message


def test_rabbitmq_management_unreachable_is_a_fact(rabbitmq_server: RabbitServer) -> None:
    facts = probe({"url": rabbitmq_server.url("shop"), "management_url": f"http://{HOST}:1"})
    assert facts.management is None and facts.management_error is not None
    assert "aliveness-test/shop" in facts.management_error
    assert "refused" in facts.management_error


def test_rabbitmq_management_wrong_answer_is_a_fact(
    rabbitmq_server: RabbitServer, service: str
) -> None:
    facts = probe({"url": rabbitmq_server.url(), "management_url": service})  # not the API: 404
    assert facts.management_error is not None and "got 404" in facts.management_error


def test_mongodb_garbage_answer_fails_within_the_timeout(banner_listener: Listener) -> None:
    started = time.monotonic()
    message = unreachable(f"mongodb://u:{WRONG}@{HOST}:{banner_listener.port}/", timeout_s=1)
    assert "no usable answer within 1 s" in message and time.monotonic() - started < 2


def test_tcp_banner_is_read(banner_listener: Listener) -> None:
    facts = probe({"url": f"tcp://{HOST}:{banner_listener.port}", "banner": "^SSH-2"})
    assert facts.banner == BANNER.decode().strip() and facts.latency_ms > 0


def test_tcp_without_banner_only_connects(silent_listener: Listener) -> None:
    facts = probe(f"tcp://{HOST}:{silent_listener.port}")
    assert (facts.banner, facts.server) == (None, "TCP open")


def test_tcp_silent_banner_is_empty_by_the_deadline(silent_listener: Listener) -> None:
    facts = probe({"url": f"tcp://{HOST}:{silent_listener.port}", "banner": "x"}, timeout_s=0.3)
    assert facts.banner == "" and 250 < facts.latency_ms < 1500


@pytest.mark.parametrize(("path", "status"), [("/health/live", 200), ("/health/ready", 503)])
def test_http_status_is_a_fact(service: str, path: str, status: int) -> None:
    facts = probe(f"{service}{path}")
    assert (facts.status, facts.server) == (status, f"HTTP {status}")
    assert facts.body_excerpt.startswith('{"status":') and facts.latency_ms > 0


def test_http_password_in_url_is_masked(service: str) -> None:
    facts = probe(service.replace("http://", f"http://u:{WRONG}@") + "/health/live")
    assert WRONG not in repr(facts) and facts.where.startswith("http://u:***@")


def test_http_user_and_password_fields_are_sent(service: str) -> None:
    url = service.replace("http://", "http://other:other@") + "/echo-auth"
    facts = probe({"url": url, "user": "u", "password": WRONG})  # the route echoes the header
    sent = base64.b64decode(facts.body_excerpt.split("Basic ")[1].split('"')[0]).decode()
    assert (facts.status, sent) == (403, f"u:{WRONG}")


def _dependencies(*urls: str) -> list[Dependency]:
    return [Dependency.model_validate({"url": url, "name": f"d{i}"}) for i, url in enumerate(urls)]


def test_missing_driver_is_named_with_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymongo", None)
    dependencies = _dependencies("redis://h:1", "mongodb://h:27017/app", "tcp://h:22")
    assert missing_drivers(dependencies) == [
        "dependencies[1] (d1): mongodb:// needs the pymongo driver, which is not installed; "
        "pip install 'gonogo[mongodb]'"
    ]


def test_installed_drivers_are_not_missing() -> None:
    schemes = ["postgresql", "mysql", "redis", "amqp", "mongodb", "http", "tcp"]
    assert missing_drivers(_dependencies(*(f"{scheme}://h:1" for scheme in schemes))) == []
