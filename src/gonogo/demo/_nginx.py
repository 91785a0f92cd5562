"""nginx's side of the demo: its config files, its command line, and the reload that switches."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import jinja2

from gonogo.demo._files import write_file
from gonogo.demo._processes import executable, log_path, send_signal
from gonogo.demo.config import DemoConfig, component_port
from gonogo.errors import DemoError

__all__ = ["nginx_argv", "reload_for", "write_nginx_config"]


def write_nginx_config(config: DemoConfig, colour: str) -> None:
    for path, text in _rendered(config, colour).items():
        write_file(path, text)
    _nginx_check(config)


def reload_for(config: DemoConfig, colour: str, nginx_pid: int) -> None:
    """Rewrite both files for `colour` (each release has its own edge) and reload.

    Rejected files are put back, so no later reload picks up what `nginx -t` refused.
    """
    rendered = _rendered(config, colour)
    previous = {path: path.read_text() for path in rendered if path.exists()}
    for path, text in rendered.items():
        write_file(path, text)
    try:
        _nginx_check(config)
    except DemoError:
        for path, text in previous.items():
            write_file(path, text)
        raise
    # SIGHUP: nginx re-reads its config and replaces workers without dropping connections.
    send_signal(nginx_pid, signal.SIGHUP)


def nginx_argv(config: DemoConfig) -> list[str]:
    return [
        executable("nginx"),
        *("-p", f"{_nginx_dir(config)}/"),
        # -e: even before reading the config, nginx logs here instead of /var/log/nginx.
        *("-e", str(log_path(config, "nginx"))),
        *("-c", str(_nginx_dir(config) / "nginx.conf")),
        *("-g", "daemon off;"),
    ]


def _nginx_check(config: DemoConfig) -> None:
    argv = [*nginx_argv(config), "-t"]
    try:
        result = subprocess.run(  # noqa: S603 -- fixed executable, our own paths
            argv, capture_output=True, text=True, timeout=10, check=False
        )
    except subprocess.TimeoutExpired:
        raise DemoError(f"nginx -t: no verdict within 10 s on {argv[-4]}") from None
    if result.returncode != 0:
        output = (result.stderr + result.stdout).strip()
        raise DemoError(f"nginx -t rejected {argv[-4]} (exit {result.returncode}):\n{output}")


def _rendered(config: DemoConfig, colour: str) -> dict[Path, str]:
    return {
        _nginx_dir(config) / "upstream.conf": _upstream_conf(config, colour),
        _nginx_dir(config) / "nginx.conf": _nginx_conf(config, colour),
    }


def _nginx_conf(config: DemoConfig, colour: str) -> str:
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("gonogo.demo", "templates"),
        # Renders nginx syntax, not HTML: escaping would corrupt quotes in the config.
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    nginx_dir = _nginx_dir(config)
    return templates.get_template("nginx.conf").render(
        run_dir=config.run_dir,
        nginx_dir=nginx_dir,
        temp_dir=nginx_dir / "tmp",
        error_log=log_path(config, "nginx"),
        access_log=config.run_dir / "logs" / "nginx-access.log",
        upstream_conf=nginx_dir / "upstream.conf",
        server_cert=config.run_dir / "pki" / "server.pem",
        server_key=config.run_dir / "pki" / "server.key",
        host=config.host,
        http_port=config.http_port,
        https_port=config.https_port,
        admin_port=config.admin_port,
        colour=colour,
        green=colour == "green",
    )


def _upstream_conf(config: DemoConfig, colour: str) -> str:
    port = component_port(config, f"api-{colour}")
    return (
        f"# Active release: {colour}. Rewritten by `gonogo demo switch`.\n"
        f"upstream gonogo_api {{\n    server {config.host}:{port};\n}}\n"
    )


def _nginx_dir(config: DemoConfig) -> Path:
    return config.run_dir / "nginx"
