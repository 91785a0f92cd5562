"""The API checks end to end against real servers: every verdict right, in both directions.

One run of the suite judges real PostgreSQL, MariaDB, Redis and RabbitMQ servers, a banner
listener, a flow API and a FastAPI app with good, fragile and leaky endpoints; each check's
outcome and message is asserted, and no password or issued token reaches the reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import flow_app, negative_app
from tests.asgi_server import serve
from tests.dependency_servers import DatabaseServer, RabbitServer, RedisServer
from tests.server_kit import Listener
from tests.suite_copy import decision, write_env

REPO = Path(__file__).resolve().parent.parent
Verdicts = dict[str, tuple[str, str]]


def _environment(
    postgres: DatabaseServer,
    mariadb: DatabaseServer,
    redis: RedisServer,
    rabbit: RabbitServer,
    banner: Listener,
    flows_url: str,
    negative_url: str,
) -> str:
    pg = f"127.0.0.1:{postgres.port}/{postgres.database}"
    credentials = {"username": flow_app.USERNAME, "password": flow_app.PASSWORD}
    login = {"method": "POST", "url": "/login", "json": credentials}
    bearer = {"Authorization": "Bearer {{ token }}"}
    create = {
        "name": "create",
        "request": {"method": "POST", "url": "/items", "headers": bearer, "json": {"name": "n"}},
        "expect": {"status": 201},
        "capture": {"item_id": "id"},
    }
    cleanup = {"request": {"method": "DELETE", "url": "/items/{{ item_id }}", "headers": bearer}}
    document = {
        "name": "api-lab",
        "base_url": flows_url,
        "defaults": {"timeout_s": 5, "ca_file": str(redis.ca_file)},
        "wait": {"check": "search", "attempts": 5, "interval_s": 0.2},
        "smoke": [{"name": "search", "request": {"url": f"{negative_url}/search?q=ok"}}],
        "dependencies": [
            {
                "name": "pg-good",
                "url": f"postgresql://{postgres.user}@{pg}",
                "password": postgres.password,
                "query": {"sql": "SELECT count(*) FROM items", "min": 3},
                "latency_ms": 5000,
            },
            {
                "name": "pg-wrong-password",
                "url": f"postgresql://{postgres.user}:not-the-password@{pg}",
            },
            {
                "name": "pg-too-few-rows",
                "url": f"postgresql://{postgres.user}@{pg}",
                "password": postgres.password,
                "query": {"sql": "SELECT count(*) FROM items", "min": 10},
                "latency_ms": 0.001,
            },
            {
                "name": "mariadb-good",
                "url": f"mysql://{mariadb.user}@127.0.0.1:{mariadb.port}/{mariadb.database}",
                "password": mariadb.password,
                "query": {"sql": "SELECT count(*) FROM items", "equals": 3},
                "latency_ms": None,
            },
            {
                "name": "redis-tls",
                "url": f"rediss://127.0.0.1:{redis.tls_port}/0",
                "password": redis.password,
                "round_trip": True,
                "latency_ms": None,
            },
            {
                "name": "rabbit-good",
                "url": f"amqp://{rabbit.user}@127.0.0.1:{rabbit.port}/shop",
                "password": rabbit.password,
                "management_url": f"http://127.0.0.1:{rabbit.management_port}",
                "latency_ms": None,
            },
            {
                "name": "rabbit-management-down",
                "url": f"amqp://{rabbit.user}@127.0.0.1:{rabbit.port}/shop",
                "password": rabbit.password,
                "management_url": f"http://127.0.0.1:{banner.port}",
                "latency_ms": None,
            },
            {"name": "ssh-like", "url": f"tcp://127.0.0.1:{banner.port}", "banner": "^SSH-2"},
            {"name": "not-ftp", "url": f"tcp://127.0.0.1:{banner.port}", "banner": "^220 "},
            {"name": "heartbeat", "url": f"{negative_url}/search?q=ok"},
            {"name": "heartbeat-down", "url": f"{negative_url}/api/crash"},
        ],
        "flows": [
            {
                "name": "good",
                "steps": [
                    {"name": "login", "request": login, "capture": {"token": "access_token"}},
                    {**create, "cleanup": cleanup},
                    {"name": "list", "request": {"url": "/items", "headers": bearer}},
                ],
            },
            {
                "name": "breaks-midway",
                "steps": [
                    {"name": "login", "request": login, "capture": {"token": "access_token"}},
                    {**create, "cleanup": cleanup},
                    {"name": "read", "request": {"url": "/items/{{ item_id }}", "headers": bearer}},
                    {"name": "after", "request": {"url": "/items", "headers": bearer}},
                ],
            },
            {
                "name": "leaves-a-mess",
                "steps": [
                    {"name": "login", "request": login, "capture": {"token": "access_token"}},
                    {
                        **create,
                        "cleanup": {
                            "request": {**cleanup["request"], "url": "/nowhere/{{ item_id }}"},
                            "status": 204,
                        },
                    },
                ],
            },
        ],
        "bad_input": [
            {"name": "good", "url": f"{negative_url}/good/login", "json": _credentials()},
            {"name": "fragile", "url": f"{negative_url}/fragile/login", "json": _credentials()},
            {"name": "leaky", "url": f"{negative_url}/leaky/login", "json": _credentials()},
        ],
        "openapi": [
            {
                "name": "sound",
                "url": f"{negative_url}/openapi.json",
                "exclude": ["/api/broken", "/api/crash", "/admin/*"],
            },
            {"name": "flawed", "url": f"{negative_url}/openapi.json", "exclude": ["/admin/*"]},
        ],
    }
    return json.dumps(document)


def _credentials() -> dict[str, str]:
    return {"username": "demo", "password": "wrong-on-purpose"}


@pytest.fixture(scope="module")
def flows_url() -> Iterator[str]:
    flow_app.reset()
    with serve(flow_app.app) as url:
        yield url
    flow_app.reset()


@pytest.fixture(scope="module")
def negative_url() -> Iterator[str]:
    with negative_app.serve() as url:
        yield url


@pytest.fixture(scope="module")
def api_run(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: DatabaseServer,
    mariadb_server: DatabaseServer,
    redis_server: RedisServer,
    rabbitmq_server: RabbitServer,
    banner_listener: Listener,
    flows_url: str,
    negative_url: str,
) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("api-run")
    env_file = tmp_path_factory.mktemp("api-env") / "api-lab.yaml"
    env_file.write_text(
        _environment(
            postgres_server,
            mariadb_server,
            redis_server,
            rabbitmq_server,
            banner_listener,
            flows_url,
            negative_url,
        )
    )
    flow_app.STATE.broken_reads = True  # only GET /items/{id}: the middle of breaks-midway
    try:
        done = subprocess.run(
            [
                sys.executable,
                *("-m", "pytest", f"--env={env_file}", f"--report-dir={directory}"),
                *("-p", "no:cacheprovider", "-m", "smoke or e2e", "-rA", "--tb=long", "-l"),
            ],
            cwd=REPO,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        flow_app.STATE.broken_reads = False
    assert done.returncode == 1, done.stdout[-3000:]
    return directory, done.stdout + done.stderr


@pytest.fixture(scope="module")
def verdicts(api_run: tuple[Path, str]) -> Verdicts:
    record = json.loads((api_run[0] / "decision.json").read_text())
    return {c["id"]: (c["outcome"], c["message"] or "") for c in record["checks"]}


PASSING = [
    "test_dependency_answers[pg-good]",
    "test_dependency_latency_within_budget[pg-good]",
    "test_dependency_query_result[pg-good]",
    "test_dependency_answers[mariadb-good]",
    "test_dependency_query_result[mariadb-good]",
    "test_dependency_answers[redis-tls]",
    "test_dependency_round_trip[redis-tls]",
    "test_dependency_answers[rabbit-good]",
    "test_broker_management_alive[rabbit-good]",
    "test_dependency_banner[ssh-like]",
    "test_dependency_answers[heartbeat]",
    "test_flow_step[good/1-login]",
    "test_flow_step[good/2-create]",
    "test_flow_step[good/3-list]",
    "test_flow_cleaned_up[good]",
    "test_flow_step[breaks-midway/2-create]",
    "test_flow_cleaned_up[breaks-midway]",
    "test_bad_input_rejected_cleanly[good]",
    "test_errors_carry_no_debug_output[good]",
    "test_healthy_after_bad_input[good]",
    "test_errors_carry_no_debug_output[fragile]",
    "test_openapi_operations_answer[sound]",
    "test_openapi_responses_match_schema[sound]",
]
FAILING = {
    "test_dependency_answers[pg-wrong-password]": "password authentication failed",
    "test_dependency_query_result[pg-too-few-rows]": "returned 3, expected at least 10",
    "test_dependency_latency_within_budget[pg-too-few-rows]": "budget 0.001 ms",
    "test_broker_management_alive[rabbit-management-down]": "aliveness check failed",
    "test_dependency_banner[not-ftp]": "expected a match for '^220 '",
    "test_dependency_answers[heartbeat-down]": "status 500, expected 200",
    "test_flow_step[breaks-midway/3-read]": "expected a 2xx status, got 500",
    "test_flow_cleaned_up[leaves-a-mess]": "1 of 1 cleanups failed",
    "test_bad_input_rejected_cleanly[fragile]": "-> 500",
    "test_errors_carry_no_debug_output[leaky]": "Python traceback",
    "test_openapi_operations_answer[flawed]": "GET /api/crash -> 500",
    "test_openapi_responses_match_schema[flawed]": "GET /api/broken (200): body at $.id",
}


@pytest.mark.parametrize("check", PASSING)
def test_good_targets_pass(verdicts: Verdicts, check: str) -> None:
    assert verdicts[check] == ("passed", ""), verdicts[check]


@pytest.mark.parametrize("check", sorted(FAILING))
def test_bad_targets_fail_with_the_finding(verdicts: Verdicts, check: str) -> None:
    outcome, message = verdicts[check]
    assert outcome == "failed"
    assert FAILING[check] in message, message


def test_steps_after_a_failed_step_are_skipped_and_its_cleanup_ran(verdicts: Verdicts) -> None:
    outcome, message = verdicts["test_flow_step[breaks-midway/4-after]"]
    assert (outcome, message) == ("skipped", "breaks-midway/4-after: not run: step read failed")
    # Only leaves-a-mess's item is left: breaks-midway cleaned up despite its failed read.
    assert len(flow_app.STATE.items) == 1


def test_failed_step_shows_the_request_and_the_response(verdicts: Verdicts) -> None:
    message = verdicts["test_flow_step[breaks-midway/3-read]"][1]
    assert "request: GET http://127.0.0.1:" in message
    assert "Authorization: ***" in message
    assert "response: 500" in message


def test_no_password_or_token_in_output_or_reports(
    api_run: tuple[Path, str],
    postgres_server: DatabaseServer,
    mariadb_server: DatabaseServer,
    redis_server: RedisServer,
    rabbitmq_server: RabbitServer,
) -> None:
    directory, output = api_run
    secrets = [
        server.password
        for server in (postgres_server, mariadb_server, redis_server, rabbitmq_server)
    ]
    secrets += ["not-the-password", *flow_app.STATE.tokens]
    for secret in secrets:
        assert secret not in output
        for report in directory.iterdir():
            if report.is_file():
                assert secret not in report.read_text(errors="replace"), report.name


def test_a_dependency_without_its_driver_stops_the_run(tmp_path: Path) -> None:
    env_file = tmp_path / "mongo.yaml"
    env_file.write_text("name: mongo\ndependencies:\n  - url: mongodb://127.0.0.1:1/admin\n")
    # The driver made unimportable in the interpreter that runs the suite, as if not installed.
    program = (
        "import sys; sys.modules['pymongo'] = None; import pytest; "
        f"sys.exit(pytest.main(['--env={env_file}', '-p', 'no:cacheprovider']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert (
        "dependencies[0] (mongodb-127.0.0.1:1): mongodb:// needs the pymongo driver, which is "
        "not installed; pip install 'gonogo[mongodb]'"
    ) in done.stderr


def test_own_checks_use_env_api_client_and_flow_runner(
    suite: pytest.Pytester, flows_url: str
) -> None:
    """The escape hatch: a hand-written check beside the declarative ones, both directions."""
    login = (
        "{method: POST, url: /login, "
        f"json: {{username: {flow_app.USERNAME}, password: {flow_app.PASSWORD}}}}}"
    )
    write_env(
        suite,
        "own",
        f"name: own\nbase_url: {flows_url}\nflows:\n  - name: login\n    steps:\n"
        f"      - name: login\n        request: {login}\n"
        "        capture: {token: access_token}\n",
    )
    (suite.path / "checks" / "test_own.py").write_text(
        "def test_search_answers(env, api_client):\n"
        "    assert env.name == 'own'\n"
        "    assert api_client.get('/search', params={'q': 'x'}).status_code == 200\n"
        "\n"
        "def test_declared_flow_by_name(flow_runner):\n"
        "    assert flow_runner('login').passed\n"
        "\n"
        "def test_inline_flow(flow_runner):\n"
        "    read = {'name': 'read', 'request': {'url': '/items/nope'}}\n"
        "    read['expect'] = {'status': 200}\n"
        "    run = flow_runner({'name': 'inline', 'steps': [read]})\n"
        "    assert run.passed, run.steps[0].describe()\n"
    )
    result = suite.runpytest("--env", "own", "checks/test_own.py")
    result.assert_outcomes(passed=2, failed=1)
    assert decision(suite)["blocking"] == ["test_inline_flow"]
    result.stdout.fnmatch_lines(["*step read: expected status 200, got 401 Unauthorized*"])
