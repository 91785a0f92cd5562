"""The run history against real SQLite files, `gonogo history` as an operator sees it, and the
baseline comparison against hand-computed answers and a brute-force Mann-Whitney U."""

from __future__ import annotations

import contextlib
import json
import math
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gonogo import history_cli
from gonogo.baseline import compare_kpi, latency_regression, mann_whitney_u
from gonogo.environment_gate import BaselineKpi, LatencyTest
from gonogo.history import SCHEMA_VERSION, History, HistoryError
from gonogo.latency import Histogram

ENV = "demo"
HEALTH = "test_status_is_expected[health]"
SEARCH = "test_status_is_expected[search]"


def _load(latencies: list[float], failures: int = 0, duration_s: float = 60.0) -> dict[str, Any]:
    """The load stage's part of a record, as the plugin writes it, from known response times."""
    histogram = Histogram()
    for ms in latencies:
        histogram.record(ms)
    count = histogram.count
    percentiles = {"p50_ms": 0.5, "p90_ms": 0.9, "p95_ms": 0.95, "p99_ms": 0.99}
    return {
        "duration_s": duration_s,
        "total": {
            "count": count,
            "failures": failures,
            "error_rate": failures / count,
            "rps": count / duration_s,
            **{name: histogram.percentile(fraction) for name, fraction in percentiles.items()},
            "max_ms": histogram.max_ms,
            "avg_ms": histogram.average_ms,
            "statuses": {"200": count - failures, "500": failures},
        },
        "per_request": {},
        "timeline": [],
        "latency_bins": [list(pair) for pair in histogram.bins()],
    }


def _record(
    decision: str = "GO",
    *,
    environment: str = ENV,
    minute: int = 0,
    outcomes: dict[str, str] | None = None,
    load: dict[str, Any] | None = None,
) -> dict[str, Any]:
    outcomes = outcomes if outcomes is not None else {HEALTH: "passed", SEARCH: "passed"}
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    blocking = [check for check, outcome in outcomes.items() if outcome != "passed"]
    record: dict[str, Any] = {
        "schema_version": 2,
        "decision": decision,
        "exit_code": {"GO": 0, "NO-GO": 1, "ROLLBACK": 3}[decision],
        "environment": environment,
        "environment_file": f"/x/{environment}.yaml",
        "started_at": f"2026-11-22T10:{minute:02d}:00.000+00:00",
        "finished_at": f"2026-11-22T10:{minute:02d}:59.500+00:00",
        "duration_s": 59.5,
        "interrupted": False,
        "reasons": [f"{check} failed (critical)" for check in blocking],
        "counts": counts,
        "blocking": blocking,
        "warnings": [],
        "triggers": [],
        "checks": [
            {
                "id": check,
                "area": "smoke",
                "outcome": outcome,
                "severity": "critical",
                "message": "" if outcome == "passed" else "expected 200, found 503",
                "duration_s": 0.01,
                "trigger": False,
                "waived": None,
                "evidence": None,
            }
            for check, outcome in outcomes.items()
        ],
    }
    if load is not None:
        record["load"] = load
    return record


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "reports" / "history.sqlite"


def _fill(path: Path, records: list[dict[str, Any]]) -> list[int]:
    with History.open(path) as history:
        return [history.append(record) for record in records]


# The history store


def test_a_run_reads_back_as_it_was_stored(path: Path) -> None:
    record = _record(load=_load([100.0] * 90 + [500.0] * 10, failures=2))
    with History.open(path) as history:
        run_id = history.append(record)
        stored = history.run(run_id)
    assert (stored.run_id, stored.environment, stored.decision) == (run_id, ENV, "GO")
    assert (stored.started_at, stored.duration_s, stored.exit_code) == (
        "2026-11-22T10:00:00.000+00:00",
        59.5,
        0,
    )
    assert stored.record == record
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        checks = db.execute("SELECT run_id, check_id, outcome, severity, duration_s FROM checks")
        assert sorted(checks) == [
            (run_id, HEALTH, "passed", "critical", 0.01),
            (run_id, SEARCH, "passed", "critical", 0.01),
        ]
        kpis = db.execute("SELECT p95_ms, rps, error_rate FROM runs").fetchone()
    assert kpis == (record["load"]["total"]["p95_ms"], 100 / 60, 0.02)


