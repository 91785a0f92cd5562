"""A smoke check's answer judged in one call, for the watch window, which re-asks the same
question every interval and needs one verdict per answer rather than one test per aspect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gonogo.environment import SmokeCheck
from gonogo.json_paths import MISSING, lookup
from gonogo.probes.http import HttpResponse

__all__ = ["json_field_problems", "smoke_problems"]


def smoke_problems(check: SmokeCheck, response: HttpResponse) -> list[str]:
    """Everything wrong with the answer (status, JSON fields, latency); empty when it passes."""
    expect = check.expect
    if response.status not in expect.status:
        expected = " or ".join(str(code) for code in expect.status)
        return [f"status {response.status}, expected {expected}; body: {response.excerpt(120)}"]
    problems = []
    if expect.json_fields:
        try:
            document = response.json()
        except ValueError as exc:
            return [f"expected a JSON body, {exc}; body: {response.excerpt(120)}"]
        problems += json_field_problems(expect.json_fields, document)
    if expect.latency_ms is not None and response.elapsed_ms > expect.latency_ms:
        problems.append(
            f"answered in {response.elapsed_ms:.0f} ms, budget {expect.latency_ms:g} ms"
        )
    return problems


def json_field_problems(expected: Mapping[str, Any], document: Any) -> list[str]:
    """Each dotted path that is missing or holds another value than expected."""
    problems = []
    for path, value in expected.items():
        found, missing_at = lookup(document, path)
        if found is MISSING:
            problems.append(f"{path} is missing (no {missing_at!r})")
        elif found != value:
            problems.append(f"{path} is {found!r}, expected {value!r}")
    return problems
