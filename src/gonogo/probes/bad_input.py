"""The negative smoke's requests as facts: each case's status, time, and any debug output.

Knows nothing of pytest or of expectations. Cases go one at a time, each with its own
deadline and a capped body read: a storm of hostile requests at a production service is
not a smoke test. No answer is a fact too (a server dropping the connection on a huge body).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass

from gonogo.bad_input import BadCase, debug_output
from gonogo.errors import TargetTimeoutError, TargetUnreachableError
from gonogo.probes.http import fetch

__all__ = ["CaseAnswer", "send_cases"]


@dataclass(frozen=True)
class CaseAnswer:
    """What one case got: a status, or the reason there was no answer in `error`."""

    case: BadCase
    status: int | None
    elapsed_ms: float
    excerpt: str  # the start of the body on one line; empty without an answer
    debug: str | None  # the debug marker found in the body, see gonogo.bad_input.debug_output
    error: str | None
    sent: bool = True  # False: not sent, an earlier case timed out (`error` says which)


def send_cases(
    cases: Iterable[BadCase],
    *,
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
    max_body_bytes: int = 65536,
) -> list[CaseAnswer]:
    """Send each case in turn and record the answer; never raises for a case without one.

    After the first case that times out the rest are not sent (each would most likely wait
    as long, and a hanging service needs no more hostile requests): their `error` says so.
    """
    answers = []
    timed_out: str | None = None
    for case in cases:
        if timed_out is not None:
            answers.append(CaseAnswer(case, None, 0.0, "", None, timed_out, sent=False))
            continue
        started = time.perf_counter()
        try:
            response = fetch(
                case.url,
                method=case.method,
                headers=case.headers,
                content=case.content,
                timeout_s=timeout_s,
                tls=tls,
                max_body_bytes=max_body_bytes,
            )
        except TargetUnreachableError as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            # The case says what was sent; a 100 000-character URL would bury the reason.
            reason = str(exc).removeprefix(f"{case.method} {case.url}: ")
            answers.append(CaseAnswer(case, None, elapsed_ms, "", None, reason))
            if isinstance(exc, TargetTimeoutError):
                timed_out = f"not sent: case {case.name} got no answer within {timeout_s:g} s"
            continue
        answers.append(
            CaseAnswer(
                case,
                response.status,
                response.elapsed_ms,
                response.excerpt(),
                debug_output(response.body),
                None,
            )
        )
    return answers
