"""A bounded schemathesis run over an OpenAPI document, as facts: passed or not, and why.

Knows nothing of pytest. schemathesis runs as its own CLI in a child process, in a process
group of its own and a scratch directory: its hypothesis machinery, threads and files stay out
of the suite's process, and the whole group can be stopped however it behaves. It is asked to
stop (SIGINT, on which it still prints its summary) at the time bound and killed 10 s later.

schemathesis is handed the document as gonogo fetched it (one GET, no redirect followed), in a
file: given the URL, it would follow a redirect of the document, and it fetches every remote
`$ref` and `externalValue` a document names, from whatever host. A document that points outside
itself is refused before the run, so its requests go to the base URL and nowhere else.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gonogo.declared_hosts import DeclaredHosts
from gonogo.environment_flows import SchemathesisRun
from gonogo.errors import GonogoError
from gonogo.probes._process_group import direct_environment
from gonogo.probes.http import tls_context

__all__ = ["SchemathesisOutcome", "run_schemathesis"]

GRACE_S = 10.0
OUTPUT_TAIL_BYTES = 64 * 1024  # the failures' headings come before the summary: keep both
# Its report: `____ GET /api/crash ____` heads each failing operation, and the last
# `==== 2 failures, 1 warning in 9.46s ====` line sums the run up.
_FAILING = re.compile(r"^_{3,} (.+?) _{3,}$", re.MULTILINE)
_TOTAL = re.compile(r"^={3,} (.+?) ={3,}$", re.MULTILINE)
# Keys whose string value names another document for schemathesis to fetch ("#..." is local).
_REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef", "operationRef")
_SHOWN_REFERENCES = 3


@dataclass(frozen=True)
class SchemathesisOutcome:
    """Whether the run found nothing; `summary` in one line, `output_tail` the report's end."""

    passed: bool
    summary: str
    output_tail: str


def run_schemathesis(
    document_url: str,
    base_url: str,
    run: SchemathesisRun,
    headers: Mapping[str, str],
    *,
    ca_file: Path | None = None,
    verify_tls: bool = True,
    timeout_s: float = 30.0,
) -> SchemathesisOutcome:
    """Run schemathesis's `not_a_server_error` check over every operation of the document.

    Requests go to `base_url` whatever the document's `servers` say. The document is fetched
    here (within `timeout_s`, with `headers`); one that cannot be read, or that names another
    document (a `$ref` or `externalValue` outside it), fails without a run. `headers` go on the
    command line (`-H`): on a shared machine other users can read them there while it runs.
    """
    if importlib.util.find_spec("schemathesis") is None:
        raise GonogoError(
            "the OpenAPI smoke's schemathesis run needs schemathesis: "
            "pip install 'gonogo[schemathesis]'"
        )
    from gonogo.probes.openapi import fetch_document  # that module offers this one's run

    try:
        document = fetch_document(
            document_url,
            headers=dict(headers),
            timeout_s=timeout_s,
            tls=tls_context(ca_file, verify_tls),
        )
    except GonogoError as exc:
        return SchemathesisOutcome(False, f"not run, the document was not read: {exc}", "")
    outside = list(_outside_references(document))
    if outside:
        hosts = DeclaredHosts.of_urls([document_url, base_url])
        return SchemathesisOutcome(False, _refusal(outside, document_url, hosts), "")
    try:
        # YAML may hold dates and the like: as text, which is what a JSON document would say.
        text = json.dumps(document, default=str)
    except (TypeError, ValueError) as exc:  # a key JSON cannot hold, a document holding itself
        return SchemathesisOutcome(False, f"not run, the document is not JSON-shaped: {exc}", "")
    with tempfile.TemporaryDirectory(prefix="gonogo-schemathesis-") as scratch:
        copy = Path(scratch) / "openapi.json"
        copy.write_text(text, encoding="utf-8")
        command = _command(str(copy), base_url, run, headers, ca_file, verify_tls)
        returncode, output, finished = _run_bounded(command, scratch, run.max_duration_s)
    return _outcome(returncode, output, finished, run.max_duration_s)


