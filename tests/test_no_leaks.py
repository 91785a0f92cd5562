"""Secrets never leave a run: the whole suite against the real demo, with its own secrets and
more of ours (an API key sent with every request, a `!secret` literal, a password in a
dependency URL, Basic auth, a webhook URL, a rollback hook that prints its environment), with
failing checks that quote what they received, the load stage, the watch window and a rollback,
and not one secret in any report file, in the terminal or in the JUnit XML."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import pprint
import re
import secrets
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gonogo.demo.config import SECRET_VARIABLES
from gonogo.demo.deployment import DemoConfig, status, switch
from gonogo.redaction import Redactor, redact_log_records
from tests.asgi_server import serve
from tests.test_demo_suite import DEMO_ENV, REPO, run_suite

BASIC_USER = "gonogo"
# Our own secrets, passed as environment variables the environment file references. Some carry
# characters that JSON, HTML, XML and URLs escape, so every escaped spelling is exercised.
OWN_VARIABLES = (
    "LEAK_API_KEY",  # X-Api-Key on every request, load included
    "LEAK_QUERY_KEY",  # in a query string: smoke, load
    "LEAK_FORM_SECRET",  # in a JSON body the echo service sends back
    "LEAK_BASIC_PASSWORD",  # an http dependency's password: Basic auth
    "LEAK_URL_PASSWORD",  # an http dependency's URL password: Basic auth too
    "LEAK_LOAD_TOKEN",  # a header of one load request
    "LEAK_PROMETHEUS_TOKEN",  # metrics.headers
    "LEAK_WEBHOOK_TOKEN",  # the webhook URL's path
    "LEAK_WEBHOOK_AUTH",  # the webhook's Authorization header
    "LEAK_HOOK_TOKEN",  # the rollback hook's env
    "LEAK_HOOK_ARG",  # the rollback hook's arguments
)
_SPECIAL = {
    "LEAK_API_KEY": "+/=&<'\"",
    "LEAK_FORM_SECRET": ' "quoted" \\ <b>&amp;',
    "LEAK_HOOK_TOKEN": " $HOME 'q' \"dq\"",
    "LEAK_QUERY_KEY": " /:@<",  # httpx sends " " and "<" encoded, "/:@" as they are
}
_URL_SAFE = {"LEAK_URL_PASSWORD", "LEAK_WEBHOOK_TOKEN"}  # in a URL as is

# Its last lines reach the terminal (the decision section shows the hook's last five).
HOOK_SCRIPT = """\
env
echo "--- given"
echo "hook arguments: $$*"
printf %s "$$DEPLOY_TOKEN" | base64
echo "deploy token: $$DEPLOY_TOKEN"
exit {exit_code}
"""
PLACEHOLDER = "LITERAL-SECRET-{}"
SHORTEST_SHOWN = 12  # a run of this many characters of a secret is a (partial) leak


def own_secrets() -> dict[str, str]:
    """Fresh random values, so nothing in the repository or an earlier run can match them."""
    values = {}
    for name in OWN_VARIABLES:
        token = secrets.token_urlsafe(18)
        values[name] = token if name in _URL_SAFE else token + _SPECIAL.get(name, "%20 /:@")
    return values


async def _echo(request: Request) -> Response:
    """Everything a request carried, sent back in a refusal, as careless debug endpoints and
    webhook receivers do: whatever secret was sent here comes straight back."""
    headers = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
    body = (await request.body()).decode("utf-8", errors="replace")
    text = f"{request.method} {request.url.path}?{request.url.query}\n{headers}\n\n{body}"
    return PlainTextResponse(text, status_code=503)


@pytest.fixture
def echo() -> Iterator[str]:
    methods = ["GET", "POST", "PUT", "DELETE"]
    with serve(Starlette(routes=[Route("/{path:path}", _echo, methods=methods)])) as base_url:
        yield base_url


def leaky_environment(
    directory: Path, echo: str, *, hook_exit: int, literals: list[str], **changes: Any
) -> Path:
    """demo.yaml with every place a secret can travel filled with one, and checks that fail
    quoting what they received; `changes` replace whole sections last."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEMO_ENV.parent / "files", directory / "files", dirs_exist_ok=True)
    document: dict[str, Any] = yaml.safe_load(DEMO_ENV.read_text())
    document["defaults"]["headers"] = {
        "X-Api-Key": "${LEAK_API_KEY}",
        "X-Signature": PLACEHOLDER.format(0),
    }
    smoke = {check["name"]: check for check in document["smoke"]}
    # The answer quotes the token the login just issued.
    smoke["login"]["expect"]["status"] = 418
    smoke["status"]["request"]["url"] = "/api/v1/status?api_key=${LEAK_QUERY_KEY}"
    document["smoke"].append(
        {
            "name": "echo",
            "request": {
                "method": "POST",
                "url": f"{echo}/debug?api_key=${{LEAK_QUERY_KEY}}",
                "headers": {"Authorization": "Bearer ${LEAK_WEBHOOK_AUTH}"},
                "json": {"note": "${LEAK_FORM_SECRET}"},
            },
            "expect": {"status": 200},
        }
    )
    postgres, _redis = document["dependencies"]
    port = "${GONOGO_DEMO_POSTGRES_PORT:-15432}"
    postgres["url"] = f"postgresql://demo:${{GONOGO_DEMO_POSTGRES_PASSWORD}}@127.0.0.1:{port}/demo"
    del postgres["password"]
    document["dependencies"] += [
        {
            "name": "echo-basic",
            "url": f"{echo}/basic",
            "user": BASIC_USER,
            "password": "${LEAK_BASIC_PASSWORD}",
        },
        {
            "name": "echo-url-password",
            "url": echo.replace("://", f"://{BASIC_USER}:${{LEAK_URL_PASSWORD}}@") + "/url",
        },
    ]
    flows = {flow["name"]: flow for flow in document["flows"]}
    read = flows["item-round-trip"]["steps"][2]
    read["expect"]["status"] = 418  # fails having sent the bearer token
    login = flows["file-round-trip"]["steps"][0]
    login["expect"] = {"status": 200, "json": {"token_type": "mac"}}  # quotes the token
    load = document["load"]
    load |= {"users": 10, "spawn_rate": 10, "duration_s": 3, "processes": 1}
    load["requests"].append(
        {
            "name": "keyed",
            "path": "/api/v1/status?api_key=${LEAK_QUERY_KEY}",
            "headers": {"X-Load-Token": "${LEAK_LOAD_TOKEN}"},
        }
    )
    load["windows"] = [{"name": "error-burst", "kpi": "error_rate", "above": 0.05, "over_s": 2,
                        "rollback": True}]  # fmt: skip
    document["metrics"]["headers"] = {"Authorization": "Bearer ${LEAK_PROMETHEUS_TOKEN}"}
    document["watch"] = {
        "duration": "4s",
        "interval": "2s",
        "checks": [{"smoke": "login"}, {"query": "error-ratio"}],  # login fires at once
    }
    document["notify"] = [
        {
            "url": f"{echo}/hooks/${{LEAK_WEBHOOK_TOKEN}}",
            "headers": {"Authorization": "Bearer ${LEAK_WEBHOOK_AUTH}"},
            "when": ["NO-GO", "ROLLBACK"],
        }
    ]
    document["rollback"] = {
        "command": [
            "sh",
            "-c",
            HOOK_SCRIPT.format(exit_code=hook_exit),
            "hook",
            "${LEAK_HOOK_ARG}",
            PLACEHOLDER.format(1),
        ],
        "env": {"DEPLOY_TOKEN": "${LEAK_HOOK_TOKEN}"},
        "timeout_s": 20,
        "verify": "smoke or e2e",
    }
    document |= changes
    text = yaml.safe_dump(document, sort_keys=False, width=1000)
    for number, literal in enumerate(literals):
        text = text.replace(PLACEHOLDER.format(number), f"!secret {json.dumps(literal)}")
    path = directory / "leaky.yaml"
    path.write_text(text)
    return path


