"""Runs a declarative API flow: log in, use the token, create, read, delete, upload, download.

Knows nothing of pytest. Each step's request and answer are kept as facts, so a check can say
what was sent and what came back. Secrets met on the way (issued tokens, session cookies,
credentials in request bodies, `secret: true` captures) go to `learn_secret` the moment they
are seen, and are masked in everything recorded here. Cleanups run however the flow ends,
because a verification run must not leave its test data in the deployment it verifies.
A step URL filled in from an answer (`url: "{{ next }}"`) could point anywhere; a request is
sent only to a host the environment declares, any other is refused unsent, a finding.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from gonogo._flow_expect import (
    Redact,
    as_text,
    excerpt,
    fill_json,
    fill_text,
    filled_expect,
    judge,
    status_problem,
)
from gonogo.declared_hosts import DeclaredHosts
from gonogo.environment import SENSITIVE_HEADERS
from gonogo.environment_flows import Capture, Flow, Step, StepExpect, StepRequest
from gonogo.errors import TargetUnreachableError
from gonogo.json_paths import MISSING, lookup
from gonogo.probes.http import DEFAULT_MAX_BODY_BYTES, HttpResponse, fetch, merged_headers
from gonogo.redaction import MASK, Redactor, credentials_in

__all__ = ["CleanupResult", "FlowRun", "SentRequest", "StepResult", "run_flow"]

Outcome = Literal["passed", "failed", "error", "not_run"]
_SHOWN_HEADERS = 5
_TELLING_HEADERS = ("content-type", "location", "www-authenticate")  # shown first
_MASKED_HEADERS = SENSITIVE_HEADERS | {"set-cookie"}


@dataclass(frozen=True)
class SentRequest:
    """What went out, safe to show: credential headers as ***, every known secret masked."""

    method: str
    url: str
    headers: dict[str, str]
    body_excerpt: str

    def describe(self) -> str:
        text = f"{self.method} {self.url}"
        if self.headers:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in self.headers.items()) + ")"
        return text + (f" body {self.body_excerpt}" if self.body_excerpt else "")


@dataclass(frozen=True)
class StepResult:
    """How one step went; `reason` is one line: the problems, the error, or why it did not run."""

    name: str
    outcome: Outcome
    problems: tuple[str, ...]
    request: SentRequest | None
    response: HttpResponse | None
    reason: str
    # The secrets known when the step ran: describe() masks them in the response it shows.
    masked: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def describe(self) -> str:
        """One message for the operator: what went wrong, what was sent, what came back."""
        parts = [f"step {self.name}: {self.reason or self.outcome}"]
        if self.request is not None:
            parts.append(f"request: {self.request.describe()}")
        if self.response is not None:
            parts.append(f"response: {_summary(self.response, Redactor(self.masked).redact)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class CleanupResult:
    """One cleanup request of the step it undoes; `problem` says what went wrong, with the
    request and the answer, and is empty when the cleanup did its job."""

    step: str
    request: SentRequest | None
    status: int | None
    ok: bool
    problem: str


@dataclass(frozen=True)
class FlowRun:
    """Every step in order, and the cleanups in the order they ran (the reverse of the steps)."""

    flow: str
    steps: tuple[StepResult, ...]
    cleanups: tuple[CleanupResult, ...]

    def step(self, name: str) -> StepResult:
        for result in self.steps:
            if result.name == name:
                return result
        names = ", ".join(result.name for result in self.steps)
        raise KeyError(f"flow {self.flow} has no step {name!r}; its steps: {names}")

    @property
    def passed(self) -> bool:
        """Every step passed and every cleanup undid its step: nothing left behind."""
        return all(s.outcome == "passed" for s in self.steps) and all(c.ok for c in self.cleanups)


def run_flow(
    flow: Flow,
    *,
    resolve_url: Callable[[str], str],
    default_headers: Mapping[str, str],
    timeout_s: float,
    tls: ssl.SSLContext,
    run_id: str,
    learn_secret: Callable[[str], None],
    hosts: DeclaredHosts | None = None,
) -> FlowRun:
    """Run the steps in order until one fails, then the cleanups of the passed ones, last first.

    `resolve_url` turns a path into an absolute URL; `default_headers` go with every request
    unless a step sets the same header (an empty value leaves it out). A request goes out only
    to a host `hosts` allows (default: the hosts of `resolve_url("/")` and of the flow's own
    URLs); a step bound elsewhere fails unsent, a cleanup bound elsewhere is recorded as failed.
    """
    if hosts is None:
        hosts = DeclaredHosts.of_urls([resolve_url("/"), *_written_urls(flow)])
    run = _Run(
        resolve_url, default_headers, timeout_s, tls, learn_secret, hosts, {"run_id": run_id}
    )
    steps: list[StepResult] = []
    # The stack runs every cleanup however the loop ends, even past one that raises.
    with contextlib.ExitStack() as undo:
        stopped_by: str | None = None
        for step in flow.steps:
            if stopped_by is not None:
                reason = f"not run: step {stopped_by} failed"
                steps.append(StepResult(step.name, "not_run", (), None, None, reason))
                continue
            result = run.step(step)
            steps.append(result)
            if result.outcome != "passed":
                stopped_by = step.name
            elif step.cleanup is not None:
                request = _filled_request(step.cleanup.request, run.variables)
                undo.callback(run.clean_up, step.name, request, step.cleanup.status)
    return FlowRun(flow.name, tuple(steps), tuple(run.cleanups))


class _Unbuildable(Exception):
    """The request could not be put together: an upload file gone, a value JSON cannot hold."""


class _Undeclared(Exception):
    """The request would go to a host the environment does not declare: it is not sent."""


@dataclass(frozen=True)
class _Outgoing:
    url: str
    headers: dict[str, str]
    content: bytes | None
    sent: SentRequest


@dataclass
class _Run:
    """One flow's state: the variables captured so far, the secrets met, the cleanups done."""

    resolve_url: Callable[[str], str]
    default_headers: Mapping[str, str]
    timeout_s: float
    tls: ssl.SSLContext
    learn_secret: Callable[[str], None]
    hosts: DeclaredHosts
    variables: dict[str, Any]
    secrets: set[str] = field(default_factory=set)
    redactor: Redactor = field(default_factory=Redactor)
    cleanups: list[CleanupResult] = field(default_factory=list)

    def step(self, step: Step) -> StepResult:
        """An error, not a failure, when the request could not be sent or got no answer: the
        deployment was never asked, or never answered, so there is nothing to judge."""
        request = _filled_request(step.request, self.variables)
        expect = filled_expect(step.expect, self.variables)
        try:
            outgoing = self._outgoing(request)
        except _Unbuildable as exc:
            return self._result(step.name, "error", reason=self.redactor.redact(str(exc)))
        except _Undeclared as exc:
            problem = self.redactor.redact(str(exc))
            return self._result(step.name, "failed", problems=(problem,), reason=problem)
        try:
            response = self._send(outgoing, request, _body_cap(expect))
        except TargetUnreachableError as exc:
            reason = self.redactor.redact(str(exc))
            return self._result(step.name, "error", request=outgoing.sent, reason=reason)
        problems = judge(expect, response, self.redactor.redact)
        if not problems:
            problems = self._capture(step.capture, response)
        problems = [self.redactor.redact(problem) for problem in problems]
        return self._result(
            step.name,
            "failed" if problems else "passed",
            problems=tuple(problems),
            request=outgoing.sent,
            response=response,
            reason="; ".join(problems),
        )

    def clean_up(self, step: str, request: StepRequest, accepted: list[int] | None) -> None:
        """Records what went wrong instead of raising, so the cleanups after it still run."""
        sent = None
        try:
            outgoing = self._outgoing(request)
            sent = outgoing.sent
            response = self._send(outgoing, request, DEFAULT_MAX_BODY_BYTES)
        except (_Unbuildable, _Undeclared, TargetUnreachableError) as exc:
            self.cleanups.append(
                CleanupResult(step, sent, None, False, self.redactor.redact(str(exc)))
            )
            return
        wrong = status_problem(response, accepted, or_404=True)
        problem = ""
        if wrong is not None:
            body = excerpt(response.body, self.redactor.redact) or "(empty)"
            problem = f"{wrong}; request: {outgoing.sent.describe()}; body: {body}"
        self.cleanups.append(CleanupResult(step, sent, response.status, wrong is None, problem))

    def _outgoing(self, request: StepRequest) -> _Outgoing:
        """Encode the body with httpx, so form, multipart and JSON are what a client sends."""
        url = self.resolve_url(request.url)
        try:
            files = {
                name: (upload.name, upload.path.read_bytes(), upload.content_type)
                if upload.path is not None
                else (upload.name, (upload.content or "").encode(), upload.content_type)
                for name, upload in request.files.items()
            }
            encoded = httpx.Request(
                request.method,
                url,
                params={name: as_text(value) for name, value in request.query.items()} or None,
                json=request.json_body,
                data=request.form or None,
                files=files or None,
                content=request.body.encode() if request.body is not None else None,
            )
            content = encoded.read()
        except (OSError, TypeError, ValueError, httpx.InvalidURL) as exc:
            raise _Unbuildable(f"{request.method} {url}: cannot build the request: {exc}") from None
        host = encoded.url.host
        if not host:
            raise _Unbuildable(f"{request.method} {url}: cannot build the request: no host")
        if not self.hosts.allows(host):
            raise _Undeclared(
                f"not sent: {request.method} {encoded.url} goes to {host}, "
                "a host the environment does not declare"
            )
        self._learn(*credentials_in(request.json_body), *credentials_in(request.form))
        content_type = encoded.headers.get("content-type")
        headers = merged_headers(
            self.default_headers, {"content-type": content_type} if content_type else {}
        )
        headers = merged_headers(headers, request.headers)
        redact = self.redactor.redact
        sent = SentRequest(
            method=request.method,
            url=redact(str(encoded.url)),
            headers={
                name: MASK if name.lower() in SENSITIVE_HEADERS else redact(value)
                for name, value in headers.items()
            },
            body_excerpt=excerpt(content, redact),
        )
        return _Outgoing(str(encoded.url), headers, content or None, sent)

    def _send(self, outgoing: _Outgoing, request: StepRequest, cap: int) -> HttpResponse:
        response = fetch(
            outgoing.url,
            method=request.method,
            headers=outgoing.headers,
            content=outgoing.content,
            timeout_s=request.timeout_s or self.timeout_s,
            tls=self.tls,
            max_body_bytes=cap,
        )
        cookies = [cookie.split(";", 1)[0].partition("=")[2] for cookie in response.set_cookies]
        self._learn(*cookies)
        with contextlib.suppress(ValueError):  # a body that is not JSON holds no credentials
            self._learn(*credentials_in(response.json()))
        return response

    def _capture(self, captures: Mapping[str, Capture], response: HttpResponse) -> list[str]:
        problems = []
        for name, capture in captures.items():
            value, problem = self._captured(name, capture, response)
            if problem:
                problems.append(problem)
                continue
            if capture.secret:
                self._learn(as_text(value))
            self.variables[name] = value
        return problems

    def _captured(self, name: str, capture: Capture, response: HttpResponse) -> tuple[Any, str]:
        body = excerpt(response.body, self.redactor.redact) or "(empty)"
        if capture.json_path is None:
            header = capture.header or ""
            if header.lower() not in response.headers:
                found = ", ".join(sorted(response.headers))
                return None, f"capture {name}: no {header} header in the response; found {found}"
            return response.headers[header.lower()], ""
        try:
            document = response.json()
        except ValueError as exc:
            return None, f"capture {name}: {exc}; body: {body}"
        value, _ = lookup(document, capture.json_path)
        if value is MISSING:
            return None, f"capture {name}: no {capture.json_path} in the body; body: {body}"
        return value, ""

    def _learn(self, *values: str) -> None:
        for value in values:
            if value.strip() and value not in self.secrets:
                self.secrets.add(value)
                self.redactor.add(value)
                self.learn_secret(value)

    def _result(
        self,
        name: str,
        outcome: Outcome,
        *,
        problems: tuple[str, ...] = (),
        request: SentRequest | None = None,
        response: HttpResponse | None = None,
        reason: str,
    ) -> StepResult:
        masked = frozenset(self.secrets)
        return StepResult(name, outcome, problems, request, response, reason, masked)


