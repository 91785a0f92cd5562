"""Security headers of each response: exact values, HSTS, CSP, information leaks, a grade."""

from __future__ import annotations

import pytest

from fixtures.edge import HeaderFetcher
from gonogo.environment_edge import HeaderPolicy
from gonogo.probes.http import HttpResponse
from gonogo.security_headers import at_least, csp_weaknesses, grade, information_leaks, parse_hsts

pytestmark = pytest.mark.edge


def test_security_header_values(header_values: HeaderPolicy, fetch_headers: HeaderFetcher) -> None:
    response = fetch_headers(header_values)
    wrong = []
    for name, expected in header_values.expect.items():
        found = response.headers.get(name.lower())
        if found is None:
            wrong.append(f"{name} missing")
        elif _normal(found) != _normal(expected):
            wrong.append(f"{name} is {found!r}")
    expected_all = ", ".join(f"{k}={v!r}" for k, v in header_values.expect.items())
    assert not wrong, (
        f"{_where(header_values, response)}: {'; '.join(wrong)}; expected {expected_all}"
    )


def test_hsts(header_hsts: HeaderPolicy, fetch_headers: HeaderFetcher) -> None:
    response = fetch_headers(header_hsts)
    wanted = header_hsts.hsts
    assert wanted is not None
    raw = response.headers.get("strict-transport-security")
    hsts = parse_hsts(raw)
    problems = list(hsts.problems) if hsts else ["Strict-Transport-Security missing"]
    if hsts is not None:
        if hsts.max_age is None or hsts.max_age < wanted.min_max_age:
            problems.append(f"max-age {hsts.max_age}, expected at least {wanted.min_max_age}")
        if wanted.include_subdomains and not hsts.include_subdomains:
            problems.append("includeSubDomains missing")
        if wanted.preload and not hsts.preload:
            problems.append("preload missing")
    assert not problems, f"{_where(header_hsts, response)}: {'; '.join(problems)} (got {raw!r})"


def test_content_security_policy(header_csp: HeaderPolicy, fetch_headers: HeaderFetcher) -> None:
    response = fetch_headers(header_csp)
    policy = response.headers.get("content-security-policy")
    assert policy is not None, f"{_where(header_csp, response)}: Content-Security-Policy missing"
    weak = csp_weaknesses(policy) if header_csp.csp == "strict" else []
    assert not weak, f"{_where(header_csp, response)}: {'; '.join(weak)} (got {policy!r})"


def test_no_information_leaks(header_leaks: HeaderPolicy, fetch_headers: HeaderFetcher) -> None:
    response = fetch_headers(header_leaks)
    leaks = information_leaks(response.headers)
    assert not leaks, f"{_where(header_leaks, response)}: {'; '.join(leaks)}"


def test_header_grade(header_grade: HeaderPolicy, fetch_headers: HeaderFetcher) -> None:
    response = fetch_headers(header_grade)
    graded = grade(response.headers, response.set_cookies)
    minimum = header_grade.min_grade
    assert minimum is not None
    assert at_least(graded.letter, minimum), (
        f"{_where(header_grade, response)}: grade {graded.letter} ({graded.score}), "
        f"expected {minimum} or better: {graded.breakdown()}"
    )


def _where(policy: HeaderPolicy, response: HttpResponse) -> str:
    return f"{policy.label} ({response.url}, status {response.status})"


def _normal(value: str) -> str:
    return " ".join(value.lower().split())