# Every part of pytest's report a secret could reach: verbose ids, all sections, locals in
# tracebacks, debug logs, and captured output in the JUnit XML.
VERBOSE = ("-vv", "-rA", "-l", "--log-level=DEBUG", "-o", "junit_logging=all")


def run_gonogo(
    demo: DemoConfig,
    variables: dict[str, str],
    env_file: Path,
    report_dir: Path,
    marks: str,
    *args: str,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    return run_suite(
        demo, report_dir, *VERBOSE, *args, env_file=env_file, marks=marks, variables=variables
    )


def spellings(secret: str) -> set[str]:
    """The secret whole, as a client, a log, a JSON or HTML report or Python may spell it."""
    found = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote(secret, safe="!$&'()*+,;=:@/?"),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        html.escape(secret),
    }
    for login in (secret, f"{BASIC_USER}:{secret}"):
        raw = login.encode()
        found |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return found


def pieces(secret: str) -> set[str]:
    """Every run of SHORTEST_SHOWN characters of the secret, and every run of as many base64
    characters that encodes its bytes (a run of 9 bytes starting on a 3-byte boundary of the
    encoding lies inside any base64 of 11 bytes of the secret)."""
    found = {secret[i : i + SHORTEST_SHOWN] for i in range(len(secret) - SHORTEST_SHOWN + 1)}
    raw, size = secret.encode(), SHORTEST_SHOWN // 4 * 3
    for i in range(len(raw) - size + 1):
        window = raw[i : i + size]
        found |= {base64.b64encode(window).decode(), base64.urlsafe_b64encode(window).decode()}
    return found