def test_runs_are_listed_newest_first_per_environment(path: Path) -> None:
    ids = _fill(
        path,
        [
            _record(minute=0),
            _record("NO-GO", minute=1, outcomes={HEALTH: "failed"}),
            _record(environment="staging", minute=2),
            _record(minute=3),
        ],
    )
    with History.open(path) as history:
        assert [run.run_id for run in history.runs(ENV)] == [ids[3], ids[1], ids[0]]
        assert [run.run_id for run in history.runs(ENV, limit=2)] == [ids[3], ids[1]]
        assert history.environments() == ["demo", "staging"]
        with pytest.raises(KeyError, match=rf"no run 99 in {path}"):
            history.run(99)


def test_last_go_skips_other_decisions_environments_and_later_runs(path: Path) -> None:
    first, _, _, _ = _fill(
        path,
        [
            _record("GO", minute=0),
            _record("NO-GO", minute=1, outcomes={HEALTH: "failed"}),
            _record("GO", environment="staging", minute=2),
            _record("ROLLBACK", minute=3),
        ],
    )
    with History.open(path) as history:
        last_go = history.last_go(ENV)
        assert last_go is not None and last_go.run_id == first
        current = history.append(_record("GO", minute=4))
        latest = history.last_go(ENV)
        assert latest is not None and latest.run_id == current
        before = history.last_go(ENV, before_run=current)
        assert before is not None and before.run_id == first
        assert history.last_go(ENV, before_run=first) is None
        assert history.last_go("production") is None


def test_a_tag_names_one_run_of_its_environment_and_moves_when_reused(path: Path) -> None:
    first, second, staging = _fill(
        path, [_record(minute=0), _record(minute=1), _record(environment="staging", minute=2)]
    )
    with History.open(path) as history:
        assert history.tagged(ENV, "v1.4") is None
        history.tag(first, "v1.4")
        tagged = history.tagged(ENV, "v1.4")
        assert tagged is not None and tagged.run_id == first
        history.tag(second, "v1.4")
        moved = history.tagged(ENV, "v1.4")
        assert moved is not None and moved.run_id == second
        history.tag(staging, "v1.4")  # another environment's name of the same spelling
        still = history.tagged(ENV, "v1.4")
        assert still is not None and still.run_id == second
        assert history.tagged("staging", "v1.4") is not None
        with pytest.raises(KeyError, match=rf"cannot tag run 42 as 'x': no run 42 in {path}"):
            history.tag(42, "x")
        for bad in ("last-go", "-x", "two words", ""):
            with pytest.raises(ValueError, match="expected 1 to 63 letters"):
                history.tag(first, bad)


def test_trend_has_the_reports_keys_oldest_first(path: Path) -> None:
    flaky = ["passed", "failed", "passed", "skipped", "passed"]  # 4 flips
    fixed = ["failed", "failed", "passed", "passed", "passed"]  # 1 flip: a fix, not flaky
    decisions = ["GO", "NO-GO", "GO", "ROLLBACK", "GO"]
    ids = _fill(
        path,
        [
            _record(
                decision,
                minute=i,
                outcomes={HEALTH: flaky[i], SEARCH: fixed[i], "test_xfail": "xfailed"},
                load=_load([100.0 + 10 * i] * 100) if i != 2 else None,
            )
            for i, decision in enumerate(decisions)
        ]
        + [_record(environment="staging")],
    )
    with History.open(path) as history:
        trend = history.trend(ENV)
        window = history.trend(ENV, limit=3)
        empty = history.trend("production")
    assert set(trend) == {"environment", "runs", "flaky", "decisions"}
    assert trend["environment"] == ENV
    assert [run["run_id"] for run in trend["runs"]] == ids[:5]
    first = trend["runs"][0]
    assert set(first) == {"run_id", "started_at", "decision", "duration_s", "not_passed", "kpis"}
    assert (first["started_at"], first["decision"], first["duration_s"]) == (
        "2026-11-22T10:00:00.000+00:00",
        "GO",
        59.5,
    )
    assert first["kpis"] == {
        "p95_ms": pytest.approx(100.0, rel=0.005),
        "rps": 100 / 60,
        "error_rate": 0.0,
    }
    assert trend["runs"][2]["kpis"] is None
    assert [run["not_passed"] for run in trend["runs"]] == [1, 2, 0, 1, 0]
    assert trend["flaky"] == [{"id": HEALTH, "flips": 4, "runs": 5, "last_outcome": "passed"}]
    assert trend["decisions"] == {"GO": 3, "NO-GO": 1, "ROLLBACK": 1}
    assert [run["run_id"] for run in window["runs"]] == ids[2:5]
    assert window["flaky"] == [{"id": HEALTH, "flips": 2, "runs": 3, "last_outcome": "passed"}]
    assert window["decisions"] == {"GO": 2, "NO-GO": 0, "ROLLBACK": 1}
    assert empty == {
        "environment": "production",
        "runs": [],
        "flaky": [],
        "decisions": {"GO": 0, "NO-GO": 0, "ROLLBACK": 0},
    }
    json.dumps(trend)  # plain data, for the HTML report


