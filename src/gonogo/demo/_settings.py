"""The demo API's settings, apart from the routes so that its storage can take them too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RELEASES", "Settings"]

RELEASES = {"blue": "1.4.2", "green": "1.5.0"}


@dataclass(frozen=True)
class Settings:
    """What one API process needs to know, handed over by the supervisor through its environment."""

    release: str
    password: str
    redis_port: int
    redis_password: str
    postgres_port: int
    postgres_password: str
    redis_host: str = "127.0.0.1"
    postgres_host: str = "127.0.0.1"
    postgres_user: str = "demo"
    postgres_database: str = "demo"

    @property
    def version(self) -> str:
        return RELEASES[self.release]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        release = _required(environ, "GONOGO_DEMO_RELEASE")
        if release not in RELEASES:
            raise ValueError(
                f"GONOGO_DEMO_RELEASE: expected one of {', '.join(RELEASES)}, got {release!r}"
            )
        return cls(
            release=release,
            password=_required(environ, "GONOGO_DEMO_PASSWORD"),
            redis_port=_port(environ, "GONOGO_DEMO_REDIS_PORT"),
            redis_password=_required(environ, "GONOGO_DEMO_REDIS_PASSWORD"),
            redis_host=environ.get("GONOGO_DEMO_REDIS_HOST", "127.0.0.1"),
            postgres_port=_port(environ, "GONOGO_DEMO_POSTGRES_PORT"),
            postgres_password=_required(environ, "GONOGO_DEMO_POSTGRES_PASSWORD"),
            postgres_host=environ.get("GONOGO_DEMO_POSTGRES_HOST", "127.0.0.1"),
            postgres_user=environ.get("GONOGO_DEMO_POSTGRES_USER", "demo"),
            postgres_database=environ.get("GONOGO_DEMO_POSTGRES_DATABASE", "demo"),
        )


def _port(environ: Mapping[str, str], name: str) -> int:
    text = _required(environ, name)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: expected a port number, got {text!r}") from None


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise ValueError(f"{name}: not set; start the API through `gonogo demo up`, which sets it")
    return value