def leaks(text: str, secrets_: dict[str, str]) -> list[str]:
    """Which secrets `text` shows, whole in any spelling or in part: a run of SHORTEST_SHOWN
    characters, as a cut excerpt or a truncated repr would leave, or of its base64."""
    runs = {text[i : i + SHORTEST_SHOWN] for i in range(len(text) - SHORTEST_SHOWN + 1)}
    found = []
    for name, secret in secrets_.items():
        if any(spelling in text for spelling in spellings(secret)):
            found.append(name)
        elif runs & pieces(secret):
            found.append(f"{name} (partly)")
    return found


def report_leaks(report_dir: Path, secrets_: dict[str, str]) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in report_dir.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        names = leaks(text, secrets_) + leaks(html.unescape(text), secrets_)
        if names:
            found[str(path.relative_to(report_dir))] = sorted(set(names))
    return found


def junit_texts(path: Path) -> tuple[list[str], list[str]]:
    """The JUnit XML's captured output (system-out, system-err) and property values, decoded."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own run's file
    captured = [
        element.text or "" for tag in ("system-out", "system-err") for element in root.iter(tag)
    ]
    properties = [element.get("value", "") for element in root.iter("property")]
    return captured, properties


def assert_no_leaks(
    done: subprocess.CompletedProcess[str], report_dir: Path, secrets_: dict[str, str]
) -> None:
    assert report_leaks(report_dir, secrets_) == {}
    assert leaks(done.stdout, secrets_) == [], "stdout"
    assert leaks(done.stderr, secrets_) == [], "stderr"
    captured, properties = junit_texts(report_dir / "junit.xml")
    assert captured and properties  # junit_logging=all: the XML holds what was captured
    assert leaks("\n".join(captured), secrets_) == [], "junit system-out/err"
    assert leaks("\n".join(properties), secrets_) == [], "junit properties"
    failures = ET.parse(report_dir / "junit.xml").getroot().iter("failure")  # noqa: S314
    shown = "\n".join((f.get("message") or "") + (f.text or "") for f in failures)
    assert leaks(shown, secrets_) == [], "junit failures"


SECRET = "hunter2 and-then-some/:@<&'\"x"  # a space, URL-, HTML- and JSON-special characters


def test_redactor_masks_the_spellings_clients_reports_and_pytest_give_a_secret(echo: str) -> None:
    other = "nothing-secret-here-at-all"
    basic = next(httpx.BasicAuth("user", SECRET).auth_flow(httpx.Request("GET", echo)))
    spelled = {
        "httpx query": str(httpx.URL(f"{echo}/x?key={SECRET}")),
        "Basic auth": basic.headers["authorization"],
        "base64 at each offset": " ".join(
            base64.b64encode((pad + SECRET).encode()).decode() for pad in ("", "a", "ab")
        ),
        "JSON": json.dumps({"key": SECRET}),
        "JSON in HTML (Jinja's tojson)": json.dumps(SECRET).translate(
            {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", ord("'"): "\\u0027"}
        ),
        "HTML": html.escape(f"<td>{SECRET}</td>"),
        "repr": repr({"key": SECRET}),
        "repr wrapped by pprint": pprint.pformat({"key": SECRET + " " + other}, width=30),
        "cut after its head": f"body: {SECRET[:12]}...",
        "cut in its middle": f"'{SECRET[:8]}...{SECRET[-8:]}'",
    }
    redactor = Redactor([SECRET])
    for how, text in spelled.items():
        shown = redactor.redact(text)
        assert leaks(shown, {"SECRET": SECRET}) == [], (how, shown)
        assert "***" in shown and redactor.contains_secret(text), how
    assert redactor.redact(spelled["repr wrapped by pprint"]) == (
        f"{{'key': '*** '\n        '{other}'}}"
    )
    assert redactor.redact(spelled["cut after its head"]) == "body: ***..."
    assert redactor.redact(spelled["cut in its middle"]) == "'***...***'"


def test_redactor_leaves_text_without_the_secret_alone() -> None:
    redactor = Redactor([SECRET])
    for text in (
        "nothing here... and nothing there...",
        f"{SECRET[:3]}... is too short to tell",  # three characters say nothing
        base64.b64encode(b"user:another password").decode(),
        "'hunter'\n  'two'",
    ):
        assert redactor.redact(text) == text and not redactor.contains_secret(text)


def test_log_records_are_masked_before_any_handler_sees_them(echo: str) -> None:
    """httpx logs every URL it requests: a query-string key reaches pytest's live log and
    --log-file unless the record itself is masked."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("httpx")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    undo = redact_log_records(Redactor([SECRET]))
    try:
        with httpx.Client(timeout=5) as client:
            client.get(f"{echo}/x", params={"key": SECRET})
        try:
            raise ValueError(f"refused {SECRET}")
        except ValueError:
            logger.exception("request failed: %s", SECRET)
        undo()
        logger.info("after: %s", SECRET)  # undone: records are as they were
    finally:
        undo()
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith(f"INFO HTTP Request: GET {echo}/x?key=***") and "503" in lines[0]
    assert "ERROR request failed: ***" in lines and "ValueError: refused ***" in lines
    assert lines[-1] == f"INFO after: {SECRET}"
    assert leaks("\n".join(lines[:-1]), {"SECRET": SECRET}) == []


