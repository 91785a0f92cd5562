"""The pytest plugin: `--env`, target parametrization, redaction, the gate and its reports.

Hooks appear in lifecycle order. The environment is validated once, in `pytest_configure`,
so a broken file stops the run before any test; the gate runs once, on the controlling
process, after every worker's reports are in.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from gonogo import hookspecs
from gonogo._gate_session import DECISION_FILE, GateSession, RunState
from gonogo._run_budget import RunBudget, grace_s
from gonogo.command_line import command_line_problem
from gonogo.durations import parse_duration
from gonogo.environment import (
    API_SECTIONS,
    EDGE_SECTIONS,
    INSIDE_SECTIONS,
    Environment,
    Severity,
    Wait,
)
from gonogo.environment_file import (
    LoadedEnvironment,
    available_environments,
    load_environment,
    resolve_environment_path,
    with_watch,
)
from gonogo.errors import GonogoError
from gonogo.probes.dependencies import missing_drivers
from gonogo.redaction import redact_log_records
from gonogo.targets import TARGETS

NOT_APPLICABLE = "gonogo_not_applicable"
_SPENDS_ALLOWANCE = "rate_limit"
_WATCHES = "watch_entry"
_WAITS = "wait"
JUNIT_FILE = "junit.xml"
HISTORY_FILE = "history.sqlite"


_RUN = pytest.StashKey[RunState]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gonogo", "deployment verification")
    group.addoption(
        "--env",
        dest="gonogo_env",
        metavar="NAME|FILE",
        help="environment to verify: a name in the environments directory, or a YAML file",
    )
    group.addoption(
        "--report-dir",
        "--gonogo-report-dir",
        dest="gonogo_report_dir",
        metavar="DIR",
        help="where decision.json and junit.xml go (default: ini gonogo_report_dir or reports/)",
    )
    group.addoption(
        "--allow-load",
        dest="gonogo_allow_load",
        action="store_true",
        help="let the load stage run against a protected environment whose load section "
        "also allows it (both are required)",
    )
    group.addoption(
        "--watch",
        dest="gonogo_watch",
        metavar="DURATION",
        type=_duration_option,
        help="watch window after the checks (30s, 10m): re-run the watch checks every interval "
        "and fire rollback triggers; overrides the environment's watch.duration, 0 skips it",
    )
    group.addoption(
        "--max-duration",
        dest="gonogo_max_duration",
        metavar="DURATION",
        type=_duration_option,
        help="the whole run's time budget (90s, 10m; default: the environment's "
        "defaults.max_duration, 30m): past it no check starts, and a run still busy after a "
        "grace period is interrupted",
    )
    group.addoption(
        "--rollback",
        dest="gonogo_rollback",
        action="store_true",
        help="on ROLLBACK, run the environment's rollback hook and verify again afterwards",
    )
    group.addoption(
        "--history",
        dest="gonogo_history",
        metavar="FILE",
        help="SQLite run history for trends and baselines (default: ini gonogo_history, "
        f"else REPORT_DIR/{HISTORY_FILE}); 'none' keeps no history",
    )
    group.addoption(
        "--gonogo-post-rollback",
        dest="gonogo_post_rollback",
        action="store_true",
        help=argparse.SUPPRESS,  # the verification run after a rollback hook: no hook, no history
    )
    parser.addini(
        "gonogo_environments_dir",
        "directory holding NAME.yaml environment files for --env NAME",
        default="environments",
    )
    parser.addini("gonogo_report_dir", "default directory for gonogo reports", default="reports")
    parser.addini("gonogo_history", "SQLite file of the run history", default="")


def _duration_option(value: str) -> float:
    try:
        return parse_duration(value.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smoke: fast post-deploy checks that the service answers")
    config.addinivalue_line("markers", "load: the load stage (Locust run judged against KPIs)")
    config.addinivalue_line(
        "markers", "edge: what a client sees from outside: ports, TLS, redirects, headers"
    )
    config.addinivalue_line(
        "markers", "inside: containers, hosts, firewall policy and reachability from inside"
    )
    config.addinivalue_line(
        "markers", "e2e: declarative API flows, step by step, cleaning up after themselves"
    )
    config.addinivalue_line(
        "markers", "metrics: Prometheus queries held to bounds, and alert rules not firing"
    )
    config.addinivalue_line(
        "markers", "watch: the watch window, re-measuring after the checks (rollback triggers)"
    )
    config.addinivalue_line("markers", "critical: a failure of this check is always NO-GO")
    config.addinivalue_line("markers", f"{NOT_APPLICABLE}: the environment declares no target")
    rootpath = config.rootpath
    environments_dir = rootpath / str(config.getini("gonogo_environments_dir"))
    report_dir = Path(
        config.getoption("gonogo_report_dir") or rootpath / str(config.getini("gonogo_report_dir"))
    ).resolve()
    loaded, budget = None, None
    choice = config.getoption("gonogo_env")
    if choice and not _is_worker(config):
        # A run refused below writes no record: an earlier run's GO must not stand in for it.
        (report_dir / DECISION_FILE).unlink(missing_ok=True)
    if choice:
        try:
            path = resolve_environment_path(choice, environments_dir)
            loaded = load_environment(path, os.environ)
        except GonogoError as exc:
            raise pytest.UsageError(f"gonogo: {exc}") from None
        # A declared dependency nobody can probe is an error now, never a skip that says GO.
        missing = missing_drivers(loaded.environment.dependencies)
        if missing:
            raise pytest.UsageError(f"gonogo: {path}: " + "; ".join(missing))
        watch_s = config.getoption("gonogo_watch")
        if watch_s is not None:
            try:
                loaded = with_watch(loaded, watch_s)
            except GonogoError as exc:
                raise pytest.UsageError(f"gonogo: --watch: {exc}") from None
        budget = _run_budget(config, loaded)
        # httpx logs every URL it requests, query string and all, to live logs and log files.
        config.add_cleanup(redact_log_records(loaded.redactor))
    problem = command_line_problem(config, loaded.environment if loaded else None)
    if problem:
        raise pytest.UsageError(f"gonogo: {problem}")
    config.stash[_RUN] = RunState(
        loaded=loaded,
        budget=budget,
        report_dir=report_dir,
        environments_dir=environments_dir,
        history_file=_history_file(config, report_dir),
        post_rollback=bool(config.getoption("gonogo_post_rollback")),
        rollback_enabled=bool(config.getoption("gonogo_rollback")),
    )
    if loaded is not None and not _is_worker(config) and not config.option.xmlpath:
        config.option.xmlpath = str(report_dir / JUNIT_FILE)


def _run_budget(config: pytest.Config, loaded: LoadedEnvironment) -> RunBudget:
    """The run's time budget, registered on this process; a budget too short for the load run
    and the watch window is a usage error, not a run that cannot but fail."""
    environment = loaded.environment
    seconds = config.getoption("gonogo_max_duration")
    source = "--max-duration"
    if seconds is None:
        seconds, source = environment.defaults.max_duration, "defaults.max_duration"
    shortfall = environment.budget_shortfall(seconds)
    if shortfall:
        raise pytest.UsageError(f"gonogo: {source}: {shortfall}")
    budget = RunBudget(config, seconds, source, grace_s(environment.defaults.timeout_s))
    config.pluginmanager.register(budget, "gonogo-budget")
    return budget


def _history_file(config: pytest.Config, report_dir: Path) -> Path | None:
    chosen = config.getoption("gonogo_history") or str(config.getini("gonogo_history"))
    if chosen == "none":
        return None
    return Path(chosen).resolve() if chosen else report_dir / HISTORY_FILE


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash[_RUN]
    if run.loaded is None:
        return []
    env = run.loaded.environment
    wait = (
        f"{env.wait.attempts} x {env.wait.interval_s:g} s on {env.wait.check}"
        if env.wait
        else "none"
    )
    lines = [
        f"gonogo: environment {env.name} ({run.loaded.path})"
        + (" [protected]" if env.protected else ""),
        f"gonogo: {len(env.smoke)} smoke checks; wait {wait}; timeout {env.defaults.timeout_s:g} s;"
        f" NO-GO on {', '.join(env.gate.block_on)} failures",
        f"gonogo: reports in {run.report_dir}",
    ]
    stages = (("api", API_SECTIONS), ("inside", INSIDE_SECTIONS), ("edge", EDGE_SECTIONS))
    for stage, sections in stages:
        counts = [f"{section} {len(getattr(env, section))}" for section in sections]
        counts = [entry for entry in counts if not entry.endswith(" 0")]
        if counts:
            lines.insert(2, f"gonogo: {stage} entries: {', '.join(counts)}")
    return [run.loaded.redactor.redact(line) for line in lines]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    loaded = metafunc.config.stash[_RUN].loaded
    for name in TARGETS.keys() & set(metafunc.fixturenames):
        if loaded is None:
            # Collection must not fail here (it would be reported as a collection error);
            # pytest_collection_modifyitems turns this into a usage error.
            metafunc.parametrize(name, [None], ids=["no-env"])
            continue
        targets = TARGETS[name](loaded.environment)
        if targets:
            # An entry without a name is known by its URL, which may carry a key.
            ids = [loaded.redactor.redact(_target_id(t)) for t in targets]
            metafunc.parametrize(name, targets, ids=ids)
        else:
            mark = getattr(pytest.mark, NOT_APPLICABLE)
            metafunc.parametrize(name, [pytest.param(None, marks=mark)], ids=["none"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash[_RUN]
    if run.loaded is None:
        uses_env = {"environment", "loaded_environment", *TARGETS}
        needs_env = [i for i in items if uses_env & set(getattr(i, "fixturenames", ()))]
        if needs_env:
            names = ", ".join(available_environments(run.environments_dir)) or "none found"
            raise pytest.UsageError(
                f"gonogo: {len(needs_env)} checks need an environment: run pytest --env NAME "
                f"(available in {run.environments_dir}: {names}) or --env path/to/file.yaml"
            )
        return
    not_applicable = [i for i in items if i.get_closest_marker(NOT_APPLICABLE)]
    if not_applicable:
        config.hook.pytest_deselected(items=not_applicable)
        items[:] = [i for i in items if not i.get_closest_marker(NOT_APPLICABLE)]
    # Readiness goes first, so the wait is charged to the check that waits, not to whichever
    # check needed readiness first. A rate-limit burst spends the limit's allowance: the rest
    # of the run goes before it. The watch window comes last of all: it watches the deployment
    # the other checks judged.
    items.sort(
        key=lambda item: (
            _WAITS not in getattr(item, "fixturenames", ()),
            _WATCHES in getattr(item, "fixturenames", ()),
            _SPENDS_ALLOWANCE in getattr(item, "fixturenames", ()),
        )
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach severity and the finding to the report, shorten it, and mask secrets, here on
    the process that ran the test, so nothing unmasked ever travels to xdist's controller."""
    report = yield
    loaded = item.config.stash[_RUN].loaded
    if loaded is None:
        return report
    redact = loaded.redactor.redact
    properties = [
        (k, loaded.redactor.redact_data(v)) if k == "gonogo_evidence" else (k, v)
        for k, v in report.user_properties
        if k not in ("gonogo_severity", "gonogo_message")
    ]
    properties.append(("gonogo_severity", _severity(item, loaded.environment)))
    pending = item.config.stash[_RUN].pending_fingerprint
    if pending:
        # Facts seen while this phase ran travel with its report, like evidence does.
        properties.append(("gonogo_fingerprint", loaded.redactor.redact_data(pending)))
        pending.clear()
    if call.excinfo is not None:
        finding = redact(_finding(call.excinfo))
        properties.append(("gonogo_message", finding))
        if report.failed and _is_finding(call.excinfo, item.config):
            # The check's message is the whole finding; a traceback would only bury it.
            report.longrepr = (
                f"{item.location[0]}:{call.excinfo.traceback[-1].lineno + 1}: {finding}"
            )
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason), kept in shape
        path, line, reason = report.longrepr
        report.longrepr = (path, line, redact(reason))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        if loaded.redactor.contains_secret(text):
            report.longrepr = redact(text)
    report.sections = [(title, redact(body)) for title, body in report.sections]
    report.user_properties = properties
    return report


