"""The demo's PostgreSQL: its cluster, the database and role the API uses, and their tables.

The API logs in as a role of its own that owns only the `demo` database; the superuser is
for the supervisor, which creates that role, database and tables here (idempotent), since
the API has no migrations of its own.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from gonogo.demo._processes import running_pid
from gonogo.demo._state import Secrets
from gonogo.demo.config import DemoConfig
from gonogo.errors import DemoError
from gonogo.postgres_cluster import Cluster, cluster_for

__all__ = [
    "DATABASE",
    "ROLE",
    "cluster",
    "connection_problem",
    "drop_unreachable",
    "ensure_schema",
    "prepare",
]

SUPERUSER = "postgres"
ROLE = "demo"
DATABASE = "demo"
# libpq's minimum; a refused connection on loopback fails at once anyway.
_CONNECT_TIMEOUT_S = 2
_TABLES = """
CREATE TABLE IF NOT EXISTS items (
    id text PRIMARY KEY,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS files (
    id text PRIMARY KEY,
    filename text NOT NULL,
    content_type text NOT NULL,
    data bytea NOT NULL,
    sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def cluster(config: DemoConfig) -> Cluster:
    return cluster_for(config.project, config.run_dir / "postgres")


def drop_unreachable(config: DemoConfig, keys: Secrets) -> None:
    """Remove a cluster made with a password that is now lost: nobody can log into it.

    As root the cluster lives under /var/lib/gonogo, so it outlives its run dir (`make clean`
    removes only the latter); done before the new password is written, so a failed `up`
    cannot leave a cluster and a password that do not match. A cluster our server still
    runs on is left alone.
    """
    if keys.postgres_password_is_new and running_pid(config, "postgres") is None:
        cluster(config).remove()


def prepare(config: DemoConfig, keys: Secrets) -> Cluster:
    found = cluster(config)
    found.initialise(SUPERUSER, keys.postgres_password)
    return found


def connection_problem(config: DemoConfig, keys: Secrets) -> str | None:
    """None once the superuser can log in; else why not, for the readiness wait."""
    try:
        with _connect(config, keys, SUPERUSER, "postgres"):
            return None
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip()[:300]}"


def ensure_schema(config: DemoConfig, keys: Secrets) -> None:
    """The API's role, database and tables, created where missing."""
    try:
        with _connect(config, keys, SUPERUSER, "postgres") as admin:
            # CREATE DATABASE cannot run inside a transaction.
            admin.autocommit = True
            role = sql.Identifier(ROLE)
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
                admin.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        role, sql.Literal(keys.postgres_password)
                    )
                )
            if not admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone():
                admin.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), role)
                )
        with _connect(config, keys, ROLE, DATABASE) as conn:
            conn.execute(_TABLES)
    except psycopg.Error as exc:
        raise DemoError(
            f"postgres on {config.host}:{config.postgres_port}: creating role {ROLE}, database "
            f"{DATABASE} and their tables failed: {str(exc).strip()}"
        ) from exc


def _connect(
    config: DemoConfig, keys: Secrets, user: str, dbname: str
) -> psycopg.Connection[TupleRow]:
    return psycopg.connect(
        host=config.host,
        port=config.postgres_port,
        user=user,
        password=keys.postgres_password,
        dbname=dbname,
        connect_timeout=_CONNECT_TIMEOUT_S,
    )
