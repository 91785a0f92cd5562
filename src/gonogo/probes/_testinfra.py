"""Bounded testinfra backends: testinfra's own have no time bound and no output cap.

A testinfra backend waits as long as a command runs and reads all it prints, so one hung
`systemctl` or one huge listing would stall or swamp the whole gate. The backends here give
each command the deadline and the cap of the host it runs on:

- local, netns, ssh, docker, podman, kubectl: testinfra runs each command as a local process
  (`sh -c`, `ip netns exec`, or the ssh / docker / podman / kubectl client). gonogo starts it
  in a session of its own, reads at most 1 MiB of stdout and of stderr (more is an error, not
  a cut answer), and kills the whole process group at the deadline. What a killed client had
  started on the far side (a command in a container, on an ssh host) is not reached from here
  and runs to its own end. ssh also gets ConnectTimeout and BatchMode, so it never waits for a
  password; sudo is `sudo -n` everywhere for the same reason.
- paramiko, ansible: there is no process of ours to kill, so each command runs in a daemon
  thread that gonogo stops waiting for at the deadline (the connection or the `ansible`
  process finishes on its own timeouts); output is capped after the fact.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import signal
import subprocess
import threading
import time
from typing import Any

import testinfra.backend
import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from gonogo.environment_inside import HostPolicy
from gonogo.errors import TargetUnreachableError

MAX_OUTPUT = 1024 * 1024  # per stream and command; a longer answer is refused, not parsed
_SHOWN = 160  # characters of a command quoted in a message
# What the docker / podman / kubectl client prints when the engine or the container, not the
# command, failed: without this a missing container would read as "command exited 1".
_CLIENT_ERRORS = {
    "docker": (
        b"Error response from daemon",
        b"Cannot connect to the Docker daemon",
        b"error during connect",
    ),
    "podman": (b"Error: no container", b"Error: can only create exec sessions"),
    "kubectl": (b"Error from server", b"The connection to the server", b"error: unable to"),
}


class RunError(Exception):
    """A command that did not run to its end: not started, timed out, or said too much."""


# testinfra ships no type information: its classes are Any to mypy.
class _Backend(BaseBackend):  # type: ignore[misc]
    """What every gonogo backend adds to testinfra's: a deadline, an output cap, `sudo -n`."""

    timeout_s: float = 30.0
    max_bytes: int = MAX_OUTPUT

    def get_sudo_command(self, command: str, sudo_user: str | None) -> str:
        # -n: fail at once where sudo would ask for a password no one is there to type
        if sudo_user is None:
            return str(self.quote("sudo -n /bin/sh -c %s", command))
        return str(self.quote("sudo -n -u %s /bin/sh -c %s", sudo_user, command))


class _ProcessBackend(_Backend):
    """Backends whose commands are local processes (testinfra's run_local): killed in time."""

    client_errors: tuple[bytes, ...] = ()

    def run_local(self, command: str, *args: str) -> Any:
        text = str(self.quote(command, *args))
        rc, out, err = _run_process(self.encode(text), self.timeout_s, self.max_bytes, text)
        if rc != 0 and err.lstrip().startswith(self.client_errors):
            raise RunError(f"`{shown(text)}`: {first_line(err.decode(errors='replace'))}")
        return self.result(rc, self.encode(text), out, err)