def checks_by_id(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in record["checks"]}


@pytest.fixture
def known(demo: DemoConfig) -> dict[str, str]:
    """Every secret of the run by name: the demo's own, ours, and two `!secret` literals."""
    demo_variables = demo.variables()
    found = {name: demo_variables[name] for name in SECRET_VARIABLES} | own_secrets()
    found["LITERAL_0"] = secrets.token_urlsafe(18) + ' "lit"'
    found["LITERAL_1"] = secrets.token_urlsafe(18)
    return found


@pytest.fixture
def variables(demo: DemoConfig, known: dict[str, str]) -> dict[str, str]:
    """The run's environment: the demo's variables and our secrets."""
    return {**demo.variables(), **{k: v for k, v in known.items() if k.startswith("LEAK_")}}


@pytest.fixture
def literals(known: dict[str, str]) -> list[str]:
    return [known["LITERAL_0"], known["LITERAL_1"]]


def test_whole_suite_with_a_failing_hook_leaks_no_secret(
    demo: DemoConfig,
    echo: str,
    tmp_path: Path,
    known: dict[str, str],
    variables: dict[str, str],
    literals: list[str],
) -> None:
    """Green, every stage (load and watch included), failing checks quoting what they got,
    `-vv -rA --tb=long -l`, and a hook that prints its environment and fails."""
    env_file = leaky_environment(tmp_path / "env", echo, hook_exit=3, literals=literals)
    reports = tmp_path / "reports"
    switch(demo, "green")
    try:
        done, record = run_gonogo(demo, variables, env_file, reports, "", "--tb=long", "--rollback")
    finally:
        switch(demo, "blue")
    assert status(demo).active == "blue"
    output = done.stdout + done.stderr

    # The run went everywhere a secret could travel ...
    assert done.returncode == 7, output[-5000:]  # ROLLBACK, and the hook failed
    assert record["decision"] == "ROLLBACK"
    assert "test_load_window[error-burst]" in record["triggers"]
    assert "test_watch_entry_held[smoke-login]" in record["triggers"]
    rollback = record["rollback"]
    assert rollback["ran"] and rollback["exit_code"] == 3 and rollback["restored"] is False
    for line in ("DEPLOY_TOKEN=***", "LEAK_API_KEY=***", "GONOGO_DEMO_PASSWORD=***"):
        assert f"\n{line}\n" in rollback["output"], line  # `env`, masked
    assert "hook arguments: *** ***" in rollback["output"]
    assert "hook| deploy token: ***" in done.stdout
    assert record["load"]["total"]["count"] > 0 and record["load"]["total"]["failures"] > 0
    watched = {entry["label"]: entry["outcome"] for entry in record["watch"]["entries"]}
    assert watched["smoke-login"] == "fired"
    checks = checks_by_id(record)
    for failing in (
        "test_status_is_expected[login]",
        "test_status_is_expected[echo]",
        "test_flow_step[item-round-trip/3-read]",
        "test_flow_step[file-round-trip/1-login]",
        "test_dependency_answers[echo-basic]",
        "test_dependency_answers[echo-url-password]",
    ):
        assert checks[failing]["outcome"] == "failed", failing
    assert '"access_token":"***"' in checks["test_status_is_expected[login]"]["message"]
    assert "x-api-key: ***" in checks["test_status_is_expected[echo]"]["message"]
    basic = checks["test_dependency_answers[echo-url-password]"]["message"]
    assert re.search(r"authorization: Basic [\w+/]{,14}\*\*\*", basic), basic
    [delivery] = record["notifications"]
    assert delivery["status"] == 503 and "/hooks/***" in delivery["url"]
    for name in ("load.json", "load.html", "locust.html", "junit.xml", "history.sqlite"):
        assert (reports / name).is_file(), name

    # ... and left no secret behind.
    assert_no_leaks(done, reports, known)


