"""The Databricks App's invocation input: the caller is the server's to write, whatever a client
sends; and how an invocation's answer and reply are read from a thread's state."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, cast

import pytest
from databricks_agentkit.runtime.auth import AuthError
from databricks_agentkit.runtime.types import InvocationContext
from hypothesis import given
from hypothesis import strategies as st

from signoff.apps.invocations import (
    CALLER,
    REQUEST_SHAPE,
    Invocations,
    reply_events,
    resume_map,
    stamped_request,
)
from signoff.governance.identity import Identity
from signoff.protocol.bounds import MAX_DEPTH
from tests.property_settings import EXAMPLES

ALICE = Identity("alice@signoff.local", frozenset({"users"}))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


INVOCATION = {"id": "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "session_id": "thread-1"}


@EXAMPLES
@given(
    given_input=JSON | st.dictionaries(st.sampled_from([CALLER, "operation", "resume"]), JSON),
    flags=st.dictionaries(st.sampled_from(["stream", "background"]), st.booleans()),
)
def test_an_invocation_carries_its_signed_in_caller_and_nothing_a_client_claims(
    given_input: Any, flags: dict[str, bool]
) -> None:
    extra = {**INVOCATION, **flags}
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


DEEP_INPUT = {**INVOCATION, "input": {"a": json.loads("[" * 40 + "]" * 40)}}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", "The body is not JSON. "),
        (b"\xff not json", "The body is not JSON. "),
        (b"[1, 2]", "The body is not a JSON object. "),
        (b'"text"', "The body is not a JSON object. "),
        (json.dumps({**INVOCATION, "user": "x"}).encode(), "Unknown field(s) 'user'. "),
        (json.dumps({"session_id": "t"}).encode(), "id must be a UUID (text). "),
        (
            json.dumps({**INVOCATION, "session_id": ""}).encode(),
            "session_id (the thread id) must be non-empty text. ",
        ),
        (
            json.dumps({**INVOCATION, "stream": "yes"}).encode(),
            "stream and background must be true or false. ",
        ),
    ],
)
def test_a_body_that_is_no_invocation_is_refused_saying_what_is_taken(
    body: bytes, said: str
) -> None:
    with pytest.raises(ValueError) as refused:
        stamped_request(body, ALICE)
    assert str(refused.value) == f"{said}{REQUEST_SHAPE}"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"[" * 100_000, f"The body is nested too deep; send JSON nested at most {MAX_DEPTH} "),
        (json.dumps(DEEP_INPUT).encode(), f"The input is nested deeper than {MAX_DEPTH} levels"),
    ],
)
def test_json_nested_too_deep_is_refused_naming_the_depth_taken(body: bytes, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        stamped_request(body, ALICE)


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


def test_an_invocation_with_no_caller_is_refused_saying_how_to_sign_in() -> None:
    context = InvocationContext(
        invocation_id=INVOCATION["id"],
        session_id="thread-1",
        attempt=1,
        _attempt_context=cast(Any, None),
    )
    with pytest.raises(AuthError) as refused:  # the hooks read the caller before anything
        asyncio.run(Invocations("approve_reject").recover({"resume": "approve"}, context))
    said = str(refused.value)
    assert refused.value.status_code == 401 and said.startswith("The invocation has no signed-in")
    assert "X-Forwarded-Access-Token" in said and "`Authorization: Bearer <token>`" in said
