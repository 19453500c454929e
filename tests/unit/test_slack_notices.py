"""Slack notices in process: with Slack approvals on, a waiting request's notice is Block Kit
with its summary first and Approve and Reject buttons naming its thread and request; it is
valid Block Kit for any request, and shows nothing from a request as markup. Every event,
JSON or Slack, carries the request's summary."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from signoff.protocol.summaries import summary_of
from signoff.signals.events import announce
from signoff.signals.webhooks import (
    PENDING_EVENTS,
    SLACK_DECISIONS,
    deliver_due,
    notify,
    slack_button_ids,
    slack_message,
)
from tests.property_settings import EXAMPLES
from tests.webhook_receiver import WebhookReceiver

SUMMARY = "payment of 5,000 USD to acct-9"
LINK = "http://127.0.0.1:2024/inbox/thread-1?request_id=req-1"
REQUEST = {
    "request_id": "req-1",
    "stage": "review",
    "summary": SUMMARY,
    "action_requests": [{"name": "payment", "args": {"amount": 5000, "target": "acct-9"}}],
    "review_configs": [{"action_name": "payment", "allowed_decisions": ["approve", "reject"]}],
    "requested_by": "alice@signoff.local",
    "decided_by": ["managers"],
    "created_at": "2026-11-21T17:32:47.137+00:00",
}


def event(event_type: str = "approval.requested", **fields: Any) -> dict[str, Any]:
    """A delivered event body like `signoff.signals.events` makes."""
    return {
        "id": "event-1",
        "type": event_type,
        "thread_id": "thread-1",
        "request_id": "req-1",
        "args_digest": "d" * 64,
        "args_summary": '{"amount": 5000, "target": "acct-9"}',
        "graph": "approve_reject",
        "stage": "review",
        "summary": SUMMARY,
        "action": "payment",
        "requested_by": "alice@signoff.local",
        "deciders": ["managers"],
        "link": LINK,
        **fields,
    }


@pytest.fixture
def slack_approvals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack approvals on: a signing secret and a bot token."""
    monkeypatch.setenv("SIGNOFF_SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SIGNOFF_SLACK_BOT_TOKEN", "xoxb-test")


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A live receiver `SIGNOFF_WEBHOOK_URL` points at, with an outbox of this test's own."""
    monkeypatch.setenv("SIGNOFF_OUTBOX", str(tmp_path / "outbox.sqlite"))
    with WebhookReceiver() as live:
        monkeypatch.setenv("SIGNOFF_WEBHOOK_URL", live.url)
        yield live


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The buttons of `message`'s actions blocks."""
    return [
        element
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def texts(message: dict[str, Any]) -> list[str]:
    """Every mrkdwn text in `message`'s blocks."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks"))
    return found


def test_a_waiting_request_s_notice_is_block_kit_with_buttons_naming_it(
    receiver, slack_approvals, monkeypatch
):
    monkeypatch.setenv("SIGNOFF_WEBHOOK_FORMAT", "slack")
    notify(
        "approval.requested", {key: v for key, v in event().items() if key not in ("id", "type")}
    )
    deliver_due()
    (request,) = receiver.requests
    message = json.loads(request.body)
    assert message["text"] == (
        f"{SUMMARY} — approval.requested: payment (review), for managers <{LINK}|open>"
    )
    parsed = Block.parse_all(message["blocks"])
    assert [block.to_dict() for block in parsed] == message["blocks"]  # valid, and as built
    assert [block["type"] for block in message["blocks"]] == [
        "header",
        "section",
        "context",
        "actions",
    ]
    assert message["blocks"][0]["text"] == {"type": "plain_text", "text": SUMMARY}
    section = message["blocks"][1]
    assert [(field["type"], field["text"]) for field in section["fields"]] == [
        ("plain_text", "May decide: managers"),
        ("plain_text", "Requested by: alice@signoff.local"),
        ("plain_text", "Runs: payment (review)"),
        ("plain_text", 'Arguments: {"amount": 5000, "target": "acct-9"}'),
    ]
    assert f"<{LINK}|Open in the inbox>" in message["blocks"][2]["elements"][0]["text"]
    approve, reject = buttons(message)
    assert [approve["action_id"], reject["action_id"]] == list(SLACK_DECISIONS)
    assert [approve["style"], reject["style"]] == ["primary", "danger"]
    for button in (approve, reject):
        assert slack_button_ids(button["value"]) == {
            "thread_id": "thread-1",
            "request_id": "req-1",
            "args_digest": "d" * 64,
        }
    assert approve["confirm"]["text"] == {
        "type": "plain_text",
        "text": f'{SUMMARY}\n{{"amount": 5000, "target": "acct-9"}}',
    }


@pytest.mark.parametrize("event_type", PENDING_EVENTS)
def test_every_notice_of_a_waiting_request_has_the_buttons(slack_approvals, event_type):
    assert len(buttons(slack_message(event(event_type)))) == 2


@pytest.mark.parametrize("event_type", ["approval.decided", "approval.expired"])
def test_a_notice_of_an_answered_request_is_text_only(slack_approvals, event_type):
    answered = event(event_type, decision="approve", decided_by="bob@signoff.local")
    assert slack_message(answered) == {
        "text": f"{SUMMARY} — {event_type}: payment (review), approve by bob@signoff.local "
        f"<{LINK}|open>"
    }


@pytest.mark.parametrize(
    "variables",
    [{}, {"SIGNOFF_SLACK_SIGNING_SECRET": "secret"}, {"SIGNOFF_SLACK_BOT_TOKEN": "xoxb-test"}],
)
def test_without_slack_approvals_a_notice_is_text_only(monkeypatch, variables):
    for name in ("SIGNOFF_SLACK_SIGNING_SECRET", "SIGNOFF_SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert list(slack_message(event())) == ["text"]


@pytest.mark.usefixtures("slack_approvals")
@EXAMPLES
@given(
    summary=st.text(),
    action=st.text(),
    stage=st.text(),
    requested_by=st.one_of(st.none(), st.text()),
    deciders=st.one_of(st.text(), st.lists(st.text())),
    thread_id=st.uuids().map(str),
)
def test_any_request_makes_valid_block_kit_with_no_markup_but_the_inbox_link(
    summary, action, stage, requested_by, deciders, thread_id
):
    fields = {"summary": summary, "action": action, "stage": stage, "deciders": deciders}
    body = event(thread_id=thread_id, requested_by=requested_by, **fields)
    message = slack_message(body)
    assert [block.to_dict() for block in Block.parse_all(message["blocks"])] == message["blocks"]
    for text in texts(message):
        assert not re.search("[<>]", text.replace(f"<{LINK}|Open in the inbox>", ""))
    assert {json.loads(button["value"])["thread_id"] for button in buttons(message)} == {thread_id}


def test_every_event_carries_the_request_s_summary(receiver):
    old = {key: value for key, value in REQUEST.items() if key != "summary"}  # raised before
    announce("approval.requested", REQUEST, thread_id="thread-1", graph="approve_reject")
    announce("approval.reminded", old, thread_id="thread-1", graph="approve_reject")
    deliver_due()
    events = {json.loads(r.body)["type"]: json.loads(r.body) for r in receiver.requests}
    assert events["approval.requested"]["summary"] == SUMMARY
    assert events["approval.reminded"]["summary"] == summary_of(old) == SUMMARY.replace(" USD", "")
