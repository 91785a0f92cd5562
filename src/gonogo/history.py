"""Every run's decision record in one SQLite file, so a run can be held to an earlier one's
KPIs (a baseline) and an operator can see which checks keep flipping.

SQLite because runs of one team land on one disk and a file needs no server; WAL and a busy
timeout because two pipelines finishing together must both get their row in. The full record
is kept as JSON, so a baseline comparison can read any KPI of any past run; the columns beside
it exist only so that listings and trends do not have to parse every record.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from gonogo.environment_gate import VERDICTS
from gonogo.errors import GonogoError
from gonogo.gate import NOT_PASSED

__all__ = ["SCHEMA_VERSION", "History", "HistoryError", "StoredRun"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0
# In the order of the runs table's columns.
KPI_COLUMNS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "avg_ms", "max_ms", "error_rate", "rps")
TREND_KPIS = ("p95_ms", "rps", "error_rate")
# The names a baseline's `against:` accepts; "last-go" means the latest GO, never a tag.
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_RESERVED_TAG = "last-go"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    decision TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_s REAL NOT NULL,
    exit_code INTEGER NOT NULL,
    interrupted INTEGER NOT NULL,
    p50_ms REAL, p90_ms REAL, p95_ms REAL, p99_ms REAL, avg_ms REAL, max_ms REAL,
    error_rate REAL, rps REAL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_environment ON runs (environment, run_id);
CREATE TABLE IF NOT EXISTS checks (
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    check_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    severity TEXT,
    duration_s REAL,
    PRIMARY KEY (run_id, check_id)
);
CREATE TABLE IF NOT EXISTS tags (
    environment TEXT NOT NULL,
    name TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    PRIMARY KEY (environment, name)
);
"""


class HistoryError(GonogoError):
    """The history file cannot be used: not a gonogo history, too new, or a record without
    the fields every decision record has."""


@dataclass(frozen=True)
class StoredRun:
    """One run as stored: the columns a listing needs, and the whole record for the rest."""

    run_id: int
    environment: str
    decision: str
    started_at: str
    duration_s: float
    exit_code: int
    record: dict[str, Any]


