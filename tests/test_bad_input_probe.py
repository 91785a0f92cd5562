"""The negative smoke against a real API: a careful endpoint passes, a fragile and a leaky one
are caught and named, and the cases themselves are bounded, deterministic and well-formed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from gonogo.bad_input import BadCase, bad_cases, debug_output, rejected_cleanly
from gonogo.environment_flows import BadInput
from gonogo.probes.bad_input import CaseAnswer, send_cases
from tests.negative_app import serve

LOGIN = {"username": "alice", "password": "not-the-password"}
BODY_FREE = [
    "malformed JSON",
    "empty body",
    "wrong top-level type: array",
    "wrong top-level type: string",
    "oversized body (1048576 bytes)",
    "unknown path",
    "wrong method: PUT",
]


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serve() as url:
        yield url


def _entry(path: str, **fields: Any) -> BadInput:
    return BadInput.model_validate({"url": path, "json": LOGIN, **fields})


def _sent(api: str, path: str, **fields: Any) -> list[CaseAnswer]:
    entry = _entry(path, **fields)
    return send_cases(bad_cases(entry, api + path, "t1"), timeout_s=10)


def _case(cases: list[BadCase], name: str) -> BadCase:
    return next(case for case in cases if case.name == name)


def test_careful_endpoint_rejects_every_case_cleanly(api: str) -> None:
    answers = _sent(api, "/good/login")
    unclean = [
        (a.case.name, a.status, a.error or a.excerpt)
        for a in answers
        if a.status is None or not 400 <= a.status <= 499
    ]
    assert unclean == []
    assert all(rejected_cleanly(a.status or 0, None) for a in answers)
    assert [a.debug for a in answers if a.debug] == []
    assert len(answers) == 38  # all of them: under the default max_cases of 40


def test_fragile_endpoint_500s_are_named(api: str) -> None:
    answers = _sent(api, "/fragile/login")
    crashed = {a.case.name for a in answers if a.status == 500}
    assert {
        "malformed JSON",
        "empty body",
        "wrong top-level type: array",
        "missing field 'username'",
        "missing field 'password'",
        "wrong type: 'username' as number",
        "wrong type: 'username' as null",
        "unicode: lone surrogate in 'username'",
    } <= crashed
    # A wrong password type is compared, not used: 401, as the endpoint means it.
    assert "wrong type: 'password' as number" not in crashed
    assert [a.debug for a in answers if a.debug] == []  # a generic 500 page leaks nothing


def test_leaky_endpoint_traceback_is_found(api: str) -> None:
    answers = _sent(api, "/leaky/login")
    leaks = {a.case.name: a.debug for a in answers if a.debug}
    assert "malformed JSON" in leaks
    assert leaks["missing field 'username'"] is not None
    assert leaks["missing field 'username'"].startswith(
        "Python traceback: Traceback (most recent call last)"
    )
    # Its status alone is a clean 400: only the body gives it away.
    malformed = next(a for a in answers if a.case.name == "malformed JSON")
    assert rejected_cleanly(malformed.status or 0, None)


def test_cases_are_deterministic_and_bounded() -> None:
    url = "http://127.0.0.1:9/login"
    everything = bad_cases(_entry("/login", max_cases=500), url, "t1")
    assert everything == bad_cases(_entry("/login", max_cases=500), url, "t1")
    names = [case.name for case in everything]
    assert len(names) == len(set(names))
    first = [case.name for case in bad_cases(_entry("/login", max_cases=9), url, "t1")]
    assert first == [
        "malformed JSON",
        "empty body",
        "wrong top-level type: array",
        "wrong top-level type: string",
        "missing field 'username'",
        "missing field 'password'",
        "wrong type: 'username' as number",
        "wrong type: 'username' as null",
        "wrong type: 'username' as array",
    ]
    assert names[:9] == first


def test_oversized_body_is_exactly_the_size_and_otherwise_valid(api: str) -> None:
    entry = _entry("/good/login", oversized_bytes=4096)
    case = _case(bad_cases(entry, api + "/good/login", "t1"), "oversized body (4096 bytes)")
    assert case.content is not None
    assert len(case.content) == 4096
    body = json.loads(case.content)
    assert (body["username"], body["password"]) == ("A" * len(body["username"]), LOGIN["password"])
    [answer] = send_cases([case], timeout_s=10)
    assert answer.status == 422


def test_unknown_path_and_wrong_method_are_sent(api: str) -> None:
    answers = {a.case.name: a for a in _sent(api, "/good/login")}
    unknown = answers["unknown path"]
    assert unknown.case.url == f"{api}/good/login/gonogo-no-such-path-t1"
    assert (unknown.case.method, unknown.status) == ("POST", 404)
    wrong = answers["wrong method: PUT"]
    assert (wrong.case.method, wrong.case.url, wrong.status) == ("PUT", f"{api}/good/login", 405)
    put = bad_cases(_entry("/x", method="PUT"), "http://127.0.0.1:9/x", "t1")
    assert put[-1].name == "wrong method: PATCH"


def test_without_an_example_the_shape_cases_still_go() -> None:
    entry = BadInput.model_validate({"url": "/login"})
    cases = bad_cases(entry, "http://127.0.0.1:9/login", "t1")
    assert [case.name for case in cases] == BODY_FREE
    assert [case.content for case in cases[:4]] == [b'{"', b"", b"[]", b'"gonogo"']
    assert cases[-1].content is None  # no example to send with the wrong method


def test_entry_headers_go_with_every_case_and_content_type_is_ours() -> None:
    headers = {"Authorization": "Bearer t0ken", "Content-Type": "text/xml"}
    cases = bad_cases(_entry("/login", headers=headers), "http://127.0.0.1:9/login", "t1")
    assert all(case.headers["Authorization"] == "Bearer t0ken" for case in cases)
    assert all("Content-Type" not in case.headers for case in cases)
    assert _case(cases, "malformed JSON").headers["content-type"] == "application/json"
    plain = _case(cases, "wrong content-type: text/plain")
    assert (plain.headers["content-type"], json.loads(plain.content or b"")) == (
        "text/plain",
        LOGIN,
    )


def test_unicode_cases_are_sent_as_hostile_clients_send_them() -> None:
    cases = bad_cases(_entry("/login", max_cases=500), "http://127.0.0.1:9/login", "t1")
    surrogate = _case(cases, "unicode: lone surrogate in 'username'").content or b""
    assert b'"username": "\\ud800"' in surrogate  # the escape, as no UTF-8 can hold it
    emoji = _case(cases, "unicode: emoji in 'username'").content or b""
    assert "\U0001f4a9".encode() in emoji  # raw UTF-8, not escaped
    marks = _case(cases, "unicode: 10000 combining marks in 'password'").content or b""
    assert json.loads(marks)["password"] == "a" + "\u0301" * 10_000


def test_query_parameters_are_mutated_in_the_url(api: str) -> None:
    entry = BadInput.model_validate(
        {
            "url": "/search",
            "method": "GET",
            "query": {"q": "widget"},
            "accept": [200, 404, 405, 422],
        }
    )
    cases = bad_cases(entry, api + "/search?page=2", "t1")
    names = [case.name for case in cases]
    assert "malformed JSON" not in names  # a GET that ignores a body is right to
    assert _case(cases, "missing query parameter 'q'").url == f"{api}/search?page=2"
    surrogate = _case(cases, "unicode: lone surrogate in query 'q'")
    assert surrogate.url == f"{api}/search?page=2&q=%ED%A0%80"
    assert _case(cases, "script injection in query 'q'").url.endswith(
        "q=%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
    )
    assert (
        _case(cases, "unknown path").url == f"{api}/search/gonogo-no-such-path-t1?page=2&q=widget"
    )
    answers = send_cases(cases, timeout_s=10)
    wrong = [(a.case.name, a.status, a.error) for a in answers]
    wrong = [w for w in wrong if w[1] is None or not rejected_cleanly(w[1], entry.accept)]
    assert wrong == []
    statuses = {a.case.name: a.status for a in answers}
    assert statuses["huge string (20000 chars) in query 'q'"] == 422


def test_no_answer_is_a_fact_not_an_exception() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/login"
    answers = send_cases(bad_cases(_entry("/login", max_cases=2), url, "t1"), timeout_s=2)
    assert [(a.status, a.error, a.excerpt, a.debug) for a in answers] == [
        (None, "connection refused (nothing listening?)", "", None)
    ] * 2


@pytest.mark.parametrize(
    ("body", "marker"),
    [
        ('Traceback (most recent call last):\n  File "/app/x.py", line 3', "Python traceback"),
        ('  File "/srv/app/views.py", line 41, in login', "Python stack frame"),
        ("<title>Werkzeug Debugger</title>", "Werkzeug debugger"),
        (
            "You&#x27;re seeing this error because you have <code>DEBUG = True</code>",
            "Django debug page",
        ),
        ("/usr/lib/python3/site-packages/starlette/routing.py", "Starlette/FastAPI source path"),
        ("jinja2.exceptions.UndefinedError: 'user' is undefined", "Jinja2 exception"),
        ("\tat com.example.Login.check(Login.java:42)", "Java stack frame"),
        ("    at handler (/srv/app/index.js:12:7)", "Node.js stack frame"),
        ("at Object.<anonymous> (index.js)", "Node.js stack frame"),
        (
            "<b>Fatal error</b>: Uncaught Error in /var/www/a.php on line <b>3</b>",
            "PHP fatal error",
        ),
        ("Stack trace:\n#0 {main}", "stack trace"),
        ("app/models/user.rb:12:in `login'", "Ruby backtrace"),
        ("goroutine 1 [running]:\nmain.main()", "Go panic"),
        ("   at System.Web.Mvc.Controller.Execute()", ".NET stack frame"),
        ("psycopg2.errors.UndefinedTable: relation", "PostgreSQL error"),
        ("SQLSTATE[42000]: Syntax error", "SQLSTATE error"),
        ("You have an error in your SQL syntax; check the manual", "MySQL syntax error"),
        ("ORA-00933: SQL command not properly ended", "Oracle error"),
    ],
)
def test_debug_markers(body: str, marker: str) -> None:
    found = debug_output(body.encode())
    assert found is not None
    assert found.startswith(f"{marker}: ")


def test_clean_errors_have_no_debug_output() -> None:
    assert debug_output(b'{"detail": "invalid request", "errors": [{"loc": ["username"]}]}') is None
    assert debug_output(b"") is None


def test_debug_output_reads_the_first_256_kib_only() -> None:
    marker = b"Traceback (most recent call last):"
    assert debug_output(b" " * (256 * 1024 - len(marker)) + marker) is not None
    assert debug_output(b" " * 256 * 1024 + marker) is None


def test_debug_output_excerpt_is_short() -> None:
    found = debug_output(b"x" * 5000 + b"goroutine 7 [running]:" + b"y" * 5000)
    assert found is not None
    assert len(found) <= len("Go panic: ") + 120
    assert "goroutine 7 [running]" in found


@pytest.mark.parametrize(
    ("status", "accept", "clean"),
    [
        (400, None, True),
        (499, None, True),
        (500, None, False),
        (200, None, False),
        (302, None, False),
        (200, [200, 422], True),
        (404, [400, 422], False),
    ],
)
def test_rejected_cleanly(status: int, accept: list[int] | None, clean: bool) -> None:
    assert rejected_cleanly(status, accept) is clean
