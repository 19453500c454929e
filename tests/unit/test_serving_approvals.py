"""OpenAI Responses approval items of the Model Serving agent (`signoff.serving.approvals`).

The mapping of pending actions to `mcp_approval_request` items and of `mcp_approval_response`
items to the answers the graph reads, then a property: no malformed `mcp_approval_response`
ever answers a request or breaks the agent. It is sent, as Model Serving would send it, to a
`SignoffAgent` whose thread waits for a payment the caller (bob, a manager) may approve: MLflow
refuses it (`MlflowException`), or the agent replies that it was not applied, and the thread
is exactly as it was. A correct approval then runs the payment once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from langgraph.types import Interrupt
from mlflow.exceptions import MlflowException
from mlflow.types.responses import ResponsesAgentResponse, create_mcp_approval_response_item
from mlflow.types.responses_helpers import McpApprovalRequest

from signoff.execution.ledger import read_entries
from signoff.governance.identity import Identity, UnknownToken
from signoff.graphs import GRAPHS
from signoff.protocol.interrupts import PendingAction, pending_actions
from signoff.protocol.shapes import build_request
from signoff.serving import SignoffAgent
from signoff.serving.approvals import (
    NotAnswered,
    approval_ids,
    approvals_in,
    request_items,
)
from tests.dev_users import GROUPS, TOKENS, user_name
from tests.model_serving_caller import calling_as, serving_environment, text_of
from tests.property_settings import EXAMPLES

PAYMENT = {"operation": {"amount": 5000, "target": "acct-9"}}


def dev_identity(token: str) -> Identity:
    """The development user `token` belongs to (`SIGNOFF_IDENTITY_RESOLVER` here: the
    emulator's users, without the emulator)."""
    for name, known in TOKENS.items():
        if token == known:
            return Identity(user_name(name), frozenset(GROUPS[user_name(name)]))
    raise UnknownToken("not a development user's token")


def pending(*sizes: int) -> list[PendingAction]:
    """The pending actions of one interrupt per entry of `sizes`, each showing that many
    actions (`refund` calls of different orders)."""
    interrupts = []
    for number, size in enumerate(sizes):
        actions = [
            {"name": "issue_refund", "args": {"order_id": 10 * number + n, "amount": 5}}
            for n in range(size)
        ]
        request = build_request(
            actions,  # type: ignore[arg-type]
            [["approve", "reject"]] * size,
            request_id=f"request-{number}",
            stage="tool_review",
            requested_by="alice@signoff.local",
            decided_by=["support-leads"],
            deadlines={"created_at": "2026-01-01T00:00:00.000+00:00"},
        )
        interrupts.append(Interrupt(value=request, id=f"interrupt-{number}"))
    return pending_actions(interrupts)


def answer(*items: dict[str, Any]) -> Any:
    """The `mcp_approval_response` items of an input, read."""
    read = approvals_in(items)
    assert read is not None
    return read


def response(request_id: Any, approve: Any = True, reason: Any = None) -> dict[str, Any]:
    """An `mcp_approval_response` item, as MLflow's helper writes it."""
    return create_mcp_approval_response_item("item-1", request_id, approve, reason)


def test_each_pending_action_becomes_one_valid_approval_request_item():
    actions = pending(1, 1)
    items = request_items(actions, "review_tool_calls")
    assert [McpApprovalRequest(**item).model_dump(exclude_none=True) for item in items] == items
    assert items == [
        {
            "type": "mcp_approval_request",
            "id": f"request-{number}",
            "arguments": json.dumps({"amount": 5, "order_id": 10 * number}),
            "name": "issue_refund",
            "server_label": "review_tool_calls",
        }
        for number in (0, 1)
    ]
    assert ResponsesAgentResponse(output=items).output[1].model_dump(exclude_none=True) == items[1]


def test_a_request_showing_several_actions_gets_one_id_per_action():
    assert approval_ids(pending(2, 1)) == ["request-0/1", "request-0/2", "request-1"]


def test_responses_answer_by_interrupt_with_the_reason_and_the_request_id():
    actions = pending(1, 1)
    resume = answer(
        response("request-0", True, " checked "), response("request-1", False, "duplicate")
    ).resume_for(actions)
    assert resume == {
        "interrupt-0": {
            "decisions": [{"type": "approve", "message": "checked"}],
            "request_id": "request-0",
        },
        "interrupt-1": {
            "decisions": [{"type": "reject", "message": "duplicate"}],
            "request_id": "request-1",
        },
    }
    only_second = answer(response("request-1", False)).resume_for(actions)
    assert only_second == {
        "interrupt-1": {"decisions": [{"type": "reject"}], "request_id": "request-1"}
    }


def test_the_actions_of_one_request_are_answered_together_in_order():
    actions = pending(2)
    resume = answer(response("request-0/2", False), response("request-0/1")).resume_for(actions)
    assert resume["interrupt-0"]["decisions"] == [{"type": "approve"}, {"type": "reject"}]
    with pytest.raises(NotAnswered, match=r"answer request-0/2 as well, in the same input"):
        answer(response("request-0/1")).resume_for(actions)


@pytest.mark.parametrize(
    ("items", "said"),
    [
        ([response("interrupt-0")], "not waiting on approval request id(s) interrupt-0"),
        ([response("request-0"), response("request-0", False)], "answered more than once"),
        ([response("request-0", "true")], "needs `approve` as JSON true or false, not 'true'"),
        ([response("request-0", reason=7)], "has a `reason` that is not text: 7."),
        ([response(" ")], "Input item 1 (mcp_approval_response) needs `approval_request_id`"),
    ],
)
def test_responses_that_cannot_answer_say_why(items, said):
    with pytest.raises(NotAnswered) as refused:
        answer(*items).resume_for(pending(1))
    assert said in str(refused.value)


def test_an_input_without_approval_responses_has_none():
    assert approvals_in([{"role": "user", "content": "hi"}, {"type": "reasoning"}]) is None


# The property, through a SignoffAgent as Model Serving calls it.

TEXT = st.text(max_size=20)
ANY = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSONISH = st.recursive(ANY, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
NEAR_BOOLEANS = st.sampled_from(["true", "false", "yes", "no", "on", 1, 0, 1.0])
"""Not booleans, though MLflow's types read them as booleans."""


def IDS(request_id: str) -> st.SearchStrategy[str]:  # noqa: N802 - a strategy, named as one
    """The pending request's id, near misses of it, and blanks."""
    return st.sampled_from([request_id, f"{request_id}x", request_id.upper(), "", "  "])


@st.composite
def malformed_responses(draw: st.DrawFn, request_id: str) -> dict[str, Any]:
    """An `mcp_approval_response` item for `request_id` with at least one field wrong: half of
    them of types MLflow reads (a near miss of the id, a blank one, an `approve` of text),
    half anything at all (fields missing, of any type, with any others)."""
    if draw(st.booleans()):
        fields: dict[str, Any] = {
            "approval_request_id": draw(IDS(request_id) | TEXT),
            "approve": draw(st.booleans() | NEAR_BOOLEANS),
            "reason": draw(st.none() | TEXT),
            "id": draw(st.none() | TEXT),
        }
    else:
        fields = {
            "approval_request_id": draw(IDS(request_id) | ANY),
            "approve": draw(st.booleans() | NEAR_BOOLEANS | JSONISH),
            "reason": draw(st.none() | TEXT | JSONISH),
            **draw(st.dictionaries(st.sampled_from(["id", "status", "extra"]), JSONISH)),
        }
        for name in draw(st.sets(st.sampled_from(["approval_request_id", "approve", "reason"]))):
            del fields[name]
    id_ok = fields.get("approval_request_id") == request_id
    approve_ok = isinstance(fields.get("approve"), bool)
    reason_ok = fields.get("reason") is None or isinstance(fields.get("reason"), str)
    if id_ok and approve_ok and reason_ok:
        fields["approve"] = draw(NEAR_BOOLEANS)
    return {"type": "mcp_approval_response", **fields}


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SignoffAgent, str, str]]:
    """An agent of `approve_reject` as Model Serving runs it, with bob (a manager) calling,
    and a thread waiting for alice's payment: the agent, the thread and the request id."""
    scratch = tmp_path_factory.mktemp("serving-approvals")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{scratch / 'mlflow.db'}")
        patch.setenv("SIGNOFF_IDENTITY_RESOLVER", f"{__name__}:dev_identity")
        setting = f"sqlite:///{scratch / 'checkpoints.sqlite'}"
        with (
            SignoffAgent(GRAPHS["approve_reject"], setting) as agent,
            serving_environment("http://127.0.0.1:9"),
        ):
            calling_as("alice")
            outputs = agent.predict({"input": [], "custom_inputs": {"input": PAYMENT}})
            [action] = outputs.custom_outputs["pending_actions"]
            calling_as("bob")
            yield agent, outputs.custom_outputs["thread_id"], action["request_id"]