class History:
    """An open history file. Not shared between threads: each run opens its own."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: Path) -> History:
        """Open `path`, creating it (and its directory) with the current schema if needed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit, so that every write below is an explicit BEGIN IMMEDIATE: a writer waits
        # for the lock up front instead of failing when it upgrades a read to a write.
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _use_wal(connection)
            _prepare(connection, path)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise HistoryError(
                f"{path}: expected a gonogo history (SQLite) file, could not use it: {exc}"
            ) from exc
        except BaseException:
            connection.close()
            raise
        return cls(path, connection)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def append(self, record: dict[str, Any]) -> int:
        """Store a decision record; its run id orders it after every run stored before."""
        row = _run_row(record, self.path)
        checks = _check_rows(record, self.path)
        with _transaction(self._db):
            (run_id,) = self._db.execute(
                "INSERT INTO runs (environment, decision, started_at, finished_at, duration_s,"
                " exit_code, interrupted, p50_ms, p90_ms, p95_ms, p99_ms, avg_ms, max_ms,"
                " error_rate, rps, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_id",
                (*row, json.dumps(record, ensure_ascii=False)),
            ).fetchone()
            self._db.executemany(
                "INSERT OR REPLACE INTO checks (run_id, check_id, outcome, severity, duration_s)"
                " VALUES (?, ?, ?, ?, ?)",
                [(run_id, *check) for check in checks],
            )
        return int(run_id)

    def run(self, run_id: int) -> StoredRun:
        row = self._db.execute(
            "SELECT run_id, record FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id} in {self.path}; `gonogo history` lists the runs")
        return _stored(row)

    def runs(self, environment: str, limit: int = 20) -> list[StoredRun]:
        """The latest `limit` runs of `environment`, newest first."""
        rows = self._db.execute(
            "SELECT run_id, record FROM runs WHERE environment = ? ORDER BY run_id DESC LIMIT ?",
            (environment, limit),
        )
        return [_stored(row) for row in rows]

    def environments(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT environment FROM runs ORDER BY environment")
        return [str(environment) for (environment,) in rows]

    def last_go(self, environment: str, *, before_run: int | None = None) -> StoredRun | None:
        """The latest GO of `environment`; with `before_run`, the latest stored before that
        run, so a run that has already appended itself never becomes its own baseline."""
        row = self._db.execute(
            "SELECT run_id, record FROM runs WHERE environment = ? AND decision = 'GO'"
            " AND (? IS NULL OR run_id < ?) ORDER BY run_id DESC LIMIT 1",
            (environment, before_run, before_run),
        ).fetchone()
        return None if row is None else _stored(row)

    def tag(self, run_id: int, name: str) -> None:
        """Name a run as a baseline of its environment; a name already in use moves to it."""
        if not _TAG.match(name) or name == _RESERVED_TAG:
            raise ValueError(
                f"tag {name!r}: expected 1 to 63 letters, digits, '_', '.' or '-', starting"
                f" with a letter or digit, and not {_RESERVED_TAG!r} (which means the latest GO)"
            )
        with _transaction(self._db):
            row = self._db.execute(
                "SELECT environment FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise KeyError(
                    f"cannot tag run {run_id} as {name!r}: no run {run_id} in {self.path};"
                    " `gonogo history` lists the runs"
                )
            self._db.execute(
                "INSERT OR REPLACE INTO tags (environment, name, run_id) VALUES (?, ?, ?)",
                (row[0], name, run_id),
            )

    def tagged(self, environment: str, tag: str) -> StoredRun | None:
        row = self._db.execute(
            "SELECT run_id, record FROM runs WHERE run_id ="
            " (SELECT run_id FROM tags WHERE environment = ? AND name = ?)",
            (environment, tag),
        ).fetchone()
        return None if row is None else _stored(row)

    def trend(self, environment: str, limit: int = 20) -> dict[str, Any]:
        """The latest `limit` runs, oldest first, as plain data for the terminal and the HTML
        report: decisions, KPIs, and the checks that flipped between passing and not."""
        rows = self._db.execute(
            "SELECT run_id, started_at, decision, duration_s, p95_ms, rps, error_rate"
            " FROM runs WHERE environment = ? ORDER BY run_id DESC LIMIT ?",
            (environment, limit),
        ).fetchall()
        rows.reverse()
        outcomes: dict[str, list[tuple[int, str]]] = {}
        not_passed = dict.fromkeys((row[0] for row in rows), 0)
        if rows:
            checks = self._db.execute(
                "SELECT run_id, check_id, outcome FROM checks JOIN runs USING (run_id)"
                " WHERE environment = ? AND run_id >= ? ORDER BY run_id",
                (environment, rows[0][0]),
            )
            for run_id, check_id, outcome in checks:
                outcomes.setdefault(check_id, []).append((run_id, outcome))
                not_passed[run_id] += outcome in NOT_PASSED
        decisions = dict.fromkeys(VERDICTS, 0)
        for row in rows:
            decisions[row[2]] += 1
        return {
            "environment": environment,
            "runs": [_trend_run(row, not_passed[row[0]]) for row in rows],
            "flaky": _flaky(outcomes),
            "decisions": decisions,
        }


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._db.execute("COMMIT" if error is None else "ROLLBACK")


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch a new file to WAL, once (the mode is stored in the file). SQLite does not wait
    for the busy timeout here: when two runs create the file together, one of them finds it
    locked, so retry for as long as the timeout would have waited."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorname != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        else:
            return


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Create the schema in a new file; refuse a file written by a newer gonogo, or a SQLite
    file that belongs to something else."""
    with _transaction(connection):
        tables = {
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "meta" not in tables and tables - {"sqlite_sequence"}:
            raise HistoryError(
                f"{path}: expected a gonogo history file, found a SQLite database with other"
                f" tables ({', '.join(sorted(tables))})"
            )
        if "meta" in tables:
            row = connection.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            found = int(row[0]) if row is not None else None
            if found is not None and found > SCHEMA_VERSION:
                raise HistoryError(
                    f"{path}: history schema version {found} was written by a newer gonogo;"
                    f" this gonogo reads up to version {SCHEMA_VERSION}: upgrade gonogo or"
                    " use another --file"
                )
        _create(connection)


def _create(connection: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


def _run_row(record: dict[str, Any], path: Path) -> tuple[Any, ...]:
    """The columns of a run, or a HistoryError naming the field that is missing or wrong."""
    decision = _field(record, "decision", str, path)
    if decision not in VERDICTS:
        raise HistoryError(
            f"{path}: cannot store a run whose decision is {decision!r}; expected one of"
            f" {', '.join(VERDICTS)}"
        )
    finished = record.get("finished_at")
    return (
        _field(record, "environment", str, path),
        decision,
        _field(record, "started_at", str, path),
        finished if isinstance(finished, str) else None,
        float(_field(record, "duration_s", (int, float), path)),
        _field(record, "exit_code", int, path),
        int(bool(record.get("interrupted", False))),
        *_load_kpis(record),
    )


def _load_kpis(record: dict[str, Any]) -> list[float | None]:
    load = record.get("load")
    total = load.get("total") if isinstance(load, dict) else None
    if not isinstance(total, dict):
        return [None] * len(KPI_COLUMNS)
    values = [total.get(kpi) for kpi in KPI_COLUMNS]
    return [float(v) if isinstance(v, int | float) and math.isfinite(v) else None for v in values]


def _check_rows(record: dict[str, Any], path: Path) -> list[tuple[Any, ...]]:
    checks = _field(record, "checks", list, path)
    rows = []
    for number, check in enumerate(checks):
        if not isinstance(check, dict) or not isinstance(check.get("id"), str):
            raise HistoryError(
                f"{path}: cannot store check {number} of the record: expected an object with"
                f" an 'id' and an 'outcome', found {check!r:.200}"
            )
        duration = check.get("duration_s")
        rows.append(
            (
                check["id"],
                str(check.get("outcome")),
                check.get("severity"),
                float(duration) if isinstance(duration, int | float) else None,
            )
        )
    return rows


def _field(record: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise HistoryError(
            f"{path}: cannot store a decision record whose {key!r} is {value!r:.100};"
            f" expected gonogo's decision record (decision.json)"
        )
    return value


def _stored(row: tuple[Any, ...]) -> StoredRun:
    """The listing's fields come from the record itself, which `append` checked."""
    run_id, text = row
    record = json.loads(text)
    return StoredRun(
        run_id=int(run_id),
        environment=record["environment"],
        decision=record["decision"],
        started_at=record["started_at"],
        duration_s=float(record["duration_s"]),
        exit_code=int(record["exit_code"]),
        record=record,
    )


def _trend_run(row: tuple[Any, ...], not_passed: int) -> dict[str, Any]:
    run_id, started_at, decision, duration_s, *kpis = row
    return {
        "run_id": run_id,
        "started_at": started_at,
        "decision": decision,
        "duration_s": duration_s,
        "not_passed": not_passed,
        "kpis": None if None in kpis else dict(zip(TREND_KPIS, kpis, strict=True)),
    }


def _flaky(outcomes: dict[str, list[tuple[int, str]]]) -> list[dict[str, Any]]:
    """Checks that went from passed to not passed, or back, at least twice: one flip is a fix
    or a breakage, two is a check (or its target) that cannot make up its mind."""
    flaky = []
    for check_id, history in outcomes.items():
        passing = [outcome not in NOT_PASSED for _, outcome in history]
        flips = sum(before != after for before, after in itertools.pairwise(passing))
        if flips >= 2:
            flaky.append(
                {
                    "id": check_id,
                    "flips": flips,
                    "runs": len(history),
                    "last_outcome": history[-1][1],
                }
            )
    return sorted(flaky, key=lambda check: (-check["flips"], check["id"]))
