"""Real dependency servers for the dependency probe's tests, one per session, on loopback ports.

A probe that speaks PostgreSQL, MariaDB, Redis or AMQP is only proven against the server
itself: each fixture starts the distribution's server as our own child on free ports, with
durability off so it starts fast, and stops it by its pid. Nothing starts until a test asks.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pika
import psycopg
import pymysql
import pytest

from gonogo.postgres_cluster import cluster_for
from tests.certificates import trusted_leaf
from tests.nginx_server import free_ports
from tests.server_kit import HOST, Listener, end, session_members, spawn, tcp_connect, wait_until

BANNER = b"SSH-2.0-gonogo_test\r\n"
ROWS = ("apple", "pear", "plum")  # in shop.items on both database servers


@dataclass(frozen=True)
class DatabaseServer:
    """Where a database server listens and who may log in; `database` holds table `items`."""

    port: int
    user: str
    password: str
    database: str
    host: str = HOST

    def url(self, scheme: str, *, password: str | None = None, database: str | None = None) -> str:
        secret = self.password if password is None else password
        return (
            f"{scheme}://{self.user}:{secret}@{self.host}:{self.port}/{database or self.database}"
        )


@dataclass(frozen=True)
class RedisServer:
    port: int
    tls_port: int
    password: str
    ca_file: Path
    host: str = HOST

    def url(self, *, tls: bool = False, password: str | None = None, db: int = 0) -> str:
        scheme, port = ("rediss", self.tls_port) if tls else ("redis", self.port)
        secret = self.password if password is None else password
        return f"{scheme}://:{secret}@{self.host}:{port}/{db}"


@dataclass(frozen=True)
class RabbitServer:
    """A broker with vhosts `/` and `shop`, and its management API on `management_port`."""

    port: int
    management_port: int
    user: str
    password: str
    host: str = HOST

    def url(self, vhost: str = "%2F", *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"amqp://{self.user}:{secret}@{self.host}:{self.port}/{vhost}"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    """PostgreSQL 15 with database `shop`, table `items` (3 rows), superuser `gonogo`."""
    directory = tmp_path_factory.mktemp("postgres")
    (port,) = free_ports(1)
    password = secrets.token_urlsafe(16)
    cluster = cluster_for(f"gonogo-test-{port}", directory / "data")
    try:
        cluster.initialise("gonogo", password)
        log = directory / "postgres.log"
        argv = [*cluster.server_argv(HOST, port), "-c", "synchronous_commit=off"]
        process = spawn(argv, log, user=cluster.user, group=cluster.user)
        try:
            login = {"host": HOST, "port": port, "user": "gonogo", "password": password}

            def connect_admin() -> psycopg.Connection[Any]:
                return psycopg.connect(**login, dbname="postgres", connect_timeout=2)

            wait_until(lambda: connect_admin().close(), process, log, "postgres", 30)
            with connect_admin() as admin:
                admin.autocommit = True
                admin.execute("CREATE DATABASE shop")
            with psycopg.connect(**login, dbname="shop") as shop:
                shop.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)")
                for name in ROWS:
                    shop.execute("INSERT INTO items (name) VALUES (%s)", (name,))
            yield DatabaseServer(port, "gonogo", password, "shop")
        finally:
            end(process, signal.SIGINT)  # fast shutdown: SIGTERM would wait for clients
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    """MariaDB with user `app`@`127.0.0.1` and database `shop` whose `items` holds 3 rows."""
    directory = tmp_path_factory.mktemp("mariadb")
    (port,) = free_ports(1)
    password = secrets.token_urlsafe(16)
    data, sock, tmp = directory / "data", directory / "mysqld.sock", directory / "tmp"
    tmp.mkdir()
    common = [
        f"--tmpdir={tmp}",  # a shared /tmp collides with another worker's bootstrap
        "--skip-log-bin",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=4M",  # the 96M default is written out in full
        "--innodb-flush-log-at-trx-commit=0",
    ]
    install = subprocess.run(
        [
            "mariadb-install-db",
            *("--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db"),
            "--auth-root-authentication-method=normal",
            *common,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if install.returncode != 0:
        pytest.fail(f"mariadb-install-db: {install.stderr.decode()[-2000:]}", pytrace=False)
    log = directory / "mariadb.log"
    process = spawn(
        [
            "mariadbd",
            *("--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}"),
            *(f"--bind-address={HOST}", "--user=root", f"--pid-file={directory}/mariadb.pid"),
            *("--performance-schema=OFF", f"--log-error={log}"),
            *common,
        ],
        directory / "mariadbd.out",
    )
    try:
        # Listening on TCP means ready; PyMySQL leaks the socket of a failed unix connect.
        wait_until(lambda: tcp_connect(port), process, log, "mariadb", 30)
        admin = pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=2)
        with admin, admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE shop")
            cursor.execute("CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT NOT NULL)")
            rows = list(enumerate(ROWS, start=1))
            cursor.executemany("INSERT INTO shop.items VALUES (%s, %s)", rows)
            cursor.execute("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cursor.execute("GRANT ALL ON shop.* TO 'app'@'127.0.0.1'")
            admin.commit()
        yield DatabaseServer(port, "app", password, "shop")
    finally:
        end(process)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """redis-server with a password, plain on `port` and TLS (certificate for 127.0.0.1)."""
    directory = tmp_path_factory.mktemp("redis")
    port, tls_port = free_ports(2)
    password = secrets.token_urlsafe(16)
    leaf, ca_file = trusted_leaf(directory)
    config = directory / "redis.conf"  # not argv: a password there shows in `ps`
    config.write_text(
        f'bind {HOST}\nport {port}\ndir {directory}\nsave ""\nappendonly no\n'
        f"requirepass {password}\ntls-port {tls_port}\ntls-cert-file {leaf.pem}\n"
        f"tls-key-file {leaf.key}\ntls-ca-cert-file {ca_file}\ntls-auth-clients no\n"
    )
    log = directory / "redis.log"
    process = spawn(["redis-server", str(config)], log)
    try:
        wait_until(lambda: tcp_connect(port), process, log, "redis", 10)
        yield RedisServer(port, tls_port, password, ca_file)
    finally:
        end(process)


def _rabbitmq_script() -> str:
    """The real start script: /usr/sbin/rabbitmq-server would switch to the rabbitmq user."""
    found = sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"))
    if not found:
        pytest.fail("rabbitmq-server not found; apt-get install -y rabbitmq-server")
    return found[-1]


def _rabbitmq_env(directory: Path, ports: dict[str, int]) -> dict[str, str]:
    """Everything the node writes goes under `directory`; /etc/rabbitmq is never read."""
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(directory),  # the Erlang cookie
        "ERL_EPMD_PORT": str(ports["epmd"]),
        "RABBITMQ_NODENAME": "gonogo-test@localhost",
        "RABBITMQ_NODE_PORT": str(ports["amqp"]),
        "RABBITMQ_DIST_PORT": str(ports["dist"]),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq"),  # .conf is appended
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(directory / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(directory / "plugins-expand"),
        "RABBITMQ_LOGS": "-",
        # After its last log line beam idles ~6 s before halting; nothing here needs keeping.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-shutdown_time 1000",
        **{
            f"RABBITMQ_{name}": str(directory / name.lower())
            for name in ("MNESIA_BASE", "LOG_BASE", "SCHEMA_DIR", "GENERATED_CONFIG_DIR")
        },
    }


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitServer]:
    """RabbitMQ with the management plugin, and an epmd of its own: both our children."""
    directory = tmp_path_factory.mktemp("rabbitmq")
    ports = dict(zip(("epmd", "amqp", "management", "dist"), free_ports(4), strict=True))
    password = secrets.token_urlsafe(16)
    (directory / "enabled_plugins").write_text("[rabbitmq_management].\n")
    (directory / "rabbitmq-env.conf").write_text("")
    (directory / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = {HOST}:{ports['amqp']}\n"
        f"management.tcp.ip = {HOST}\nmanagement.tcp.port = {ports['management']}\n"
        f"default_user = gonogo\ndefault_pass = {password}\ndefault_vhost = /\n"
        "loopback_users = none\n"
    )
    env = _rabbitmq_env(directory, ports)
    epmd = spawn(["epmd", "-port", str(ports["epmd"])], directory / "epmd.log", env=env)
    broker: subprocess.Popen[bytes] | None = None
    try:
        log = directory / "rabbitmq.log"
        # Its own session: what beam forks (erl_child_setup, inet_gethost) can be found.
        broker = spawn([_rabbitmq_script()], log, env=env, start_new_session=True)
        api = f"http://{HOST}:{ports['management']}/api"
        auth = ("gonogo", password)

        def alive() -> None:
            httpx.get(f"{api}/aliveness-test/%2F", auth=auth, timeout=2).raise_for_status()

        wait_until(alive, broker, log, "rabbitmq", 60)
        with httpx.Client(auth=auth, timeout=10) as client:
            client.put(f"{api}/vhosts/shop").raise_for_status()
            everything = {"configure": ".*", "write": ".*", "read": ".*"}
            client.put(f"{api}/permissions/shop/gonogo", json=everything).raise_for_status()
        login = pika.ConnectionParameters(
            HOST, ports["amqp"], "shop", pika.PlainCredentials(*auth), socket_timeout=2
        )
        wait_until(lambda: pika.BlockingConnection(login).close(), broker, log, "vhost shop", 10)
        yield RabbitServer(ports["amqp"], ports["management"], "gonogo", password)
    finally:
        if broker is not None:
            end(broker, timeout_s=20)
            for pid in session_members(broker.pid):  # port programs that outlived beam
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        end(epmd)


@pytest.fixture(scope="session")
def silent_listener() -> Iterator[Listener]:
    """Accepts connections and never says a word: a hung service."""
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def banner_listener() -> Iterator[Listener]:
    """Says an SSH-style banner line, then nothing: a banner to read, or garbage to a client
    expecting another protocol."""
    listener = Listener(BANNER)
    yield listener
    listener.close()