_APPENDER = """
import json, sys
from pathlib import Path
from gonogo.history import History

path, record, runs = Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
for n in range(runs):
    with History.open(path) as history:
        history.append(record | {"environment_file": f"{sys.argv[4]}-{n}"})
"""


def test_two_processes_appending_together_lose_no_run(path: Path) -> None:
    """Each opens the file per run, as gonogo does, and the first two race to create it."""
    runs = 40
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(path), json.dumps(_record()), str(runs), name],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 0, errors
    with History.open(path) as history:
        stored = history.runs(ENV, limit=1000)
    assert len(stored) == 2 * runs
    assert len({run.run_id for run in stored}) == 2 * runs
    assert sorted(run.record["environment_file"] for run in stored) == sorted(
        f"{name}-{n}" for name in ("a", "b") for n in range(runs)
    )
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM checks").fetchone() == (2 * 2 * runs,)


def test_two_connections_interleave_their_appends(path: Path) -> None:
    with History.open(path) as one, History.open(path) as other:
        ids = [history.append(_record(minute=n)) for n in range(6) for history in (one, other)]
        assert [run.run_id for run in other.runs(ENV, limit=100)] == sorted(ids, reverse=True)


def test_opening_waits_for_a_run_that_holds_the_new_file(path: Path) -> None:
    """Switching to WAL does not wait on SQLite's busy timeout by itself; opening must."""
    path.parent.mkdir(parents=True)
    with contextlib.closing(
        sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    ) as other:
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, other.execute, ("COMMIT",))
        release.start()
        try:
            with History.open(path) as history:
                assert history.runs(ENV) == []
        finally:
            release.join()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_history_from_a_newer_gonogo_is_refused(path: Path) -> None:
    _fill(path, [_record()])
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    with pytest.raises(HistoryError, match=rf"{path}: history schema version 2 was written by a"):
        History.open(path)


def test_a_file_that_is_not_a_history_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database, just notes\n" * 100)
    with pytest.raises(HistoryError, match=rf"{text}: expected a gonogo history \(SQLite\) file"):
        History.open(text)
    other = tmp_path / "other.sqlite"
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(HistoryError, match=r"found a SQLite database with other tables \(users\)"):
        History.open(other)


def test_a_record_without_a_decision_is_refused_with_the_field(path: Path) -> None:
    record = _record()
    del record["decision"]
    with History.open(path) as history:
        with pytest.raises(HistoryError, match=r"whose 'decision' is None; expected gonogo's"):
            history.append(record)
        with pytest.raises(HistoryError, match=r"decision is 'MAYBE'; expected one of GO, NO-GO"):
            history.append(record | {"decision": "MAYBE"})
        assert history.runs(ENV) == []


# gonogo history