def state_of(agent: SignoffAgent, thread_id: str) -> tuple[Any, ...]:
    """The thread's latest checkpoint and what it waits on."""
    snapshot = agent.open().get_state({"configurable": {"thread_id": thread_id}})
    return snapshot.config["configurable"]["checkpoint_id"], snapshot.interrupts


@given(data=st.data())
@EXAMPLES
def test_a_malformed_approval_response_never_answers_and_never_breaks_the_agent(paused, data):
    agent, thread_id, request_id = paused
    items = data.draw(st.lists(malformed_responses(request_id), min_size=1, max_size=3))
    good = data.draw(st.lists(st.just(response(request_id)), max_size=1))
    before = state_of(agent, thread_id)
    body = {"input": [*good, *items], "custom_inputs": {"thread_id": thread_id}}
    try:
        reply = agent.predict(body)
    except MlflowException as refused:  # MLflow's own types refuse it before the agent runs
        event("refused by MLflow's types")
        assert "ResponsesRequest schema" in refused.message
    else:
        event("refused in the reply")
        refusal = text_of(reply).splitlines()[0]
        assert refusal.startswith("Not applied: ")
        assert "mcp_approval_response" in refusal or "approval request id" in refusal.lower()
        assert [item.id for item in reply.output[1:]] == [request_id]
    assert state_of(agent, thread_id) == before
    assert [e for e in read_entries() if e["thread_id"] == thread_id] == []


def test_after_malformed_responses_a_correct_one_runs_the_payment_once(paused):
    agent, thread_id, request_id = paused
    done = agent.predict(
        {"input": [response(request_id)], "custom_inputs": {"thread_id": thread_id}}
    )
    assert text_of(done).startswith("Finished: executed.")
    assert len([e for e in read_entries() if e["thread_id"] == thread_id]) == 1