def test_verification_after_the_hook_and_a_locustfile_leak_no_secret(
    demo: DemoConfig,
    echo: str,
    tmp_path: Path,
    known: dict[str, str],
    variables: dict[str, str],
    literals: list[str],
) -> None:
    """Blue, `--tb=native`, a trigger that always fires, a hook that prints its environment
    and succeeds, so the verification run writes its reports too; and the shipped read-heavy
    locustfile with the key in its paths, which Locust makes the request names of its own
    CSV and HTML reports and of the recorder's document."""
    metrics = {
        "prometheus": "http://127.0.0.1:${GONOGO_DEMO_PROMETHEUS_PORT:-19090}",
        "headers": {"Authorization": "Bearer ${LEAK_PROMETHEUS_TOKEN}"},
        "queries": [
            {
                "name": "quiet-fails",
                "query": "rate(no_such_metric_total[1m])",
                "max": 1,
                "no_data": "fail",
                "rollback": True,
            }
        ],
    }
    load = {"locustfile": str(REPO / "load" / "read_heavy.py"), "users": 5, "spawn_rate": 5,
            "duration_s": 2, "processes": 1, "grace_s": 20}  # fmt: skip
    env_file = leaky_environment(
        tmp_path / "env", echo, hook_exit=0, literals=literals, metrics=metrics, watch=None,
        load=load,
    )  # fmt: skip
    key = known["LEAK_QUERY_KEY"]
    paths = f"/api/v1/status?api_key={key},/api/v1/nowhere?api_key={key}"
    reports = tmp_path / "reports"
    switch(demo, "blue")
    done, record = run_gonogo(
        demo,
        # No request of this file sends the load token: nothing could mask it, so it stays out.
        {**variables, "GONOGO_LOAD_PATHS": paths, "LEAK_LOAD_TOKEN": ""},
        env_file,
        reports,
        "smoke or e2e or metrics or load",
        "--tb=native",
        "--rollback",
    )
    assert status(demo).active == "blue"

    assert done.returncode == 7, (done.stdout + done.stderr)[-5000:]  # not restored
    assert record["triggers"] == ["test_metric_within_bound[quiet-fails]"]
    rollback = record["rollback"]
    assert rollback["exit_code"] == 0 and "\nDEPLOY_TOKEN=***\n" in rollback["output"]
    assert rollback["verify"]["decision"] == "NO-GO"
    assert "test_status_is_expected[login]" in rollback["verify"]["failing"]
    assert (reports / "post-rollback" / "junit.xml").is_file()
    assert len(record["load"]["per_request"]) == 2
    assert "api_key=***" in (reports / "locust_stats.csv").read_text()
    assert_no_leaks(done, reports, known)