class _NetnsBackend(_ProcessBackend):
    """This machine, every command run inside one network namespace."""

    NAME = "local"

    def __init__(self, netns: str, **kwargs: Any) -> None:
        self.netns = netns
        super().__init__(f"netns:{netns}", **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        inner = self.quote(command, *args)
        outer = str(self.quote("ip netns exec %s /bin/sh -c %s", self.netns, inner))
        if self.sudo:  # `ip netns exec` itself needs root
            outer = self.get_sudo_command(outer, None)
        return self.run_local(outer)


class _ThreadedBackend(_Backend):
    """Backends that talk over a library connection: waited for in a thread, up to the deadline."""

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        answers: list[Any] = []
        failures: list[BaseException] = []
        parent_run = super().run

        def work() -> None:
            try:
                answers.append(parent_run(command, *args, **kwargs))
            except BaseException as exc:  # handed to the waiting thread below
                failures.append(exc)

        quoted = shown(str(self.quote(command, *args)))
        worker = threading.Thread(target=work, name=f"gonogo {self.NAME} command", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if failures:
            failed = failures[0]
            if not isinstance(failed, Exception) or isinstance(failed, RunError):
                raise failed
            # paramiko's and ansible's failures are the connection's, never the command's
            said = _failure(failed)
            raise RunError(f"{self.NAME} could not run `{quoted}`: {said}") from None
        if not answers:
            raise RunError(f"`{quoted}` did not finish within {self.timeout_s:g} s; gave up on it")
        result = answers[0]
        if max(len(result.stdout_bytes), len(result.stderr_bytes)) > self.max_bytes:
            raise RunError(f"`{quoted}` printed more than {_size(self.max_bytes)}; not parsed")
        return result


class Host(testinfra.host.Host):  # type: ignore[misc]
    """A testinfra host that names itself in errors and can record the commands it runs."""

    def __init__(self, backend: Any, label: str, timeout_s: float) -> None:
        super().__init__(backend)
        self.label = label
        self.timeout_s = timeout_s
        self.max_bytes = MAX_OUTPUT
        self.journal: list[Any] | None = None

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        self.backend.timeout_s, self.backend.max_bytes = self.timeout_s, self.max_bytes
        try:
            result = super().run(command, *args, **kwargs)
        except RunError as exc:
            raise TargetUnreachableError(f"{self.label}: {exc}") from None
        except RuntimeError as exc:
            if not (exc.args and isinstance(exc.args[0], CommandResult)):
                raise
            failed = exc.args[0]  # testinfra's ssh backend: ssh itself failed (exit 255)
            raise TargetUnreachableError(
                f"{self.label}: ssh could not run `{shown(str(command))}` "
                f"(exit {failed.rc}): {first_line(failed.stderr)}"
            ) from None
        if self.journal is not None:
            self.journal.append(result)
        return result


def _failure(failed: Exception) -> str:
    """What went wrong, in words: testinfra wraps a failed ssh under ansible in a CommandResult."""
    result = failed.args[0] if failed.args else None
    if isinstance(result, CommandResult):
        return f"exit {result.rc}: {first_line(result.stderr)}"
    return first_line(str(failed)) or type(failed).__name__


def new_backend(policy: HostPolicy, timeout_s: float, label: str) -> Any:
    scheme = policy.backend.partition("://")[0]
    name, kwargs = testinfra.backend.parse_hostspec(policy.backend)
    kwargs["sudo"] = policy.sudo or kwargs.get("sudo", False)
    if policy.ansible_inventory is not None:
        kwargs["ansible_inventory"] = policy.ansible_inventory
    if scheme in ("ssh", "paramiko"):
        kwargs.setdefault("timeout", max(1, math.ceil(timeout_s)))
    if scheme == "ssh":
        kwargs.setdefault("ssh_extra_args", "-o BatchMode=yes")
    try:
        if policy.netns is not None:
            backend: Any = _NetnsBackend(policy.netns, **kwargs)
        else:
            base = testinfra.backend.get_backend_class(scheme)
            mixin = _ThreadedBackend if scheme in ("paramiko", "ansible") else _ProcessBackend
            klass = type(
                f"Gonogo{base.__name__}",
                (mixin, base),
                {"client_errors": _CLIENT_ERRORS.get(scheme, ())},
            )
            backend = klass(**kwargs) if scheme == "local" else klass(name, **kwargs)
    except (RuntimeError, ImportError, ValueError) as exc:  # e.g. paramiko not installed
        raise TargetUnreachableError(f"{label}: cannot open the backend: {exc}") from None
    backend.timeout_s = timeout_s
    return backend


def check_connection(host: Host, policy: HostPolicy) -> None:
    """Fail now, with the backend's words, rather than read a failed command as a fact."""
    result = host.run("echo gonogo-ok")
    if result.rc != 0 or result.stdout.strip() != "gonogo-ok":
        said = first_line(result.stderr) or first_line(result.stdout) or "no output"
        raise TargetUnreachableError(
            f"{host.label}: cannot run commands through {policy.backend} "
            f"(`echo` exited {result.rc}): {said}"
        )


def _run_process(
    command: bytes, timeout_s: float, max_bytes: int, text: str
) -> tuple[int, bytes, bytes]:
    deadline = time.monotonic() + timeout_s
    try:
        process = subprocess.Popen(  # noqa: S602 - testinfra's command line, arguments quoted
            command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a group to kill, and no terminal to prompt on
        )
    except OSError as exc:
        raise RunError(f"cannot start `{shown(text)}`: {exc.strerror or exc}") from None
    late = RunError(f"`{shown(text)}` did not finish within {timeout_s:g} s; killed it")
    with process:
        try:
            out, err = _read_capped(process, deadline, max_bytes, text, late)
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise late from None
        except BaseException:
            _kill_group(process)
            raise
    return process.returncode, out, err


def _read_capped(
    process: subprocess.Popen[bytes], deadline: float, max_bytes: int, text: str, late: RunError
) -> tuple[bytes, bytes]:
    if process.stdout is None or process.stderr is None:
        raise RunError(f"`{shown(text)}`: no pipes to read")
    names = {process.stdout.fileno(): "stdout", process.stderr.fileno(): "stderr"}
    read: dict[int, bytearray] = {fd: bytearray() for fd in names}
    with selectors.DefaultSelector() as selector:
        for fd in names:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise late
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                read[key.fd] += chunk
                if len(read[key.fd]) > max_bytes:
                    raise RunError(
                        f"`{shown(text)}` printed more than {_size(max_bytes)} on "
                        f"{names[key.fd]}; stopped it rather than judge a cut answer"
                    )
    return bytes(read[process.stdout.fileno()]), bytes(read[process.stderr.fileno()])


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the command's own session: nothing else
    process.wait()


# --- wording -------------------------------------------------------------------------------


def first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def shown(command: str) -> str:
    flat = " ".join(command.split())
    return flat if len(flat) <= _SHOWN else flat[: _SHOWN - 3] + "..."


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count} bytes"
