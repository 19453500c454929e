"""The Databricks App's invocation input: the caller is the server's to write, whatever a client
sends; and how an invocation's answer and reply are read from a thread's state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signoff.apps.invocations import CALLER, reply_events, resume_map, stamped_request
from signoff.governance.identity import Identity
from tests.property_settings import EXAMPLES

ALICE = Identity("alice@signoff.local", frozenset({"users"}))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@EXAMPLES
@given(
    given_input=JSON | st.dictionaries(st.sampled_from([CALLER, "operation", "resume"]), JSON),
    extra=st.dictionaries(st.sampled_from(["id", "session_id", "stream"]), JSON),
)
def test_an_invocation_carries_its_signed_in_caller_and_nothing_a_client_claims(
    given_input: Any, extra: dict[str, Any]
) -> None:
    body = json.dumps({**extra, "input": given_input}).encode()
    try:
        stamped = json.loads(stamped_request(body, ALICE))
    except ValueError as refused:
        assert not isinstance(given_input, dict | list)
        assert "input must be an object" in str(refused)
        return
    assert stamped["input"][CALLER] == {"user": ALICE.user, "groups": ["users"]}
    kept = given_input if isinstance(given_input, dict) else {"messages": given_input}
    assert {k: v for k, v in stamped["input"].items() if k != CALLER} == {
        k: v for k, v in kept.items() if k != CALLER
    }
    assert {k: v for k, v in stamped.items() if k != "input"} == extra


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_no_invocation_is_left_for_the_runtime_to_refuse(body: bytes) -> None:
    assert stamped_request(body, ALICE) == body


PENDING = [{"id": "i-1", "value": {"request_id": "r-1"}}, {"id": "i-2", "value": {}}]


def test_one_answer_answers_every_pending_request_and_a_keyed_answer_only_its_own() -> None:
    assert resume_map("approve", PENDING) == {"i-1": "approve", "i-2": "approve"}
    keyed = {"i-2": {"decisions": [{"type": "reject"}]}}
    assert resume_map(keyed, PENDING) == keyed
    other = {"decisions": [{"type": "approve"}]}  # not keyed by interrupt ids: one answer
    assert resume_map(other, PENDING) == {"i-1": other, "i-2": other}


def test_a_reply_shows_new_messages_then_each_pending_request() -> None:
    before = {"values": {"messages": [{"id": "m1", "content": "hi"}]}}
    after = {
        "values": {"messages": [{"id": "m1", "content": "hi"}, {"id": "m2", "content": "ok"}]},
        "interrupts": PENDING[:1],
    }
    assert reply_events(before, after) == [
        {"type": "message", "message": {"id": "m2", "content": "ok"}},
        {"type": "interrupt", "id": "i-1", "value": {"request_id": "r-1"}},
    ]
    assert reply_events(None, {"values": {}, "interrupts": []}) == []
