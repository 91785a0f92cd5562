"""Cookies a request gets carry Secure, HttpOnly and the required SameSite."""

from __future__ import annotations

import pytest

from fixtures.http import RequestSender
from gonogo.environment_edge import CookiePolicy
from gonogo.security_headers import parse_set_cookie

pytestmark = pytest.mark.edge


def test_cookie_flags(cookie_policy: CookiePolicy, send_request: RequestSender) -> None:
    request = cookie_policy.request
    response = send_request(request)
    where = f"{cookie_policy.label} ({request.method} {response.url}, status {response.status})"
    cookies = [parse_set_cookie(value) for value in response.set_cookies]
    names = [cookie.name for cookie in cookies]
    missing = [name for name in cookie_policy.cookies if name not in names]
    assert cookies and not missing, (
        f"{where}: expected cookie(s) {', '.join(cookie_policy.cookies) or '(any)'}, "
        f"got {', '.join(names) or 'no Set-Cookie'}"
    )
    judged = [c for c in cookies if not cookie_policy.cookies or c.name in cookie_policy.cookies]
    problems = []
    for cookie in judged:
        wrong = []
        if cookie_policy.secure and not cookie.secure:
            wrong.append("no Secure")
        if cookie_policy.http_only and not cookie.http_only:
            wrong.append("no HttpOnly")
        if cookie_policy.same_site and cookie.same_site != cookie_policy.same_site:
            wrong.append(f"SameSite={cookie.same_site or '(not set)'}")
        if wrong:
            problems.append(f"{cookie.name}: {', '.join(wrong)}")
    wanted = [
        flag
        for flag, on in (("Secure", cookie_policy.secure), ("HttpOnly", cookie_policy.http_only))
        if on
    ] + ([f"SameSite={cookie_policy.same_site}"] if cookie_policy.same_site else [])
    assert not problems, f"{where}: {'; '.join(problems)}; expected {', '.join(wanted)}"