@pytest.fixture
def small_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Four runs of demo, one of staging, in the default file of the current directory."""
    monkeypatch.chdir(tmp_path)
    outcomes = ["passed", "failed", "passed", "failed"]
    return _fill(
        tmp_path / "reports" / "history.sqlite",
        [
            _record(
                decision,
                minute=i,
                outcomes={HEALTH: outcomes[i], SEARCH: "passed"},
                load=_load([100.0 * (1 + i / 10)] * 600, failures=i),
            )
            for i, decision in enumerate(["GO", "NO-GO", "GO", "ROLLBACK"])
        ]
        + [_record(environment="staging", minute=9)],
    )


def test_history_lists_decisions_flaky_checks_and_kpis(
    small_history: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert history_cli.main([]) == 0
    out = capsys.readouterr().out
    one, two, three, four, staging = small_history
    assert out.splitlines()[:8] == [
        "demo: last 4 run(s), 2 GO, 1 NO-GO, 1 ROLLBACK",
        "  decisions, oldest first: GNGR",
        "",
        "  run  started                    decision  duration  not passed       p95     rps"
        "  errors",
        f"  {one:>3}  2026-11-22 10:00:00+00:00  GO          59.5 s           0  100.0 ms  10.0/s"
        "  0.00 %",
        f"  {two:>3}  2026-11-22 10:01:00+00:00  NO-GO       59.5 s           1  110.0 ms  10.0/s"
        "  0.17 %",
        f"  {three:>3}  2026-11-22 10:02:00+00:00  GO          59.5 s           0  120.0 ms"
        "  10.0/s  0.33 %",
        f"  {four:>3}  2026-11-22 10:03:00+00:00  ROLLBACK    59.5 s           1  130.0 ms"
        "  10.0/s  0.50 %",
    ]
    assert (
        "  flaky checks (flipped between passed and not passed at least twice):\n"
        f"    {HEALTH}  3 flips in 4 runs, last failed\n"
        "  load KPIs over the 4 run(s) with a load stage:\n"
        "    p95         ▁▃▆█  100.0 ms -> 130.0 ms\n"
        "    throughput  ▅▅▅▅  10.0/s -> 10.0/s\n"
        "    error rate  ▁▃▆█  0.00 % -> 0.50 %\n"
    ) in out
    assert out.endswith(
        "staging: last 1 run(s), 1 GO, 0 NO-GO, 0 ROLLBACK\n"
        "  decisions, oldest first: G\n"
        "\n"
        "  run  started                    decision  duration  not passed  p95  rps  errors\n"
        f"  {staging:>3}  2026-11-22 10:09:00+00:00  GO          59.5 s           0    -    -"
        "       -\n"
        "\n"
        "  flaky checks: none\n"
        "  load KPIs: no load stage in these runs\n"
    )


def test_history_json_is_the_trend_of_each_environment(
    small_history: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert history_cli.main(["--json", "--env", "demo", "--limit", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    with History.open(tmp_path / "reports" / "history.sqlite") as history:
        assert printed == [history.trend(ENV, limit=2)]
    assert [run["run_id"] for run in printed[0]["runs"]] == small_history[2:4]


def test_history_of_an_unknown_environment_names_the_known_ones(
    small_history: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert history_cli.main(["--env", "production"]) == 1
    error = capsys.readouterr().err
    assert "gonogo history: no runs of environment 'production' in " in error
    assert error.endswith("history.sqlite; runs recorded for: demo, staging\n")


def test_history_tag_names_a_baseline(
    small_history: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "elsewhere.sqlite"
    (tmp_path / "reports" / "history.sqlite").rename(file)
    run_id = small_history[2]
    assert history_cli.main(["tag", str(run_id), "v1.4", "--file", str(file)]) == 0
    assert capsys.readouterr().out == (
        f"run {run_id} of demo tagged 'v1.4'; an environment file's"
        " `baseline: {against: v1.4}` compares later runs with it\n"
    )
    with History.open(file) as history:
        tagged = history.tagged(ENV, "v1.4")
    assert tagged is not None and tagged.run_id == run_id
    assert history_cli.main(["tag", "999", "v1.4", "--file", str(file)]) == 1
    assert capsys.readouterr().err == (
        f"gonogo history: cannot tag run 999 as 'v1.4': no run 999 in {file};"
        " `gonogo history` lists the runs\n"
    )


def test_history_without_a_file_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert history_cli.main([]) == 1
    assert history_cli.main(["tag", "1", "v1"]) == 1
    errors = capsys.readouterr().err.splitlines()
    expected = f"gonogo history: no history file at {tmp_path / 'reports' / 'history.sqlite'}:"
    assert [line.startswith(expected) for line in errors] == [True, True]
    assert not (tmp_path / "reports").exists()


# Baseline: KPI limits


@pytest.mark.parametrize(
    ("rule", "current", "baseline", "regressed", "detail"),
    [
        (
            BaselineKpi(kpi="p95_ms", max_increase_pct=20),
            612,
            480,
            True,
            "p95_ms 612 ms vs 480 ms in run 17 (+27.5 %), limit +20 %",
        ),
        (
            BaselineKpi(kpi="p95_ms", max_increase_pct=20),
            576,  # exactly +20 %: equality passes, float rounding or not
            480,
            False,
            "p95_ms 576 ms vs 480 ms in run 17 (+20.0 %), limit +20 %",
        ),
        (
            BaselineKpi(kpi="rps", max_decrease_pct=20),
            79.5,
            100,
            True,
            "rps 79.5 requests/s vs 100 requests/s in run 17 (-20.5 %), limit -20 %",
        ),
        (
            BaselineKpi(kpi="rps", max_decrease_pct=20),
            80,
            100,
            False,
            "rps 80 requests/s vs 100 requests/s in run 17 (-20.0 %), limit -20 %",
        ),
        (
            BaselineKpi(kpi="error_rate", max_increase=0.01),
            0.016,
            0.005,
            True,
            "error_rate 1.6 % vs 0.5 % in run 17 (+220.0 %, +1.1 percentage points),"
            " limit +1 percentage point",
        ),
        (
            BaselineKpi(kpi="error_rate", max_increase=0.01),
            0.01,
            0.0,
            False,
            "error_rate 1 % vs 0 % in run 17 (up from 0, +1 percentage point),"
            " limit +1 percentage point",
        ),
        (
            BaselineKpi(kpi="error_rate", max_increase_pct=50),
            0.001,
            0.0,  # any rise from 0 is an infinite one
            True,
            "error_rate 0.1 % vs 0 % in run 17 (up from 0), limit +50 %",
        ),
        (
            BaselineKpi(kpi="p99_ms", max_increase_pct=50, max_increase=80),
            290,  # within +50 % but not within +80 ms: each limit applies
            200,
            True,
            "p99_ms 290 ms vs 200 ms in run 17 (+45.0 %, +90 ms), limits +50 % and +80 ms",
        ),
    ],
)
def test_compare_kpi_applies_each_limit(
    rule: BaselineKpi, current: float, baseline: float, regressed: bool, detail: str
) -> None:
    comparison = compare_kpi(rule, current, baseline, baseline_run=17)
    assert (comparison.kpi, comparison.current, comparison.baseline) == (
        rule.kpi,
        current,
        baseline,
    )
    assert comparison.regressed is regressed
    assert comparison.detail == detail
    if baseline == 0:
        assert comparison.change_pct is None


def test_compare_kpi_without_a_run_id_leaves_it_out() -> None:
    rule = BaselineKpi(kpi="avg_ms", max_increase_pct=10)
    assert compare_kpi(rule, 100, 100).detail == "avg_ms 100 ms vs 100 ms (+0.0 %), limit +10 %"


# Baseline: Mann-Whitney U


def test_mann_whitney_u_on_a_hand_computed_example() -> None:
    """Baseline 1 2 3, current 2 4 5. Pairs where current is slower: 2 beats 1 and ties 2
    (1.5), 4 and 5 beat all three (3 + 3): U = 7.5. Mean n1·n2/2 = 4.5; one tie of two, so
    σ² = 9/12 · (7 - 6/30) = 5.1; z = (7.5 - 4.5 - 0.5)/√5.1 = 1.10702; p = 0.13414."""
    result = mann_whitney_u([(1, 1), (2, 1), (3, 1)], [[2, 1], [4, 1], [5, 1]])
    assert (result.n_baseline, result.n_current, result.u) == (3, 3, 7.5)
    assert result.z == pytest.approx(2.5 / math.sqrt(5.1), rel=1e-12)
    assert result.p_value == pytest.approx(0.1341429418, rel=1e-9)
    assert (result.baseline_median_ms, result.current_median_ms) == (2.0, 4.0)
    assert result.enough_samples


def _brute_force(baseline: list[int], current: list[int]) -> tuple[float, float, float]:
    """U by counting every pair, z from ranks of the pooled sample and the textbook variance."""
    u = sum((y > x) + 0.5 * (y == x) for x in baseline for y in current)
    pooled = sorted(baseline + current)
    ties = [pooled.count(value) for value in set(pooled)]
    rank = {value: pooled.index(value) + (pooled.count(value) + 1) / 2 for value in set(pooled)}
    n1, n2, n = len(baseline), len(current), len(pooled)
    assert u == sum(rank[y] for y in current) - n2 * (n2 + 1) / 2
    variance = n1 * n2 / 12 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1)))
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return u, z, 0.5 * math.erfc(z / math.sqrt(2))


def _bins(values: list[int]) -> list[tuple[float, int]]:
    return [(float(value), values.count(value)) for value in sorted(set(values))]


@pytest.mark.parametrize("seed", range(25))
def test_mann_whitney_u_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    baseline = [rng.randint(1, 12) for _ in range(rng.randint(2, 40))]
    current = [rng.randint(1 + seed % 4, 14) for _ in range(rng.randint(2, 40))]
    u, z, p = _brute_force(baseline, current)
    result = mann_whitney_u(_bins(baseline), _bins(current))
    assert result.u == u
    assert result.z == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.baseline_median_ms == statistics.median(baseline)
    assert result.current_median_ms == statistics.median(current)


def test_mann_whitney_u_degenerate_cases() -> None:
    empty = mann_whitney_u([], [(100.0, 5)])
    assert not empty.enough_samples
    assert (empty.n_baseline, empty.n_current, empty.p_value) == (0, 5, 1.0)
    assert (empty.baseline_median_ms, empty.current_median_ms) == (None, 100.0)
    zero_counts = mann_whitney_u([(100.0, 3)], [(100.0, 0)])
    assert not zero_counts.enough_samples
    tied = mann_whitney_u([(100.0, 3)], [(100.0, 7)])
    assert tied.enough_samples
    assert (tied.u, tied.p_value) == (10.5, 1.0)
    with pytest.raises(ValueError, match=r"latency bin at 5 ms: expected a whole count >= 0"):
        mann_whitney_u([(5, -1)], [(5, 1)])


def _latencies(rng: random.Random, n: int, median_ms: float) -> Histogram:
    histogram = Histogram()
    for _ in range(n):
        histogram.record(rng.lognormvariate(math.log(median_ms), 0.4))
    return histogram


def test_a_30_percent_slower_run_is_a_latency_regression() -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not secrets
    baseline, current = _latencies(rng, 20_000, 100.0), _latencies(rng, 20_000, 130.0)
    comparison = latency_regression(LatencyTest(), baseline.bins(), current.bins(), baseline_run=17)
    assert comparison.regressed
    assert comparison.shift_pct == pytest.approx(30, abs=2)
    assert comparison.test.p_value < 1e-100
    median_now, median_then = comparison.test.current_median_ms, comparison.test.baseline_median_ms
    assert comparison.detail.startswith(f"median latency {median_now:.4g} ms vs {median_then:.4g}")
    assert "in run 17 (+" in comparison.detail
    assert "(below alpha 0.01); 20000 samples in this run, 20000 in run 17" in comparison.detail


def test_two_runs_of_one_distribution_are_no_regression() -> None:
    rng = random.Random(11)  # noqa: S311 - reproducible test data, not secrets
    baseline, current = _latencies(rng, 20_000, 100.0), _latencies(rng, 20_000, 100.0)
    comparison = latency_regression(LatencyTest(), baseline.bins(), current.bins())
    assert not comparison.regressed
    assert comparison.test.p_value > 0.01
    assert comparison.shift_pct is not None and abs(comparison.shift_pct) < 3
    assert "(not below alpha 0.01)" in comparison.detail


def test_a_significant_but_small_shift_is_no_regression() -> None:
    rng = random.Random(3)  # noqa: S311 - reproducible test data, not secrets
    baseline, current = _latencies(rng, 50_000, 100.0), _latencies(rng, 50_000, 105.0)
    comparison = latency_regression(LatencyTest(), baseline.bins(), current.bins())
    assert comparison.test.p_value < 0.01
    assert comparison.shift_pct is not None and comparison.shift_pct < 10
    assert not comparison.regressed


def test_a_latency_test_without_baseline_samples_is_skipped() -> None:
    comparison = latency_regression(LatencyTest(), [], [(100.0, 10)], baseline_run=3)
    assert not comparison.regressed
    assert comparison.detail == (
        "latency test skipped: not enough samples (10 in this run, 0 in run 3)"
    )


def test_mann_whitney_u_on_a_million_samples_per_side_runs_on_the_bins() -> None:
    rng = random.Random(5)  # noqa: S311 - reproducible test data, not secrets
    baseline, current = _latencies(rng, 10_000, 100.0), _latencies(rng, 10_000, 104.0)
    # Every bucket's count times 100: a million responses per side, as many bins as before.
    result = mann_whitney_u(
        [(value, count * 100) for value, count in baseline.bins()],
        [(value, count * 100) for value, count in current.bins()],
    )
    assert (result.n_baseline, result.n_current) == (1_000_000, 1_000_000)
    assert result.p_value < 1e-6
