"""A real nginx for tests: given server blocks, started on loopback, stopped by its own pid.

Tests that verify edge behaviour (TLS, redirects, headers, limits) need a server that really
behaves that way; nginx configured per case is the same server deployments run.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import stop

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# The RSA-1024 and SHA-1 cases are refused at load time above security level 0, and nginx
# applies ssl_ciphers' @SECLEVEL only after loading certificates: lower the default instead.
_LEGACY_OPENSSL_CNF = (
    "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = defaults\n"
    "[defaults]\nCipherString = DEFAULT:@SECLEVEL=0\n"
)


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now, all different."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def nginx_conf(directory: Path, servers: str) -> str:
    """A whole nginx.conf around `servers` (server blocks), writing only under `directory`."""
    temp = directory / "temp"
    return f"""
worker_processes 1;
pid "{directory}/nginx.pid";
error_log "{directory}/error.log" notice;
events {{ worker_connections 256; }}
http {{
    access_log "{directory}/access.log";
    client_body_temp_path "{temp}/client_body";
    proxy_temp_path "{temp}/proxy";
    fastcgi_temp_path "{temp}/fastcgi";
    uwsgi_temp_path "{temp}/uwsgi";
    scgi_temp_path "{temp}/scgi";
    {servers}
}}
"""


def nginx_test(directory: Path, conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` of `conf` with `directory` as its prefix: does the configuration load?"""
    return subprocess.run(
        [NGINX, "-t", "-p", str(directory), "-e", str(directory / "test.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@contextlib.contextmanager
def running_nginx(directory: Path, servers: str, ports: list[int]) -> Iterator[Path]:
    """nginx with `servers`, until the block ends; waits until every port in `ports` accepts.

    Yields the error log. Fails the test (with the log) when nginx exits or does not listen
    within 10 s. Stops the one process it started, TERM then KILL.
    """
    if not Path(NGINX).is_file():
        pytest.fail(f"nginx not found at {NGINX}; apt-get install -y nginx", pytrace=False)
    (directory / "temp").mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(directory, servers))
    openssl_cnf = directory / "openssl.cnf"
    openssl_cnf.write_text(_LEGACY_OPENSSL_CNF)
    error_log = directory / "error.log"
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf), "-e", str(error_log), "-g", "daemon off;"],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OPENSSL_CONF": str(openssl_cnf)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        waiting = set(ports)
        while waiting:
            if process.poll() is not None or time.monotonic() > deadline:
                log = error_log.read_text() if error_log.exists() else "(no error log)"
                pytest.fail(f"nginx did not start listening on {sorted(waiting)}:\n{log}")
            for port in list(waiting):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    waiting.discard(port)
            time.sleep(0.02)
        yield error_log
    finally:
        stop(process)
