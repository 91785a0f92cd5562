"""A server's own configuration test as a host check: the real nginx's `nginx -t` through
testinfra, on a configuration that loads and on ones that cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gonogo.environment_inside import HostPolicy
from gonogo.host_state import config_test_problems
from gonogo.probes import hosts
from tests.nginx_server import NGINX, nginx_conf

REPO = Path(__file__).resolve().parent.parent
VALID = "server { listen 127.0.0.1:1; return 200 'ok'; }"
# The mistake the documents' own configurations make: a directive where nginx does not take it.
WRONG_CONTEXT = "proxy_pass http://127.0.0.1:1; server { listen 127.0.0.1:1; }"


def _config(directory: Path, servers: str) -> str:
    """`nginx -t` of `servers` written as a whole nginx.conf under `directory`."""
    (directory / "temp").mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(directory, servers))
    return f"{NGINX} -t -p {directory} -c {conf}"


@pytest.fixture(scope="module")
def local() -> Any:
    return hosts.connect(HostPolicy(name="edge"), timeout_s=20)


def test_a_configuration_that_loads_passes(local: Any, tmp_path: Path) -> None:
    command = _config(tmp_path, VALID)
    facts = hosts.config_test(local, command)
    assert facts.exit_status == 0, facts.output
    assert "syntax is ok" in facts.output
    assert config_test_problems(HostPolicy(name="edge"), "nginx", facts) == []


def test_a_directive_in_the_wrong_context_fails_with_nginx_s_words(
    local: Any, tmp_path: Path
) -> None:
    command = _config(tmp_path, WRONG_CONTEXT)
    facts = hosts.config_test(local, command)
    assert facts.exit_status == 1
    (problem,) = config_test_problems(HostPolicy(name="edge"), "nginx", facts)
    assert problem.startswith(f"edge: nginx configuration test `{command}` exited 1: ")
    assert "[emerg]" in problem and '"proxy_pass" directive is not allowed here' in problem
    assert problem.endswith("; expected exit 0")


def test_a_missing_server_binary_is_named(local: Any) -> None:
    facts = hosts.config_test(local, "gonogo-no-such-server -t")
    (problem,) = config_test_problems(HostPolicy(name="edge"), "proxy", facts)
    assert problem == (
        "edge: proxy configuration test `gonogo-no-such-server -t`: gonogo-no-such-server "
        "not found on the host; expected the test to exit 0"
    )


def test_the_check_in_a_run_is_go_for_a_valid_config_and_no_go_for_a_broken_one(
    tmp_path: Path,
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    environment = tmp_path / "edge.yaml"
    environment.write_text(
        "name: edge\n"
        "hosts:\n"
        "  - name: edge\n"
        "    backend: local://\n"
        "    undeclared_public_listeners: true\n"
        "    config_tests:\n"
        f"      nginx: {_config(good, VALID)}\n"
        f"      nginx-next: {_config(bad, WRONG_CONTEXT)}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--env={environment}",
            f"--report-dir={tmp_path / 'report'}",
            "-p",
            "no:cacheprovider",
            "-k",
            "config",
        ],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "test_host_config_valid[edge:nginx] PASSED" in done.stdout or "1 passed" in done.stdout
    assert "test_host_config_valid[edge:nginx-next] [major, failed]" in done.stdout
    assert "is not allowed here" in done.stdout
