"""What a request is about, in words: summaries, tool titles, amounts, and arguments as Agent
Inbox renders them (and reads back in an accept)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff.governance.identity import presented_token
from signoff.graphs.approve_reject import payment_summary
from signoff.protocol.parsing import parse_answer
from signoff.protocol.shapes import ActionRequest, build_request
from signoff.protocol.summaries import (
    SUMMARY_CHARACTERS,
    amount_of,
    clip,
    inbox_arguments,
    one_line,
    summarize,
    summary_of,
    tool_title,
)
from tests.property_settings import EXAMPLES

DEADLINES = {"created_at": "2026-12-01T00:00:00+00:00"}


def request_of(*actions: ActionRequest, summary: str | None = None) -> Any:
    return build_request(
        list(actions),
        [["approve", "edit", "reject"]] * len(actions),
        request_id="r-1",
        stage="review",
        requested_by="alice@signoff.local",
        decided_by=["managers"],
        deadlines=DEADLINES,
        summary=summary,
    )


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("main__support__issue_refund", "Issue refund"),
        ("start_databricks_job", "Start Databricks job"),
        ("payment", "Payment"),
        ("tools.get_order_id", "Get order ID"),
    ],
)
def test_tool_names_read_as_words(name: str, title: str) -> None:
    assert tool_title(name) == title


def test_a_summary_names_the_amount_the_party_and_the_identifiers() -> None:
    args = {"amount": 980000.0, "currency": "USD", "target": "acct-offshore-7"}
    assert summarize("payment", args) == "payment of 980,000 USD to acct-offshore-7"
    refund = {"order_id": 17, "amount": 12.5, "reason": "damaged"}
    assert summarize("main__support__issue_refund", refund) == "Issue refund of 12.50 for order 17"
    assert summarize("send_message", {"to": ["a@x", "b@x"], "subject": "Q3 numbers"}) == (
        "send message to a@x, b@x 'Q3 numbers'"
    )


def test_the_graphs_summary_comes_first_for_agent_inbox_and_numbers_show_as_text() -> None:
    action = ActionRequest(name="payment", args={"amount": 5000, "to": "acct-1"}, description="D")
    request = request_of(action, summary="payment of 5,000 USD to acct-1")
    assert summary_of(request) == "payment of 5,000 USD to acct-1"
    shown = request["action_requests"][0]
    assert shown["description"] == "payment of 5,000 USD to acct-1. D"
    assert shown["arguments"] == {"amount": "5000", "to": "acct-1"}
    assert shown["args"] == {"amount": 5000, "to": "acct-1"}
    assert amount_of(request) == 5000


def test_a_request_without_a_summary_is_summarised_from_its_actions() -> None:
    legacy = {"action_requests": [{"name": "payment", "args": {"amount": 3}}] * 3}
    assert summary_of(legacy) == "payment of 3 and 2 more actions"
    assert amount_of({"action_requests": [{"name": "x", "args": {"amount": "a lot"}}]}) is None


def test_an_agent_inbox_accept_may_echo_the_arguments_as_it_was_shown_them() -> None:
    action = ActionRequest(name="payment", args={"amount": 5000, "to": "acct-1"})
    request = request_of(action)
    echoed = {"action": "payment", "args": request["action_requests"][0]["arguments"]}
    decisions = parse_answer([{"type": "accept", "args": echoed}], request, None)
    assert decisions[0]["type"] == "approve"
    other = {"action": "payment", "args": {"amount": "5001", "to": "acct-1"}}
    with pytest.raises(ValueError, match="other than those shown"):
        parse_answer([{"type": "accept", "args": other}], request, None)


@given(
    st.text(max_size=400),
    st.dictionaries(st.text(max_size=12), st.integers() | st.text() | st.lists(st.text())),
)
@EXAMPLES
def test_every_summary_is_one_bounded_line(name: str, args: dict[str, Any]) -> None:
    line = summarize(name, args)
    assert "\n" not in line and len(line) <= SUMMARY_CHARACTERS
    shown = inbox_arguments(args)
    assert shown.keys() == args.keys()
    assert all(shown[k] == (str(v) if isinstance(v, int) else v) for k, v in args.items())


@pytest.mark.parametrize(
    ("authorization", "api_key", "token"),
    [
        ("Bearer dapi-1", None, "dapi-1"),
        ("Bearer dapi-1", "dapi-2", "dapi-1"),
        (None, "dapi-2", "dapi-2"),
        (None, "  ", None),
        ("Basic abc", "dapi-2", None),
        ("Bearer ", "dapi-2", None),
        (None, None, None),
    ],
)
def test_a_token_comes_from_the_bearer_header_else_from_x_api_key(
    authorization: str | None, api_key: str | None, token: str | None
) -> None:
    assert presented_token(authorization, api_key) == token


def test_a_summary_shows_no_hidden_characters_and_never_passes_for_more_actions() -> None:
    hidden = "payment of 98 USD to acct-payroll-1" + "\u2060" * 130 + "\u202e"
    action = ActionRequest(name="payment", args={"amount": 980000, "target": "acct-offshore-7"})
    request = request_of(action, action, summary=hidden)
    assert summary_of(request) == "payment of 98 USD to acct-payroll-1 and 1 more action"
    assert "\u2060" not in request["action_requests"][0]["description"]


@given(kind=st.text(max_size=400), currency=st.text(max_size=50), target=st.text(min_size=1))
@EXAMPLES
def test_a_payments_summary_always_shows_its_amount_and_target(
    kind: str, currency: str, target: str
) -> None:
    operation = {"kind": kind, "amount": 980000.0, "currency": currency, "target": target}
    line = one_line(payment_summary(operation))
    assert "980,000" in line
    assert one_line(clip(target, 60)) in line
