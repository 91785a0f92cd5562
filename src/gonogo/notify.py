"""Telling a webhook about the decision, as a Slack incoming-webhook message.

Exactly one POST and no retries: the gate runs during an incident and must not add a retry
storm to it, and a lost message is visible in the decision record anyway. The webhook URL is a
credential (whoever has it may post to the channel), so it is redacted wherever it is shown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gonogo.environment_gate import Notification
from gonogo.errors import TargetUnreachableError
from gonogo.probes.http import HttpResponse, fetch, merged_headers
from gonogo.redaction import Redactor

__all__ = ["Delivery", "notify", "slack_payload"]

_TEXT_CHARS = 3000  # Slack's limit for a section's text; the message text is held to it too
_HEADER_CHARS = 150  # Slack's limit for a header block
_REASONS_SHOWN = 10
_REASON_CHARS = 250  # ten of them and the summary stay under _TEXT_CHARS
_IDS_SHOWN = 5
_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Delivery:
    """How the one POST went; `url` and `error` are redacted."""

    url: str
    status: int | None  # None: no answer at all
    error: str | None
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "duration_s": self.duration_s,
        }


def slack_payload(record: Mapping[str, Any], *, report_path: Path | None) -> dict[str, Any]:
    """The message for the decision record `record`. Slack reads `text` (notifications and
    old clients) and `blocks`; it ignores `gonogo`, which is there for other receivers."""
    decision = str(record["decision"])
    environment = str(record["environment"])
    blocking = [str(check) for check in record.get("blocking", [])]
    triggers = [str(check) for check in record.get("triggers", [])]
    reasons = [str(reason) for reason in record.get("reasons", [])]
    summary = _summary(decision, blocking, triggers, reasons, record.get("rollback"))
    title = f"gonogo: {decision} for {environment}"
    report = str(report_path) if report_path is not None else None
    return {
        "text": _clipped(_escaped(f"{title} — {summary}"), _TEXT_CHARS),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:_HEADER_CHARS]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _reasons(summary, reasons)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _context(record, report)}]},
        ],
        "gonogo": {
            "decision": decision,
            "environment": environment,
            "blocking": blocking,
            "triggers": triggers,
            "report": report,
        },
    }


def notify(
    notification: Notification,
    record: Mapping[str, Any],
    *,
    report_path: Path | None,
    redactor: Redactor,
) -> Delivery | None:
    """POST the message once when the decision is one of `notification.when`; None when it is
    not. Never raises for the network: a failed delivery is a Delivery with an error."""
    if record["decision"] not in notification.when:
        return None
    url = redactor.redact(notification.url)
    payload = _redacted(slack_payload(record, report_path=report_path), redactor)
    headers = merged_headers(notification.headers, {"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        response = fetch(
            notification.url,
            method="POST",
            headers=headers,
            content=json.dumps(payload).encode(),
            timeout_s=notification.timeout_s,
            max_body_bytes=_BODY_BYTES,
        )
    except TargetUnreachableError as exc:
        return Delivery(url, None, redactor.redact(str(exc)), _since(started))
    error = None if 200 <= response.status < 300 else redactor.redact(_refusal(url, response))
    return Delivery(url, response.status, error, _since(started))


def _summary(
    decision: str,
    blocking: list[str],
    triggers: list[str],
    reasons: list[str],
    rollback: Mapping[str, Any] | None,
) -> str:
    if decision == "ROLLBACK" and triggers:
        text = f"{_count(triggers, 'rollback trigger')} fired: {_ids(triggers)}"
    elif decision != "GO" and blocking:
        text = f"{_count(blocking, 'blocking check')}: {_ids(blocking)}"
    elif decision == "GO":
        text = "no blocking checks"
    else:
        text = reasons[0] if reasons else "no reason recorded"
    return text + (f"; {_rollback(rollback)}" if rollback else "")


def _rollback(rollback: Mapping[str, Any]) -> str:
    if not rollback.get("ran"):
        return "rollback hook not run"
    restored = rollback.get("restored")
    if restored is None:
        outcome = "restoration not verified"
    else:
        outcome = "previous release verified" if restored else "service NOT restored"
    total_s = rollback.get("total_s")
    took = f" in {total_s:g} s" if isinstance(total_s, int | float) else ""
    return f"rolled back{took}, {outcome}"


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:_IDS_SHOWN])
    return shown + (f" and {len(ids) - _IDS_SHOWN} more" if len(ids) > _IDS_SHOWN else "")


def _reasons(summary: str, reasons: list[str]) -> str:
    lines = [f"*{_clipped(_escaped(summary), _REASON_CHARS)}*"]
    lines += [
        f"• {_clipped(_escaped(reason), _REASON_CHARS)}" for reason in reasons[:_REASONS_SHOWN]
    ]
    if len(reasons) > _REASONS_SHOWN:
        lines.append(f"and {len(reasons) - _REASONS_SHOWN} more")
    return _clipped("\n".join(lines), _TEXT_CHARS)


def _context(record: Mapping[str, Any], report: str | None) -> str:
    parts = [f"report: `{_escaped(report)}`" if report else "no report written"]
    if record.get("started_at") is not None:
        parts.append(f"started {_escaped(str(record['started_at']))}")
    if isinstance(record.get("duration_s"), int | float):
        parts.append(f"took {record['duration_s']:g} s")
    return _clipped(" · ".join(parts), _TEXT_CHARS)


def _escaped(text: str) -> str:
    """Slack reads <...> as links and mentions: a reason saying "p95 <500 ms" must stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clipped(text: str, limit: int) -> str:
    """At most `limit` characters, never ending inside an escape such as &amp;."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", len(cut) - 4)
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _redacted(node: Any, redactor: Redactor) -> Any:
    """Every string of the payload redacted; the encoded JSON is not, as masking a secret such
    as "1234" there could garble a number."""
    if isinstance(node, str):
        return redactor.redact(node)
    if isinstance(node, dict):
        return {key: _redacted(value, redactor) for key, value in node.items()}
    if isinstance(node, list):
        return [_redacted(item, redactor) for item in node]
    return node


def _refusal(url: str, response: HttpResponse) -> str:
    text = f"expected a 2xx answer from POST {url}, got {response.status} {response.reason}"
    location = response.headers.get("location")
    if location is not None:
        text += f" (redirect to {location} not followed)"
    excerpt = response.excerpt()
    return text + (f": {excerpt}" if excerpt else "")


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
