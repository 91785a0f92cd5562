"""Where the API keeps things: login tokens in Redis, where they expire, and items and files in
PostgreSQL, where they last.

An outage must turn into a quick 503 and a "down" in /health, never a request that hangs:
Redis calls have socket timeouts, the pool waits at most a few seconds for a connection, and
`bounded` gives up on a call that still has no answer (a database that hangs rather than
refuses), leaving its thread to finish whenever the database does.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread
import psycopg
import redis
from psycopg.rows import TupleRow, class_row
from psycopg_pool import ConnectionPool, PoolTimeout
from redis.backoff import NoBackoff
from redis.retry import Retry

from gonogo.demo._models import Check, FileInfo, Item
from gonogo.demo._settings import Settings

__all__ = ["StorageTimeout", "Store", "StoredFile", "bounded"]

# Health answers must stay fast when a store is down or hangs: a readiness probe with a 1 s
# budget has to get a "down" rather than a timeout.
_REDIS_TIMEOUT_S = 0.5
_CHECK_WAIT_S = 0.5  # for a pooled connection
_CHECK_BUDGET_S = 0.8  # for the whole check, a database that hangs included
_POOL_TIMEOUT_S = 2.0
# libpq's minimum; a refused connection on loopback fails at once anyway.
_CONNECT_TIMEOUT_S = 2
_STATEMENT_TIMEOUT_MS = 2000
_BUDGET_S = _POOL_TIMEOUT_S + 1.0
_KEY_PREFIX = "gonogo-demo"

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class StorageTimeout(Exception):
    """A store call got no answer within its budget: the store hangs rather than refuses."""


@dataclass(frozen=True)
class StoredFile:
    filename: str
    content_type: str
    data: bytes


async def bounded(call: Callable[[*Ts], T], *args: *Ts, budget_s: float = _BUDGET_S) -> T:
    """Run a blocking store call in a worker thread, and stop waiting for it after `budget_s`."""
    try:
        with anyio.fail_after(budget_s):
            return await anyio.to_thread.run_sync(call, *args, abandon_on_cancel=True)
    except TimeoutError:
        raise StorageTimeout(f"no answer within {budget_s:g} s") from None


class Store:
    """Both stores of one API process; nothing is contacted before a request needs it."""

    def __init__(self, settings: Settings) -> None:
        self._redis = redis.Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            password=settings.redis_password,
            socket_timeout=_REDIS_TIMEOUT_S,
            socket_connect_timeout=_REDIS_TIMEOUT_S,
            # Retrying would multiply the timeout and hide an outage from /health.
            retry=Retry(NoBackoff(), retries=0),
            decode_responses=True,
        )
        self._postgres: dict[str, Any] = {
            "host": settings.postgres_host,
            "port": settings.postgres_port,
            "user": settings.postgres_user,
            "password": settings.postgres_password,
            "dbname": settings.postgres_database,
            "connect_timeout": _CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}",
        }
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] = ConnectionPool(
            kwargs=self._postgres,
            name=f"demo-api-{settings.release}",
            min_size=1,
            max_size=8,
            timeout=_POOL_TIMEOUT_S,
            # A connection broken by a database restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
            # No reconnection schedule in the background: a request that finds no connection
            # makes one, so the pool is back as soon as the database is, not a backoff step
            # (up to minutes) later.
            reconnect_timeout=0,
            open=False,
        )

    def close(self) -> None:
        self._pool.close()
        self._redis.close()

    def save_token(self, token: str, user: str, ttl_s: int) -> None:
        self._redis.set(_token_key(token), user, ex=ttl_s)

    def token_user(self, token: str) -> str | None:
        user = self._redis.get(_token_key(token))
        return user if isinstance(user, str) else None

    def items(self) -> list[Item]:
        with self._connection() as conn, conn.cursor(row_factory=class_row(Item)) as cursor:
            return cursor.execute(
                "SELECT id, name, description FROM items ORDER BY name, id"
            ).fetchall()

    def item(self, item_id: str) -> Item | None:
        with self._connection() as conn, conn.cursor(row_factory=class_row(Item)) as cursor:
            query = "SELECT id, name, description FROM items WHERE id = %s"
            return cursor.execute(query, (item_id,)).fetchone()

    def add_item(self, item: Item) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO items (id, name, description) VALUES (%s, %s, %s)",
                (item.id, item.name, item.description),
            )

    def delete_item(self, item_id: str) -> bool:
        with self._connection() as conn:
            return conn.execute("DELETE FROM items WHERE id = %s", (item_id,)).rowcount == 1

    def file(self, file_id: str) -> StoredFile | None:
        with self._connection() as conn:
            query = "SELECT filename, content_type, data FROM files WHERE id = %s"
            row = conn.execute(query, (file_id,)).fetchone()
        return None if row is None else StoredFile(*row)

    def add_file(self, info: FileInfo, content_type: str, data: bytes) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO files (id, filename, content_type, data, sha256) "
                "VALUES (%s, %s, %s, %s, %s)",
                (info.id, info.filename, content_type, data, info.sha256),
            )

    def delete_file(self, file_id: str) -> bool:
        with self._connection() as conn:
            return conn.execute("DELETE FROM files WHERE id = %s", (file_id,)).rowcount == 1

    async def check_redis(self) -> Check:
        return await _checked(self._ping_redis)

    async def check_postgres(self) -> Check:
        return await _checked(self._ping_postgres)

    def _ping_redis(self) -> None:
        self._redis.ping()

    def _ping_postgres(self) -> None:
        try:
            with self._connection(_CHECK_WAIT_S) as conn:
                conn.execute("SELECT 1")
        except PoolTimeout:
            # The pool only says it waited: it may be backing off (a second, more than this
            # check's budget) after finding a connection broken by a database restart. One
            # attempt of our own tells: it says why when the database is down (refused, bad
            # password), and when it answers, the database is up, which is what /health says.
            with psycopg.connect(**self._postgres) as conn:
                conn.execute("SELECT 1")

    @contextmanager
    def _connection(
        self, timeout_s: float = _POOL_TIMEOUT_S
    ) -> Iterator[psycopg.Connection[TupleRow]]:
        # Opened on first use (open() is idempotent and thread-safe): an API that starts
        # before its database does then logs no failed connection attempts.
        self._pool.open()
        with self._pool.connection(timeout_s) as conn:
            yield conn


async def _checked(ping: Callable[[], None]) -> Check:
    started = time.perf_counter()
    try:
        await bounded(ping, budget_s=_CHECK_BUDGET_S)
    except (redis.RedisError, psycopg.Error, StorageTimeout) as exc:
        return Check(status="down", error=(str(exc) or type(exc).__name__)[:200])
    return Check(status="ok", latency_ms=round((time.perf_counter() - started) * 1000, 2))


def _token_key(token: str) -> str:
    # Only a digest is stored, so reading Redis does not yield usable tokens.
    return f"{_KEY_PREFIX}:token:{hashlib.sha256(token.encode()).hexdigest()}"
