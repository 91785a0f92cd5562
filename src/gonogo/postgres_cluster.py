"""A PostgreSQL cluster of our own, from the distribution's packages, for the demo and the tests.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user the
package creates and lives under /var/lib/gonogo/postgres (a root-only directory such as a
pytest temp dir is not reachable for that user); otherwise it lives where the caller says.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gonogo.errors import DemoError

__all__ = ["OWN_CLUSTERS", "Cluster", "bin_path", "cluster_for"]

OWN_CLUSTERS = Path("/var/lib/gonogo/postgres")
_SERVICE_USER = "postgres"
_INITDB_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Cluster:
    """One data directory and the OS user its server runs as (None: whoever starts it)."""

    data_dir: Path
    user: str | None

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def initialise(self, superuser: str, password: str) -> None:
        """initdb with password (scram) authentication for every connection; once per cluster."""
        if self.initialised:
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The password goes in a file only the server's user can read: a command line is
        # readable by every user, and initdb cannot read a root-owned stdin after setuid.
        password_file = self.data_dir.with_name(self.data_dir.name + ".pw")
        password_file.write_text(password)
        password_file.chmod(0o600)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.data_dir, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        argv = [
            bin_path("initdb"),
            *("-D", str(self.data_dir), "-U", superuser, "--auth=scram-sha-256"),
            f"--pwfile={password_file}",
            *("--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
        ]
        try:
            done = subprocess.run(  # noqa: S603
                argv,
                capture_output=True,
                timeout=_INITDB_TIMEOUT_S,
                user=self.user,
                group=self.user,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DemoError(
                f"initdb {self.data_dir}: not done within {_INITDB_TIMEOUT_S:g} s"
            ) from None
        finally:
            password_file.unlink(missing_ok=True)
        if done.returncode != 0:
            output = (done.stderr or done.stdout).decode(errors="replace").strip()[-600:]
            raise DemoError(f"initdb {self.data_dir} failed ({done.returncode}): {output}")

    def server_argv(self, host: str, port: int) -> list[str]:
        """The postmaster on one address and port, TCP only, logging to stderr."""
        return [
            bin_path("postgres"),
            *("-D", str(self.data_dir), "-h", host, "-p", str(port)),
            *("-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=50"),
        ]

    def remove(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.with_name(self.data_dir.name + ".pw").unlink(missing_ok=True)


def cluster_for(name: str, fallback_dir: Path) -> Cluster:
    """The cluster called `name`: under OWN_CLUSTERS as the postgres user when running as root,
    else in `fallback_dir` as ourselves."""
    if os.geteuid() != 0:
        return Cluster(fallback_dir, None)
    try:
        pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        raise DemoError(
            f"no '{_SERVICE_USER}' user: PostgreSQL cannot run as root, and the user its "
            "package creates is missing (Debian or Ubuntu: apt-get install postgresql)"
        ) from None
    OWN_CLUSTERS.mkdir(mode=0o755, parents=True, exist_ok=True)
    return Cluster(OWN_CLUSTERS / name, _SERVICE_USER)


def bin_path(name: str) -> str:
    """A server binary: Debian keeps them in /usr/lib/postgresql/<major>/bin, off PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    found = str(versions[-1]) if versions else shutil.which(name)
    if found is None:
        raise DemoError(
            f"{name}: not found in /usr/lib/postgresql/*/bin or on PATH "
            "(Debian or Ubuntu: apt-get install postgresql)"
        )
    return found
