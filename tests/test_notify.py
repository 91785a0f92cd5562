"""Decision webhooks against a real receiver on loopback: the Slack-compatible message arrives
once, a refusal or silence is a Delivery with an error, and the webhook URL stays secret."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gonogo.environment_gate import Notification
from gonogo.notify import notify, slack_payload
from gonogo.redaction import Redactor
from tests.server_kit import Listener
from tests.webhook_receiver import Receiver

WEBHOOK_SECRET = "XoXb-s3cr3t-webhook-path"
REPORT = Path("/var/lib/gonogo/reports/run-42/decision.json")
NO_GO: dict[str, Any] = {
    "decision": "NO-GO",
    "environment": "staging",
    "reasons": [
        "test_status_is_expected[health]: expected 200, got 503",
        "test_tls_certificate[api]: expires in 3 days, expected > 14",
    ],
    "blocking": ["test_status_is_expected[health]", "test_tls_certificate[api]"],
    "triggers": [],
    "duration_s": 12.5,
    "started_at": "2024-05-01T12:00:00Z",
}


def send(url: str, record: dict[str, Any], **settings: Any) -> Any:
    return notify(
        Notification(url=url, **settings),
        record,
        report_path=REPORT,
        redactor=Redactor([WEBHOOK_SECRET]),
    )


def test_no_go_is_posted_once_as_a_slack_message(receiver: Receiver) -> None:
    delivery = send(f"{receiver.base_url}/hook", NO_GO, headers={"X-Team": "payments"})

    assert delivery is not None
    assert (delivery.status, delivery.error) == (200, None)
    [(path, headers, _)] = receiver.received
    assert path == "/hook"
    assert headers["content-type"] == "application/json"
    assert headers["x-team"] == "payments"
    [message] = receiver.bodies()
    assert message["text"] == (
        "gonogo: NO-GO for staging — 2 blocking checks: "
        "test_status_is_expected[health], test_tls_certificate[api]"
    )
    assert [block["type"] for block in message["blocks"]] == ["header", "section", "context"]
    assert "expected 200, got 503" in message["blocks"][1]["text"]["text"]
    assert str(REPORT) in message["blocks"][2]["elements"][0]["text"]
    assert message["gonogo"] == {
        "decision": "NO-GO",
        "environment": "staging",
        "blocking": NO_GO["blocking"],
        "triggers": [],
        "report": str(REPORT),
    }
    assert delivery.to_dict() == {
        "url": f"{receiver.base_url}/hook",
        "status": 200,
        "error": None,
        "duration_s": delivery.duration_s,
    }


def test_go_sends_nothing_by_default(receiver: Receiver) -> None:
    assert send(f"{receiver.base_url}/hook", {**NO_GO, "decision": "GO"}) is None
    assert receiver.received == []


def test_refusal_is_an_error_and_is_not_retried(receiver: Receiver) -> None:
    delivery = send(f"{receiver.base_url}/fail", NO_GO)

    assert delivery is not None and delivery.status == 500
    assert delivery.error == (
        f"expected a 2xx answer from POST {receiver.base_url}/fail, got 500 Internal Server "
        "Error: no_service at /fail"
    )
    assert len(receiver.received) == 1


def test_silent_receiver_is_an_error_within_the_timeout() -> None:
    listener = Listener()
    try:
        started = time.monotonic()
        delivery = send(f"http://127.0.0.1:{listener.port}/hook", NO_GO, timeout_s=0.5)
        took = time.monotonic() - started
    finally:
        listener.close()

    assert delivery is not None and delivery.status is None
    assert delivery.error is not None and "no complete answer within 0.5 s" in delivery.error
    assert took < 1.5


def test_redirect_is_not_followed(receiver: Receiver) -> None:
    delivery = send(f"{receiver.base_url}/moved", NO_GO)

    assert delivery is not None and delivery.status == 302
    assert delivery.error is not None and "redirect to /elsewhere not followed" in delivery.error
    assert [path for path, _, _ in receiver.received] == ["/moved"]


def test_webhook_url_and_payload_secrets_are_redacted(receiver: Receiver) -> None:
    leaky = {**NO_GO, "reasons": [f"login failed with token {WEBHOOK_SECRET}"]}

    delivery = send(f"{receiver.base_url}/services/T0/{WEBHOOK_SECRET}/fail", leaky)

    assert delivery is not None
    assert delivery.url == f"{receiver.base_url}/services/T0/***/fail"
    assert delivery.error is not None and "***" in delivery.error
    assert WEBHOOK_SECRET not in json.dumps(delivery.to_dict())
    [(_, _, body)] = receiver.received
    assert WEBHOOK_SECRET.encode() not in body


def test_rollback_message_names_triggers_and_outcome() -> None:
    record = {
        **NO_GO,
        "decision": "ROLLBACK",
        "triggers": ["test_watch[smoke-health]", "test_alert[HighErrorRate]"],
        "reasons": [f"reason {number}: p95 <500 ms & rising" for number in range(12)],
        "rollback": {"ran": True, "restored": True, "total_s": 41.5},
    }

    message = slack_payload(record, report_path=None)

    assert message["text"] == (
        "gonogo: ROLLBACK for staging — 2 rollback triggers fired: test_watch[smoke-health], "
        "test_alert[HighErrorRate]; rolled back in 41.5 s, previous release verified"
    )
    reasons = message["blocks"][1]["text"]["text"].splitlines()
    assert reasons[1] == "• reason 0: p95 &lt;500 ms &amp; rising"
    assert reasons[-1] == "and 2 more"
    assert len(reasons) == 12  # the summary, ten reasons, the rest counted
    assert message["blocks"][2]["elements"][0]["text"].startswith("no report written")
    assert message["gonogo"]["report"] is None


def test_huge_record_stays_within_slacks_limits() -> None:
    record = {**NO_GO, "blocking": ["x" * 5000] * 3, "reasons": ["y" * 5000] * 30}

    message = slack_payload(record, report_path=REPORT)

    assert len(message["text"]) <= 3000
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert len(message["blocks"][1]["text"]["text"]) <= 3000
