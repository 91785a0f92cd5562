"""Prometheus's HTTP API as facts: series of (time, value) points, and alerting rules' states.

Knows nothing of pytest or of bounds. Each answer is read under a byte cap and one deadline for
the whole exchange, and Prometheus is asked to give up evaluating at the same deadline. Anything
but a well-formed success document is a TargetUnreachableError naming the URL and the query,
with Prometheus's own error text when it sent one (a PromQL parse error reads as Prometheus
wrote it).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gonogo.errors import TargetUnreachableError
from gonogo.probes.http import _reason, tls_context

__all__ = [
    "MAX_BODY_BYTES",
    "AlertRuleState",
    "Series",
    "alerting_rules",
    "instant_query",
    "range_query",
]

# A result this large is thousands of series: a query to aggregate, not one to judge.
MAX_BODY_BYTES = 8 * 1024 * 1024
_QUERY_SHOWN = 300  # characters of PromQL in a message: enough to recognise it


@dataclass(frozen=True)
class Series:
    """One time series: its labels and its (unix time, value) points, oldest first.

    Values keep Prometheus's NaN and ±Inf: a 0/0 ratio is NaN, and only a judge knows whether
    that means "no traffic" or a problem.
    """

    labels: dict[str, str]
    points: list[tuple[float, float]]

    @property
    def label_text(self) -> str:
        """The labels as PromQL writes a selector, sorted, the metric name first: what an
        operator pastes back into Prometheus to look at the series."""
        names = sorted(self.labels, key=lambda name: (name != "__name__", name))
        return "{" + ", ".join(f"{name}={_quoted(self.labels[name])}" for name in names) + "}"


@dataclass(frozen=True)
class AlertRuleState:
    """An alerting rule as Prometheus's rule manager last evaluated it."""

    name: str
    group: str
    state: str  # inactive, pending, firing
    health: str  # ok, err, unknown (not evaluated yet)
    last_error: str
    active: int  # alerts pending or firing, one per label set


def instant_query(
    base_url: str,
    query: str,
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    verify: bool = True,
    ca_file: Path | None = None,
    at: float | None = None,
) -> list[Series]:
    """The value of `query` at `at` (unix time; Prometheus's now by default), one point per
    series; a scalar result is one series without labels."""
    params = {"query": query, "timeout": f"{timeout_s:g}"}
    if at is not None:
        params["time"] = f"{at:.3f}"
    url = _api_url(base_url, "/api/v1/query")
    where = f"{url} (query {_shown(query)})"
    data = _get(url, where, params, timeout_s, headers, tls_context(ca_file, verify))
    result_type = data.get("resultType") if isinstance(data, dict) else None
    if result_type == "matrix":
        raise TargetUnreachableError(
            f"{where}: expected an instant vector, got a range vector: a selector with a range "
            "such as [5m] needs a function around it, e.g. rate(...[5m]) or max_over_time(...[5m])"
        )
    if result_type not in ("vector", "scalar"):
        raise TargetUnreachableError(
            f"{where}: expected a vector or scalar result, got {result_type!r}"
        )
    return _parsed(where, data, result_type)


def range_query(
    base_url: str,
    query: str,
    *,
    start: float,
    end: float,
    step: float,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    verify: bool = True,
    ca_file: Path | None = None,
) -> list[Series]:
    """`query` evaluated at start, start + step, ... up to end, the way a rule would have seen
    it at each of those times; a series has no point where it had no value."""
    params = {
        "query": query,
        "start": f"{start:.3f}",
        "end": f"{end:.3f}",
        "step": f"{step:g}",
        "timeout": f"{timeout_s:g}",
    }
    url = _api_url(base_url, "/api/v1/query_range")
    where = f"{url} (query {_shown(query)})"
    data = _get(url, where, params, timeout_s, headers, tls_context(ca_file, verify))
    result_type = data.get("resultType") if isinstance(data, dict) else None
    if result_type != "matrix":
        raise TargetUnreachableError(f"{where}: expected a matrix result, got {result_type!r}")
    return _parsed(where, data, result_type)


