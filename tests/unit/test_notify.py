"""Webhook notifications in process: enqueuing is idempotent and never fails a caller, delivery
is signed, retried byte for byte, given up with a warning, and shared safely between passes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signoff.signals import webhooks
from signoff.signals.webhooks import (
    DeliveryReport,
    deliver_due,
    delivery_loop,
    event_id,
    notify,
    signature,
    slack_text,
)
from tests.webhook_receiver import WebhookReceiver, down_url

SECRET = "test-secret"
LATER = 10_000.0
"""Seconds after which any retry is due (the longest backoff is about 5.5 min)."""


def body(request_id: str = "req-1", **fields: Any) -> dict[str, Any]:
    """An event body like `signoff.signals.events` sends."""
    return {
        "thread_id": "thread-1",
        "request_id": request_id,
        "graph": "approve_reject",
        "stage": "review",
        "action": "pay",
        "deciders": ["finance"],
        "link": "http://127.0.0.1:2024/inbox/thread-1?request_id=" + request_id,
        **fields,
    }


def outbox_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of the outbox at `path`."""
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM events ORDER BY created_at")]


def verified(raw_body: bytes, header: str, secret: str) -> bool:
    """How a receiver checks `X-Signoff-Signature`: on the raw bytes, in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh outbox file, and no webhook variables but those a test sets."""
    path = tmp_path / "outbox.sqlite"
    monkeypatch.setenv("SIGNOFF_OUTBOX", str(path))
    for name in ("URL", "SECRET", "FORMAT", "ATTEMPTS", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"SIGNOFF_WEBHOOK_{name}", raising=False)
    return path


