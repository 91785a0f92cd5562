"""Command-line misuse refused before anything runs: pytest accepts each of these silently
and then verifies something other than what the user meant.

- `--env` given twice: argparse keeps the last one, so a stale `--env` in PYTEST_ADDOPTS or a
  script would quietly verify the wrong deployment. The same file twice is no ambiguity and
  passes; two different files are an error. (`addopts` in the ini file is a project default
  the command line may override, so it is not counted.)
- An unknown marker in `-m` (`-m smokee`): pytest deselects every check without a word, and
  the run reports that nothing was verified instead of the typo that caused it.
- `-n N` (pytest-xdist) when the load stage would run: Locust cannot run on an xdist worker.
  The load fixture fails the check there too; this says so before any check starts.
"""

from __future__ import annotations

import os
import re
import shlex
from difflib import get_close_matches

import pytest

from gonogo.environment import Environment
from gonogo.environment_file import resolve_environment_path
from gonogo.errors import GonogoError

__all__ = ["GONOGO_MARKERS", "command_line_problem", "marker_names"]

GONOGO_MARKERS = ("smoke", "edge", "inside", "e2e", "metrics", "load", "watch", "critical")
# Registered by pytest's own plugins, whose pytest_configure runs after gonogo's.
PYTEST_MARKERS = frozenset(
    {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings"}
    | {"tryfirst", "trylast", "xdist_group"}
)
LOAD_DIRECTORY = "load"  # where the suite keeps the load stage (its checks carry `load`)

# The tokens of a -m expression, as pytest's grammar has them (_pytest/mark/expression.py).
_TOKEN = re.compile(
    r"""\s+|(?P<string>'[^']*'|"[^"]*")|(?P<punct>[(),=])|(?P<word>[\w:+\-.\[\]\\/]+)"""
)
_OPERATORS = frozenset({"and", "or", "not"})


def command_line_problem(config: pytest.Config, environment: Environment | None) -> str | None:
    """What is wrong with how pytest was invoked, in one sentence, or None."""
    if hasattr(config, "workerinput"):
        return None  # the controlling process has already judged the command line
    if environment is None:
        return None  # no --env: not a gonogo run, and pytest's own rules for -m stand
    return (
        _env_given_twice(config)
        or _unknown_marker(config)
        or _load_under_xdist(config, environment)
    )


def marker_names(expression: str) -> list[str]:
    """The marker names a -m expression tests: not its operators, not the keyword arguments
    of `marker(key="value")`, nothing inside quotes."""
    names: list[str] = []
    previous: tuple[str | None, str] = (None, "")
    in_call = False
    for match in _TOKEN.finditer(expression):
        kind, text = match.lastgroup, match.group()
        if kind is None:
            continue  # white space
        if in_call:
            in_call = text != ")"
        elif text == "(" and previous[0] == "word" and previous[1] not in _OPERATORS:
            in_call = True
        elif kind == "word" and text not in _OPERATORS:
            names.append(text)
        previous = (kind, text)
    return names


def _env_given_twice(config: pytest.Config) -> str | None:
    given = [(value, "on the command line") for value in _env_values(config.invocation_params.args)]
    try:
        addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    except ValueError:
        addopts = []  # pytest has refused an unbalanced quote already
    given = [(value, "in PYTEST_ADDOPTS") for value in _env_values(addopts)] + given
    if len(given) < 2 or len({_environment_file(config, value) for value, _ in given}) == 1:
        return None
    shown = ", ".join(f"{value} {where}" for value, where in given)
    return (
        f"--env given {len(given)} times ({shown}): pytest would silently verify the last one; "
        "give --env once"
    )


def _env_values(args: tuple[str, ...] | list[str]) -> list[str]:
    values = []
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--env" and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg.startswith("--env="):
            values.append(arg.removeprefix("--env="))
    return values


def _environment_file(config: pytest.Config, value: str) -> str:
    """The file an --env value names, so `staging` and `environments/staging.yaml` agree."""
    directory = config.rootpath / str(config.getini("gonogo_environments_dir"))
    try:
        return str(resolve_environment_path(value, directory))
    except GonogoError:
        return value


def _unknown_marker(config: pytest.Config) -> str | None:
    expression = str(config.getoption("markexpr", "") or "")
    registered = {
        re.split(r"[:(]", line, maxsplit=1)[0].strip() for line in config.getini("markers")
    }
    known = registered | PYTEST_MARKERS
    for name in marker_names(expression):
        if name in known:
            continue
        close = get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"-m {expression!r}: unknown marker {name!r}{hint}; it would deselect every check "
            f"(pytest does not check -m names). gonogo's markers: {', '.join(GONOGO_MARKERS)}; "
            "a marker of another plugin must be listed in the `markers` ini option"
        )
    return None


def _load_under_xdist(config: pytest.Config, environment: Environment) -> str | None:
    if environment.load is None or config.getoption("collectonly"):
        return None
    workers = config.getoption("numprocesses", None)
    if not workers and not config.getoption("tx", None):
        return None
    expression = str(config.getoption("markexpr", "") or "")
    if config.getoption("keyword", "") or not _selects_load(expression):
        return None  # -k names tests; only collection could tell, and the fixture still refuses
    if not _collects_load(config):
        return None
    rest = f"({expression}) and not load" if expression else "not load"
    return (
        f"-n {workers or config.getoption('tx')}: the load stage cannot run on pytest-xdist "
        f"workers (Locust needs a process of its own, and the environment has a load section); "
        f"run the load stage alone with -m load, and the rest with -n {workers or 'N'} "
        f"-m '{rest}'"
    )


def _selects_load(expression: str) -> bool:
    """Whether `-m expression` keeps the load stage's checks, which carry the `load` marker."""
    if not expression:
        return True
    from _pytest.mark.expression import Expression

    try:
        compiled = Expression.compile(expression)
    except Exception:  # pytest reports a malformed -m itself
        return False

    def matcher(name: str, /, **kwargs: object) -> bool:
        return name == "load" and not kwargs

    return compiled.evaluate(matcher)


def _collects_load(config: pytest.Config) -> bool:
    """Whether the paths pytest collects include the load stage's directory."""
    load = (config.rootpath / LOAD_DIRECTORY).resolve()
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == load or path in load.parents or load in path.parents:
            return True
    return False