def _finding(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The operator-facing sentence of an exception, without pytest's assertion explanation."""
    exc = excinfo.value
    if isinstance(exc, AssertionError):
        return str(exc).split("\nassert ")[0].strip() or "assertion failed"
    if isinstance(exc, GonogoError):
        return str(exc)
    message = getattr(exc, "msg", None)  # pytest's fail/skip/xfail outcomes
    if isinstance(message, str):
        return message
    return f"{type(exc).__name__}: {exc}"


def _is_finding(excinfo: pytest.ExceptionInfo[BaseException], config: pytest.Config) -> bool:
    """Findings (assertions, our errors) read best alone; other exceptions are bugs and keep
    their traceback, and so does everything when the user asked for a traceback style."""
    default_style = config.getoption("tbstyle", "auto") == "auto"
    return default_style and isinstance(excinfo.value, AssertionError | GonogoError)


def pytest_sessionstart(session: pytest.Session) -> None:
    run = session.config.stash[_RUN]
    if run.loaded is not None and not _is_worker(session.config):
        session.config.pluginmanager.register(GateSession(run, run.loaded), "gonogo-gate")


def _severity(item: pytest.Item, environment: Environment) -> Severity:
    """The target's own severity, else a `critical` marker, else the environment default."""
    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec else ():
        severity = getattr(value, "severity", None)
        if severity is not None:
            return severity  # type: ignore[no-any-return]
        if isinstance(value, Wait):
            return "critical"
    if item.get_closest_marker("critical"):
        return "critical"
    return environment.defaults.severity


def _target_id(target: object) -> str:
    for attribute in ("label", "name", "check"):
        value = getattr(target, attribute, None)
        if value:
            return str(value)
    return str(target)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def report_dir(config: pytest.Config) -> Path:
    """Where this run's reports go (--report-dir, ini, or reports/)."""
    return config.stash[_RUN].report_dir


def record_load_kpis(config: pytest.Config, kpis: dict[str, Any]) -> None:
    """Hand the load stage's KPIs to the decision record, where rollback triggers and baseline
    comparisons read them."""
    config.stash[_RUN].load = kpis


def record_watch(config: pytest.Config, watch: dict[str, Any]) -> None:
    """Hand the watch window's timeline to the decision record and the HTML report."""
    config.stash[_RUN].watch = watch


def record_fingerprint(config: pytest.Config, facts: dict[str, str]) -> None:
    """Add what a probe saw (gonogo.fingerprint) to the run's fingerprint, which the decision
    record and the history keep for `gonogo diff --last`. Held on the process that probed
    until its next test report carries it to the controlling process."""
    config.stash[_RUN].pending_fingerprint.update(facts)


def time_left(config: pytest.Config) -> float | None:
    """Seconds left of the run's time budget, for a stage that should not start unless it can
    finish within it (the load run); None without an environment."""
    budget = config.stash[_RUN].budget
    return None if budget is None else budget.seconds_left()


def history_file(config: pytest.Config) -> Path | None:
    """The run history's SQLite file, or None when the run keeps no history."""
    return config.stash[_RUN].history_file


class Evidence:
    """What a check measured, against what, and what it saw: the decision record and the HTML
    report show it beside the finding. `trigger=True` marks a failure as a rollback trigger."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    def __call__(
        self,
        *,
        measured: str | float | None = None,
        threshold: str | float | None = None,
        detail: str | None = None,
        trigger: bool = False,
    ) -> None:
        properties = self._item.user_properties
        properties[:] = [(k, v) for k, v in properties if k != "gonogo_evidence"]
        evidence = {"measured": measured, "threshold": threshold, "detail": detail}
        properties.append(("gonogo_evidence", evidence))
        if trigger:
            properties.append(("gonogo_trigger", True))


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record a check's measured value, threshold and evidence (see `Evidence`)."""
    return Evidence(request.node)


@pytest.fixture(scope="session")
def loaded_environment(pytestconfig: pytest.Config) -> LoadedEnvironment:
    """The environment chosen with --env, with its file path and its redactor."""
    loaded = pytestconfig.stash[_RUN].loaded
    if loaded is None:
        pytest.fail("gonogo: no environment selected; run pytest --env NAME", pytrace=False)
    return loaded


@pytest.fixture(scope="session")
def environment(loaded_environment: LoadedEnvironment) -> Environment:
    """The validated expectations of the environment under test."""
    return loaded_environment.environment