def _filled_request(request: StepRequest, variables: Mapping[str, Any]) -> StepRequest:
    """The request with every `{{ var }}` filled in; a JSON value that is only `{{ var }}`
    becomes the captured value itself, so a captured number stays a number."""

    def text(value: str) -> str:
        return fill_text(value, variables)

    return request.model_copy(
        update={
            "url": text(request.url),
            "headers": {text(k): text(v) for k, v in request.headers.items()},
            "query": {
                text(k): text(v) if isinstance(v, str) else v for k, v in request.query.items()
            },
            "json_body": fill_json(request.json_body, variables),
            "form": {text(k): text(v) for k, v in request.form.items()},
            "files": {
                text(k): upload.model_copy(
                    update={
                        "content": text(upload.content) if upload.content is not None else None,
                        "filename": text(upload.filename) if upload.filename else None,
                    }
                )
                for k, upload in request.files.items()
            },
            "body": text(request.body) if request.body is not None else None,
        }
    )


def _written_urls(flow: Flow) -> list[str]:
    """The URLs as the flow file writes them, with `{{ var }}` still in (see DeclaredHosts)."""
    urls = []
    for step in flow.steps:
        urls.append(step.request.url)
        if step.cleanup is not None:
            urls.append(step.cleanup.request.url)
    return urls


def _body_cap(expect: StepExpect) -> int:
    """Room for the whole expected file and one byte more, so a longer body shows as longer."""
    if expect.body_file is None or not expect.body_file.is_file():
        return DEFAULT_MAX_BODY_BYTES
    return max(DEFAULT_MAX_BODY_BYTES, expect.body_file.stat().st_size + 1)


def _summary(response: HttpResponse, redact: Redact) -> str:
    names = sorted(
        response.headers,
        key=lambda name: _TELLING_HEADERS.index(name) if name in _TELLING_HEADERS else 9,
    )[:_SHOWN_HEADERS]
    headers = ", ".join(
        f"{name}: {MASK if name in _MASKED_HEADERS else redact(response.headers[name])}"
        for name in names
    )
    body = excerpt(response.body, redact) or "(empty)"
    return f"{response.status} ({headers}) body: {body}"
