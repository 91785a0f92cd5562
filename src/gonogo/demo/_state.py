"""What a run dir keeps between commands: state.json, and the passwords in demo.env, redis.conf."""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from gonogo.demo._files import write_file
from gonogo.demo.config import COLOURS, PORT_VARIABLES, DemoConfig, read_env_file, with_ports
from gonogo.errors import DemoError

__all__ = [
    "Recorded",
    "Secrets",
    "check_addresses",
    "load_secrets",
    "read_state",
    "redis_conf",
    "redis_conf_path",
    "state_path",
    "write_state",
]


@dataclass(frozen=True)
class Recorded:
    active: str | None
    config: DemoConfig


@dataclass(frozen=True)
class Secrets:
    password: str
    redis_password: str
    postgres_password: str
    # Generated just now: a PostgreSQL cluster left from before cannot know it.
    postgres_password_is_new: bool = False

    def variables(self) -> dict[str, str]:
        return {
            "GONOGO_DEMO_PASSWORD": self.password,
            "GONOGO_DEMO_POSTGRES_PASSWORD": self.postgres_password,
            "GONOGO_DEMO_REDIS_PASSWORD": self.redis_password,
        }


def load_secrets(config: DemoConfig) -> Secrets:
    recorded = read_env_file(config.env_file)
    password = recorded.get("GONOGO_DEMO_PASSWORD")
    postgres_password = recorded.get("GONOGO_DEMO_POSTGRES_PASSWORD")
    redis_password = None
    with contextlib.suppress(FileNotFoundError):
        for line in redis_conf_path(config).read_text().splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "requirepass":
                redis_password = words[1]
    return Secrets(
        password=password or secrets.token_urlsafe(18),
        redis_password=redis_password or secrets.token_urlsafe(32),
        postgres_password=postgres_password or secrets.token_urlsafe(32),
        postgres_password_is_new=not postgres_password,
    )


def redis_conf(config: DemoConfig, keys: Secrets) -> str:
    lines = [
        "# Rendered by `gonogo demo up`; holds the Redis password, hence mode 0600.",
        f"bind {config.host}",
        f"port {config.redis_port}",
        "protected-mode yes",
        f"requirepass {keys.redis_password}",
        # A demo cache: nothing worth persisting, and no dump files left behind.
        'save ""',
        "appendonly no",
        f'dir "{config.run_dir / "redis"}"',
        "daemonize no",
        'logfile ""',
        # Puts the config path, hence the run dir, in the process title that `down` checks.
        'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
    ]
    return "\n".join(lines) + "\n"


def write_state(config: DemoConfig, active: str | None) -> None:
    state = {"active": active, "host": config.host, "ports": config.ports()}
    write_file(state_path(config), json.dumps(state, indent=2) + "\n")


def read_state(config: DemoConfig) -> Recorded | None:
    path = state_path(config)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DemoError(
            f"{path}: unreadable ({exc}); `gonogo demo down` stops the demo and removes it"
        ) from exc
    try:
        active = data["active"]
        if active not in (None, *COLOURS):
            raise ValueError(f"active: expected blue, green or null, got {active!r}")
        recorded = with_ports(DemoConfig(config.run_dir, host=data["host"]), data["ports"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DemoError(
            f"{path}: not a demo state file ({exc}); "
            "`gonogo demo down` stops the demo and removes it"
        ) from exc
    return Recorded(active=active, config=recorded)


def check_addresses(config: DemoConfig) -> Recorded | None:
    recorded = read_state(config)
    if recorded is not None and recorded.config != config:
        changes = ", ".join(
            f"{field.removesuffix('_port')} {getattr(recorded.config, field)} -> "
            f"{getattr(config, field)}"
            for field in ("host", *PORT_VARIABLES)
            if getattr(recorded.config, field) != getattr(config, field)
        )
        raise DemoError(
            f"{state_path(config)}: the demo there was started on other addresses than this "
            f"run asks for ({changes}); run `gonogo demo down` first, then `gonogo demo up` again"
        )
    return recorded


def state_path(config: DemoConfig) -> Path:
    return config.run_dir / "state.json"


def redis_conf_path(config: DemoConfig) -> Path:
    return config.run_dir / "redis.conf"
