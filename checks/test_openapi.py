"""OpenAPI smoke: every GET the document offers without parameters answers, to its schema."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.api import OpenApiRound
from gonogo.environment import Environment
from gonogo.environment_flows import OpenApiSmoke
from gonogo.probes.openapi import response_problems, run_schemathesis

pytestmark = pytest.mark.smoke

OpenApiCaller = Callable[[OpenApiSmoke], OpenApiRound]
_SHOWN = 5


def test_openapi_operations_answer(
    openapi_document: OpenApiSmoke, openapi_round: OpenApiCaller
) -> None:
    found = openapi_round(openapi_document)
    assert found.operations, (
        f"{openapi_document.label}: the document offers no GET operation without required "
        "parameters (after exclude), so nothing was verified"
    )
    broken = [
        f"GET {a.operation.path} -> {a.error or a.status}"
        for a in found.answers
        if a.called and (a.status is None or a.status >= 500)
    ]
    uncalled = [a for a in found.answers if not a.called]
    assert not broken, (
        f"{openapi_document.label}: {len(broken)} of {len(found.answers)} operations failed: "
        + "; ".join(broken[:_SHOWN])
        + (f"; {len(uncalled)} more {uncalled[0].error}" if uncalled else "")
    )


def test_openapi_responses_match_schema(
    openapi_document: OpenApiSmoke, openapi_round: OpenApiCaller
) -> None:
    found = openapi_round(openapi_document)
    if found.answers and all(answer.status is None for answer in found.answers):
        # Nothing to look at is no evidence of nothing to find: fail closed.
        pytest.fail(
            f"{openapi_document.label}: none of {len(found.answers)} operations answered, so "
            f"no answer was checked against the document; {found.answers[0].error}",
            pytrace=False,
        )
    problems = []
    for answer in found.answers:
        if answer.status is None:
            continue  # no answer at all: test_openapi_operations_answer reports it
        issues = (
            [f"body over {len(answer.body)} bytes, not validated"]
            if answer.truncated
            else response_problems(
                found.document,
                answer.operation.path,
                answer.status,
                answer.content_type,
                answer.body,
            )
        )
        if issues:
            problems.append(f"GET {answer.operation.path} ({answer.status}): {'; '.join(issues)}")
    assert not problems, (
        f"{openapi_document.label}: {len(problems)} answers do not match the document: "
        + " | ".join(problems[:_SHOWN])
    )


def test_openapi_property_based(
    openapi_schemathesis: OpenApiSmoke, environment: Environment
) -> None:
    run = openapi_schemathesis.schemathesis
    assert run is not None
    outcome = run_schemathesis(
        environment.url(openapi_schemathesis.url),
        environment.base_url or environment.url(openapi_schemathesis.url),
        run,
        environment.headers_for(openapi_schemathesis.headers),
        ca_file=environment.defaults.ca_file,
        verify_tls=environment.defaults.verify_tls,
    )
    assert outcome.passed, f"{openapi_schemathesis.label}: {outcome.summary}"