def _outside_references(document: Any) -> Iterator[tuple[str, str, str]]:
    """(where, key, value) of each reference to something outside the document: a `$ref` (or
    `operationRef`...) not starting with `#`, and every `externalValue`.

    Each mapping and list is visited once (YAML anchors can make a document contain itself),
    so the walk ends within the document's size, at most MAX_DOCUMENT_BYTES.
    """
    queue: deque[tuple[str, Any]] = deque([("", document)])
    seen: set[int] = set()
    while queue:
        where, value = queue.popleft()
        if id(value) in seen:
            continue
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            inner = f"{where}[{key}]" if isinstance(value, list) else f"{where}.{key}".lstrip(".")
            if isinstance(item, str) and isinstance(value, dict):
                local = item.startswith("#") or key not in _REFERENCES
                if key == "externalValue" or not local:
                    yield where or "the top level", str(key), item
            elif isinstance(item, dict | list):
                queue.append((inner, item))


def _refusal(outside: list[tuple[str, str, str]], document_url: str, hosts: DeclaredHosts) -> str:
    shown = []
    for where, key, value in outside[:_SHOWN_REFERENCES]:
        try:
            host = httpx.URL(document_url).join(value).host
        except httpx.InvalidURL:
            host = ""
        whose = (
            f"names {host}, a host the environment does not declare"
            if host and not hosts.allows(host)
            else "is outside the document"
        )
        shown.append(f"{key} {value!r} at {where} {whose}")
    more = f" (and {len(outside) - len(shown)} more)" if len(outside) > len(shown) else ""
    return (
        "not run: schemathesis would fetch what the document points to, from wherever it "
        f"points: {'; '.join(shown)}{more}; bundle them into the document"
    )


def _command(
    location: str,
    base_url: str,
    run: SchemathesisRun,
    headers: Mapping[str, str],
    ca_file: Path | None,
    verify_tls: bool,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        location,
        "--url",
        base_url,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(run.max_examples),
        "--generation-database",
        "none",
        "--no-color",
        "--tls-verify",
        str(ca_file) if verify_tls and ca_file else str(verify_tls).lower(),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return command


def _run_bounded(command: list[str], cwd: str, limit_s: float) -> tuple[int, str, bool]:
    """The exit status, the output's last OUTPUT_TAIL_BYTES, and whether it ended in time."""
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, arguments as a list
            command,
            cwd=cwd,
            env=direct_environment(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group to stop, children and all
        )
    except OSError as exc:
        raise GonogoError(f"cannot start schemathesis: {exc.strerror or exc}") from None
    tail = bytearray()
    with process:
        try:
            finished = _read_until(process, time.monotonic() + limit_s, tail)
            if not finished:
                _signal_group(process, signal.SIGINT)
                if not _read_until(process, time.monotonic() + GRACE_S, tail):
                    _signal_group(process, signal.SIGKILL)
        except BaseException:
            _signal_group(process, signal.SIGKILL)
            raise
    return process.returncode, tail.decode("utf-8", errors="replace"), finished


def _read_until(process: subprocess.Popen[bytes], deadline: float, tail: bytearray) -> bool:
    """Keep the output's tail until the process has closed it and exited; False at the deadline."""
    if process.stdout is None:
        raise GonogoError("schemathesis: no pipe to read its output from")
    fd = process.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if selector.select(left):
                chunk = os.read(fd, 65536)
                if not chunk:
                    selector.unregister(fd)
                tail += chunk
                del tail[:-OUTPUT_TAIL_BYTES]
    try:
        process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)  # its own session: nothing else is in the group


def _outcome(returncode: int, output: str, finished: bool, limit_s: float) -> SchemathesisOutcome:
    totals = _TOTAL.findall(output)
    summary = totals[-1] if totals else _why_no_run(returncode, output)
    failing = list(dict.fromkeys(_FAILING.findall(output)))
    if failing:
        summary += "; failing: " + ", ".join(failing)
    if not finished:
        summary = f"not finished within {limit_s:g} s; {summary}"
    return SchemathesisOutcome(finished and returncode == 0, summary, output.strip())


def _why_no_run(returncode: int, output: str) -> str:
    """Without its summary line (the document did not load, say): the first line naming an
    error, which is where schemathesis says what went wrong."""
    lines = [re.sub(r"^\W+", "", line.strip()) for line in output.splitlines()]
    lines = [line for line in lines if line]
    detail = next(
        (line for line in lines if re.search(r"error|failed", line, re.IGNORECASE)),
        lines[-1] if lines else "no output",
    )
    return f"schemathesis exited with status {returncode}: {detail[:200]}"