def alerting_rules(
    base_url: str,
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    verify: bool = True,
    ca_file: Path | None = None,
) -> list[AlertRuleState]:
    """Every alerting rule Prometheus has loaded, in its groups' order."""
    url = _api_url(base_url, "/api/v1/rules")
    where = f"{url} (alerting rules)"
    data = _get(url, where, {"type": "alert"}, timeout_s, headers, tls_context(ca_file, verify))
    try:
        return [
            _rule_state(rule, group["name"])
            for group in data["groups"]
            for rule in group["rules"]
            if rule.get("type") == "alerting"
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise TargetUnreachableError(
            f"{where}: expected Prometheus's rule groups, got a document without {exc}"
        ) from None


def _rule_state(rule: dict[str, Any], group: str) -> AlertRuleState:
    alerts = rule.get("alerts") or []
    # `state` is absent before Prometheus 2.25; the alerts say the same thing.
    states = {alert.get("state") for alert in alerts}
    derived = next((s for s in ("firing", "pending") if s in states), "inactive")
    return AlertRuleState(
        name=str(rule["name"]),
        group=str(group),
        state=str(rule.get("state") or derived),
        health=str(rule.get("health") or "unknown"),
        last_error=str(rule.get("lastError") or ""),
        active=len(alerts),
    )


def _get(
    url: str,
    where: str,
    params: dict[str, str],
    timeout_s: float,
    headers: Mapping[str, str] | None,
    tls: ssl.SSLContext,
) -> Any:
    """The `data` of a success document; anything else raises, saying what came instead."""
    deadline = time.monotonic() + timeout_s
    try:
        with (
            httpx.Client(verify=tls, timeout=timeout_s, headers=headers, trust_env=False) as client,
            client.stream("GET", url, params=params) as response,
        ):
            body = bytearray()
            for chunk in response.iter_bytes():
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("answer not complete within the deadline")
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise TargetUnreachableError(
                        f"{where}: expected an answer of at most {MAX_BODY_BYTES} bytes, got "
                        "more; aggregate the query (sum by (...)) or narrow its selector"
                    )
            status = response.status_code
    except httpx.HTTPError as exc:
        raise TargetUnreachableError(f"{where}: {_reason(exc, timeout_s)}") from None
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise TargetUnreachableError(f"{where}: invalid URL ({exc})") from None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        excerpt = " ".join(body[:200].decode("utf-8", errors="replace").split())
        raise TargetUnreachableError(
            f"{where}: expected a JSON document from the Prometheus API, got HTTP {status}: "
            f"{excerpt!r}; is the URL Prometheus's base URL?"
        ) from None
    if not isinstance(document, dict) or "status" not in document:
        raise TargetUnreachableError(
            f"{where}: expected a Prometheus API document, got HTTP {status} with JSON "
            "without a status; is the URL Prometheus's base URL?"
        )
    if document["status"] != "success" or status != 200:
        raise TargetUnreachableError(
            f"{where}: Prometheus answered HTTP {status}, {document.get('errorType', 'error')}: "
            f"{document.get('error', 'no error text')}"
        )
    return document.get("data")


def _parsed(where: str, data: dict[str, Any], result_type: str) -> list[Series]:
    result: Any = data.get("result")
    try:
        if result_type == "scalar":
            return [Series({}, [_point(result)])]
        return [
            Series(
                {str(k): str(v) for k, v in (item.get("metric") or {}).items()},
                [_point(item["value"])]
                if result_type == "vector"
                else [_point(p) for p in item["values"]],
            )
            for item in result
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A native histogram sample has `histogram` instead of `value`: not a number to judge.
        raise TargetUnreachableError(
            f'{where}: expected {result_type} samples of [time, "value"], '
            f"got an entry this probe cannot read ({type(exc).__name__}: {exc})"
        ) from None


def _point(pair: Any) -> tuple[float, float]:
    timestamp, value = pair
    return float(timestamp), float(value)  # float() reads Prometheus's "NaN", "+Inf", "-Inf"


def _api_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _shown(query: str) -> str:
    text = " ".join(query.split())
    return repr(text if len(text) <= _QUERY_SHOWN else text[:_QUERY_SHOWN] + "...")


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
