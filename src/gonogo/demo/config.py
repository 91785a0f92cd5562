"""Where the demo lives, which loopback ports it uses, and the demo.env that a shell sources."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gonogo.demo._files import write_file
from gonogo.errors import DemoError

__all__ = ["COLOURS", "COMPONENTS", "SECRET_VARIABLES", "DemoConfig"]

COLOURS = ("blue", "green")
# `status` lists them in this order and `down` signals them in reverse: the stores last.
COMPONENTS = ("redis", "postgres", "api-blue", "api-green", "prometheus", "nginx")
PORT_VARIABLES = {
    "http_port": "GONOGO_DEMO_HTTP_PORT",
    "https_port": "GONOGO_DEMO_HTTPS_PORT",
    "blue_port": "GONOGO_DEMO_BLUE_PORT",
    "green_port": "GONOGO_DEMO_GREEN_PORT",
    "redis_port": "GONOGO_DEMO_REDIS_PORT",
    "postgres_port": "GONOGO_DEMO_POSTGRES_PORT",
    "admin_port": "GONOGO_DEMO_ADMIN_PORT",
    "worker_port": "GONOGO_DEMO_WORKER_PORT",
    "prometheus_port": "GONOGO_DEMO_PROMETHEUS_PORT",
}
# What demo.env holds besides ports and paths: the login password for the suite, and the
# store passwords its dependency checks need.
SECRET_VARIABLES = (
    "GONOGO_DEMO_PASSWORD",
    "GONOGO_DEMO_POSTGRES_PASSWORD",
    "GONOGO_DEMO_REDIS_PASSWORD",
)
# First port first: it is the one `status` reports for the component.
COMPONENT_PORTS = {
    "redis": ("redis_port",),
    "postgres": ("postgres_port",),
    "api-blue": ("blue_port",),
    "api-green": ("green_port",),
    "prometheus": ("prometheus_port",),
    # The admin port listens only while green is active: the planted open port.
    "nginx": ("https_port", "http_port", "admin_port"),
}
# Characters that nginx.conf and redis.conf cannot hold inside a quoted path.
_UNSAFE_PATH_CHARS = frozenset("\"'\\$;{}\n\r\t")


@dataclass(frozen=True)
class DemoConfig:
    """Where the demo lives and which loopback ports it uses; the same values make the same demo."""

    run_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 18080
    https_port: int = 18443
    blue_port: int = 18001
    green_port: int = 18002
    redis_port: int = 16379
    postgres_port: int = 15432
    admin_port: int = 18090
    worker_port: int = 18091
    prometheus_port: int = 19090

    def __post_init__(self) -> None:
        if not self.run_dir.is_absolute():
            raise ValueError(f"run_dir: expected an absolute path, got {self.run_dir}")
        unsafe = sorted(_UNSAFE_PATH_CHARS.intersection(str(self.run_dir)))
        if unsafe:
            raise ValueError(
                f"run_dir: {self.run_dir} contains {''.join(unsafe)!r}, which the generated "
                "nginx and Redis configs cannot quote; choose another directory"
            )
        try:
            loopback = ipaddress.IPv4Address(self.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"host: expected an IPv4 loopback address such as 127.0.0.1, got {self.host!r}; "
                "the demo holds a known password and must not listen beyond this machine"
            )
        ports = self.ports()
        for field, port in ports.items():
            _check_port(field, port)
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"ports: expected {len(ports)} different ports, got {ports}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], cwd: Path) -> DemoConfig:
        """Read GONOGO_DEMO_DIR and the GONOGO_DEMO_*_PORT variables, defaulting what is unset."""
        run_dir = (cwd / environ.get("GONOGO_DEMO_DIR", ".gonogo/demo")).resolve()
        ports = {
            field: _parse_port(variable, environ[variable])
            for field, variable in PORT_VARIABLES.items()
            if variable in environ
        }
        config = cls(run_dir=run_dir)
        return with_ports(config, {**config.ports(), **ports})

    @classmethod
    def with_free_ports(cls, run_dir: Path) -> DemoConfig:
        """A config on ports free right now, so parallel runs and a running demo do not collide."""
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(socket.socket()) for _ in PORT_VARIABLES]
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            ports = {
                field: int(sock.getsockname()[1])
                for field, sock in zip(PORT_VARIABLES, sockets, strict=True)
            }
        return with_ports(cls(run_dir=run_dir), ports)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.https_port}"

    @property
    def project(self) -> str:
        """The worker's compose project: one per run dir, so two demos never share containers."""
        digest = hashlib.sha256(str(self.run_dir).encode()).hexdigest()[:8]
        return f"gonogo-demo-{digest}"

    @property
    def env_file(self) -> Path:
        return self.run_dir / "demo.env"

    @property
    def ca_file(self) -> Path:
        return self.run_dir / "pki" / "ca.pem"

    def ports(self) -> dict[str, int]:
        return {field: int(getattr(self, field)) for field in PORT_VARIABLES}

    def variables(self) -> dict[str, str]:
        """The environment a shell or test needs to run the suite against this demo."""
        values = read_env_file(self.env_file)
        missing = [name for name in SECRET_VARIABLES if not values.get(name)]
        if missing:
            raise DemoError(f"{self.env_file}: no {missing[0]}; run `gonogo demo up` to create it")
        secrets = {name: values[name] for name in SECRET_VARIABLES}
        return {**self._public_variables(values.get("GONOGO_DEMO_DOCKER_HOST", "")), **secrets}

    def _public_variables(self, docker_host: str) -> dict[str, str]:
        ports = {variable: str(getattr(self, f)) for f, variable in PORT_VARIABLES.items()}
        return {
            "GONOGO_DEMO_DIR": str(self.run_dir),
            **ports,
            "GONOGO_DEMO_PROJECT": self.project,
            "GONOGO_DEMO_DOCKER_HOST": docker_host,
        }


def with_ports(config: DemoConfig, ports: Mapping[str, int]) -> DemoConfig:
    return DemoConfig(
        run_dir=config.run_dir,
        host=config.host,
        http_port=ports["http_port"],
        https_port=ports["https_port"],
        blue_port=ports["blue_port"],
        green_port=ports["green_port"],
        redis_port=ports["redis_port"],
        postgres_port=ports["postgres_port"],
        admin_port=ports["admin_port"],
        worker_port=ports["worker_port"],
        prometheus_port=ports["prometheus_port"],
    )


def component_port(config: DemoConfig, name: str) -> int:
    return int(getattr(config, COMPONENT_PORTS[name][0]))


def _parse_port(variable: str, text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{variable}: expected a port number, got {text!r}") from None
    _check_port(variable, port)
    return port


def _check_port(name: str, port: int) -> None:
    # Below 1024 would need root and could clash with real services on the machine.
    if not 1024 <= port <= 65535:
        raise ValueError(f"{name}: expected a port in 1024-65535, got {port}")


def write_env_file(config: DemoConfig, secrets: Mapping[str, str], docker_host: str) -> None:
    values = {**config._public_variables(docker_host), **secrets}
    lines = [
        "# gonogo demo: `set -a; . <this file>; set +a` exports what a run against the demo needs.",
        *(f"{key}={shlex.quote(value)}" for key, value in values.items()),
    ]
    write_file(config.env_file, "\n".join(lines) + "\n", 0o600)


def read_env_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = "".join(shlex.split(raw))
    return values
