"""A copy of the gonogo suite (checks, fixtures, root conftest) in a pytester scratch project,
for tests that run the suite in process against environment files they write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """The suite's checks and fixtures with the project's pytest settings, and no environments."""
    for name in ("checks", "fixtures"):
        shutil.copytree(
            REPO / name, pytester.path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "conftest.py", pytester.path / "conftest.py")
    pytester.makeini(
        "[pytest]\n"
        "testpaths = checks\n"
        "addopts = --strict-markers -p no:cacheprovider\n"
        "xfail_strict = true\n"
        "filterwarnings = error\n"
    )
    (pytester.path / "environments").mkdir()
    return pytester


def write_env(suite: pytest.Pytester, name: str, text: str) -> Path:
    path = suite.path / "environments" / f"{name}.yaml"
    path.write_text(text)
    return path


def decision(suite: pytest.Pytester) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((suite.path / "reports" / "decision.json").read_text())
    return record