@pytest.fixture
def receiver(outbox: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A live receiver that `SIGNOFF_WEBHOOK_URL` points at, with `SECRET` signing."""
    with WebhookReceiver() as live:
        monkeypatch.setenv("SIGNOFF_WEBHOOK_URL", live.url)
        monkeypatch.setenv("SIGNOFF_WEBHOOK_SECRET", SECRET)
        yield live


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One HTTP client for many passes (as `delivery_loop` keeps one)."""
    with httpx.Client() as client:
        yield client


def test_notify_without_a_url_does_nothing(outbox):
    assert notify("approval.requested", body()) is None
    assert not outbox.exists()
    assert deliver_due() == DeliveryReport()


def test_enqueuing_is_idempotent_by_id(outbox, monkeypatch):
    monkeypatch.setenv("SIGNOFF_WEBHOOK_URL", "http://127.0.0.1:9/hooks")
    first = notify("approval.requested", body())
    assert notify("approval.requested", body()) == first == event_id("approval.requested", "req-1")
    decided = notify("approval.decided", body(detail="call-1"))
    assert decided == event_id("approval.decided", "req-1", "call-1")
    assert notify("approval.decided", body(detail="call-2")) not in (first, decided)
    rows = outbox_rows(outbox)
    assert [row["type"] for row in rows] == ["approval.requested", *["approval.decided"] * 2]
    assert "detail" not in json.loads(rows[1]["body"])


def test_delivery_posts_the_event_signed(receiver):
    id_ = notify("approval.decided", body(decided_by="bob", decision="approve", detail="c1"))
    assert deliver_due() == DeliveryReport(delivered=1)

    (request,) = receiver.requests
    event = json.loads(request.body)
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Signoff-Event"] == event["type"] == "approval.decided"
    assert request.headers["X-Signoff-Event-Id"] == event["id"] == id_
    assert verified(request.body, request.headers["X-Signoff-Signature"], SECRET)
    assert request.headers["X-Signoff-Signature"] == signature(request.body, SECRET)
    assert not verified(request.body, request.headers["X-Signoff-Signature"], "another secret")
    assert event["decision"] == "approve" and event["thread_id"] == "thread-1"
    assert event["occurred_at"].endswith("+00:00") and "detail" not in event
    assert deliver_due() == DeliveryReport()  # delivered once, not again


def test_a_failing_receiver_gets_identical_retries_until_it_takes_the_event(receiver, outbox):
    receiver.fail_next(2)
    notify("approval.requested", body())
    start = outbox_rows(outbox)[0]["next_attempt_at"]

    assert deliver_due(now=start) == DeliveryReport(retried=1)
    assert deliver_due(now=start) == DeliveryReport()  # not due again before its backoff
    assert deliver_due(now=start + LATER) == DeliveryReport(retried=1)
    assert deliver_due(now=start + 2 * LATER) == DeliveryReport(delivered=1)

    first, *retries = receiver.requests
    assert [request.status for request in receiver.requests] == [500, 500, 204]
    for retry in retries:
        assert retry.body == first.body
        assert retry.headers["X-Signoff-Event-Id"] == first.headers["X-Signoff-Event-Id"]
        assert retry.headers["X-Signoff-Signature"] == first.headers["X-Signoff-Signature"]
    (row,) = outbox_rows(outbox)
    assert row["attempts"] == 3 and row["delivered_at"] is not None and row["last_error"] is None


def test_a_dead_receiver_is_given_up_after_the_attempts_allowed(outbox, monkeypatch, caplog):
    monkeypatch.setenv("SIGNOFF_WEBHOOK_URL", down_url())
    monkeypatch.setenv("SIGNOFF_WEBHOOK_ATTEMPTS", "3")
    id_ = notify("approval.expired", body())
    start = outbox_rows(outbox)[0]["next_attempt_at"]

    with caplog.at_level(logging.WARNING, logger="signoff.signals.webhooks"):
        reports = [deliver_due(now=start + attempt * LATER) for attempt in range(4)]

    assert reports == [
        DeliveryReport(retried=1),
        DeliveryReport(retried=1),
        DeliveryReport(gave_up=1),
        DeliveryReport(),
    ]
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "gave up" in warning.getMessage()
    assert id_ in warning.getMessage() and "approval.expired" in warning.getMessage()
    (row,) = outbox_rows(outbox)
    assert row["attempts"] == 3 and row["gave_up_at"] is not None
    assert row["delivered_at"] is None and "ConnectError" in row["last_error"]


def test_notify_never_raises_when_the_outbox_cannot_be_written(tmp_path, monkeypatch, caplog):
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("SIGNOFF_OUTBOX", str(tmp_path / "a-file" / "outbox.sqlite"))
    monkeypatch.setenv("SIGNOFF_WEBHOOK_URL", "http://127.0.0.1:9/hooks")
    with caplog.at_level(logging.ERROR, logger="signoff.signals.webhooks"):
        assert notify("approval.requested", body()) is None
        assert notify("approval.unknown", body()) is None
    assert len(caplog.records) == 2


def test_two_passes_at_once_deliver_each_event_once(receiver):
    ids = {notify("approval.requested", body(f"req-{number}")) for number in range(30)}
    start = threading.Barrier(2)
    reports = []

    def deliver() -> None:
        start.wait()
        reports.append(deliver_due())

    passes = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()

    assert sum(report.delivered for report in reports) == 30
    received = [request.headers["X-Signoff-Event-Id"] for request in receiver.requests]
    assert sorted(received) == sorted(ids)


def test_slack_format_posts_one_line_of_text(receiver, monkeypatch):
    monkeypatch.setenv("SIGNOFF_WEBHOOK_FORMAT", "slack")
    notify("approval.decided", body(decided_by="bob@signoff.local", decision="reject"))
    deliver_due()
    (request,) = receiver.requests
    assert verified(request.body, request.headers["X-Signoff-Signature"], SECRET)
    assert json.loads(request.body) == {
        "text": "approval.decided: pay (review), reject by bob@signoff.local "
        "<http://127.0.0.1:2024/inbox/thread-1?request_id=req-1|open>"
    }


def test_slack_text_escapes_a_link_and_a_mention_in_the_request(receiver, monkeypatch):
    monkeypatch.setenv("SIGNOFF_WEBHOOK_FORMAT", "slack")
    notify("approval.requested", body(action="<https://evil.example|Approve now> <!channel>"))
    deliver_due()
    (request,) = receiver.requests
    text = json.loads(request.body)["text"]
    assert "&lt;https://evil.example|Approve now&gt; &lt;!channel&gt;" in text
    assert text.count("<") == 1 and text.endswith("|open>")  # the inbox link alone


@given(action=st.text(), stage=st.text(), decided_by=st.text(), deciders=st.lists(st.text()))
def test_slack_text_holds_no_markup_but_the_inbox_link(action, stage, decided_by, deciders):
    fields = {"action": action, "stage": stage, "deciders": deciders}
    for event in (body(**fields), body(**fields, decision="approve", decided_by=decided_by)):
        text, _, link = slack_text(event).rpartition(" <")
        assert "<" not in text and ">" not in text
        assert link == f"{event['link']}|open>"


async def test_the_delivery_loop_delivers_in_the_background_until_stopped(receiver):
    notify("approval.requested", body())
    stop = asyncio.Event()
    loop = asyncio.create_task(delivery_loop(stop, interval=0.01))
    (request,) = await asyncio.to_thread(receiver.wait_for, 1)
    stop.set()
    await loop
    assert json.loads(request.body)["request_id"] == "req-1"


async def test_the_delivery_loop_survives_failing_passes(monkeypatch, caplog):
    stop = asyncio.Event()
    passes = []

    def failing_pass(**_: object) -> None:
        passes.append(1)
        if len(passes) == 3:
            stop.set()
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("signoff.signals.webhooks.deliver_due", failing_pass)
    await delivery_loop(stop, interval=0)
    assert len(passes) == 3
    assert [record.levelno for record in caplog.records] == [logging.ERROR] * 3


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
FIELDS = st.dictionaries(
    st.text().filter(lambda key: key not in ("id", "type", "occurred_at", "detail")), JSON
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=FIELDS)
def test_any_json_body_arrives_byte_identical_and_verifies(receiver, outbox, http, fields):
    fields["request_id"] = uuid.uuid4().hex  # a new event for every example
    id_ = notify("approval.reminded", fields)
    deliver_due(client=http)
    request = receiver.requests[-1]
    stored = next(row["body"] for row in outbox_rows(outbox) if row["id"] == id_)
    assert request.body == stored
    assert verified(request.body, request.headers["X-Signoff-Signature"], SECRET)
    event = json.loads(request.body)
    assert {key: event[key] for key in fields} == fields


def test_a_long_pass_leases_each_event_from_the_moment_it_claims_it(outbox, monkeypatch):
    """A pass whose sends outlast a lease (slow receivers) still leases every later event
    from its own claim: no event is claimed with a lease already over, which would let
    another pass send it at the same time."""
    monkeypatch.setenv("SIGNOFF_WEBHOOK_URL", "http://receiver.invalid/hooks")
    for number in range(3):
        notify("approval.requested", body(f"req-{number}"))
    clock = [time.time()]
    monkeypatch.setattr(webhooks, "_clock", lambda now: clock[0])
    leased_past_claim: list[bool] = []

    def slow_receiver(request: httpx.Request) -> httpx.Response:
        event_id = request.headers["X-Signoff-Event-Id"]
        (row,) = [row for row in outbox_rows(outbox) if row["id"] == event_id]
        leased_past_claim.append(row["next_attempt_at"] > clock[0])
        clock[0] += 10 * webhooks.LEASE_MARGIN_SECONDS  # far past any lease of the pass's start
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(slow_receiver)) as http:
        report = deliver_due(client=http)

    assert report == DeliveryReport(delivered=3)
    assert leased_past_claim == [True, True, True]
