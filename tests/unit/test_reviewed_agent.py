"""The reviewed agent (`signoff.review.reviewed_agent`), in process: each node on its own, and
the whole loop on an in-memory saver, where no tool runs before its review is approved.

The model here proposes a fixed set of calls whenever it has tools bound and a person spoke
last, and answers in text otherwise. The refund tool (sensitive) and the lookup tool (safe)
record every execution, so "ran" and "did not run" are facts, not inferences.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool, tool
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from signoff.conditions import PROBE
from signoff.execution.idempotency import NAMESPACE
from signoff.governance.audit import AuditEntry, decision_entries
from signoff.governance.policy import request_policy
from signoff.protocol.shapes import ActionRequest, Conversation, Decision, build_request
from signoff.review.agent_context import AgentContext
from signoff.review.outcome import UNIDENTIFIED
from signoff.review.reviewed_agent import (
    AgentState,
    PendingCall,
    ReviewedAgent,
    ToolPolicy,
    build_reviewed_agent,
    conversation_of,
)
from signoff.tools.unity_catalog import with_idempotency_key
from tests.in_process import REFUND, RefundDesk, Thread, approver
from tests.property_settings import EXAMPLES

LOOKUP = "lookup_order"
ALL_DECISIONS: ToolPolicy = {REFUND: ["approve", "edit", "reject", "respond"]}
TURN = {"messages": [{"role": "user", "content": "sort out my orders"}]}


def refund(order_id: int, amount: float = 25.0) -> dict[str, Any]:
    """A refund call the model proposes (without an id: the agent gives it one)."""
    return {"name": REFUND, "args": {"order_id": order_id, "amount": amount, "reason": "damaged"}}


def lookup(order_id: int) -> dict[str, Any]:
    """A lookup call the model proposes."""
    return {"name": LOOKUP, "args": {"order_id": order_id}}


class Proposes(BaseChatModel):
    """With tools bound and a person's message last, proposes `calls` in one message; else
    answers with the last tool result (a model without tools cannot call one)."""

    calls: list[dict[str, Any]]
    bound: bool = False

    @property
    def _llm_type(self) -> str:
        return "proposes"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Proposes:
        """The same model, now able to call tools."""
        return self.model_copy(update={"bound": True})

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        last = messages[-1]
        if self.bound and isinstance(last, HumanMessage):
            calls = [{**call, "id": None} for call in self.calls]
            reply = AIMessage(content="", tool_calls=calls, id=str(uuid.uuid4()))
        else:
            reply = AIMessage(content=f"Done: {last.content}", id=str(uuid.uuid4()))
        return ChatResult(generations=[ChatGeneration(message=reply)])


@dataclass
class Desk(RefundDesk):
    """The refund desk plus a lookup tool (safe) that records what it looked up."""

    lookups: list[int] = field(default_factory=list)

    def lookup_tool(self) -> BaseTool:
        """The `lookup_order` tool bound to this desk."""

        @tool(LOOKUP)
        def lookup_order(order_id: int) -> str:
            """Look an order up (read-only)."""
            self.lookups.append(order_id)
            return f"Order {order_id}: delivered."

        return lookup_order

    def tools(self) -> list[BaseTool]:
        """Both tools."""
        return [self.tool(), self.lookup_tool()]


def agent_over(desk: Desk, calls: list[dict[str, Any]], **options: Any) -> ReviewedAgent:
    """The nodes of an agent over `desk` whose model proposes `calls`."""
    return ReviewedAgent(
        desk.tools(), ALL_DECISIONS, lambda _context: Proposes(calls=calls), **options
    )


def thread_over(desk: Desk, calls: list[dict[str, Any]]) -> Thread:
    """A new thread of the compiled agent over `desk` whose model proposes `calls`."""
    return Thread(
        build_reviewed_agent(
            name="reviewed_agent",
            tools=desk.tools(),
            policy=ALL_DECISIONS,
            load_model=lambda _context: Proposes(calls=calls),
        )
    )


def in_run(work: Callable[[], Any], thread_id: str = "thread-1") -> Any:
    """`work()` inside a runnable whose config names `thread_id`, as a graph node runs."""
    config = {"configurable": {"thread_id": thread_id}}
    return RunnableLambda(lambda _: work()).invoke(None, config)


def proposed(*calls: dict[str, Any]) -> AIMessage:
    """The model's message making `calls`, ids `call_0`, `call_1`, ..."""
    tool_calls = [{**call, "id": f"call_{n}"} for n, call in enumerate(calls)]
    return AIMessage(content="", tool_calls=tool_calls, id="ai-1")


def state_of(*messages: BaseMessage, audit: list[AuditEntry] | None = None) -> AgentState:
    """An agent state holding `messages` and the signed `audit` trail."""
    return AgentState(messages=list(messages), audit=audit or [])


def signed_decision(call: Any, decision: Decision, trail: list[AuditEntry]) -> AuditEntry:
    """The signed entry of `decision` on `call`, following `trail` (inside a run)."""
    action = ActionRequest(name=call["name"], args=call["args"])
    request = build_request(
        [action],
        [ALL_DECISIONS[REFUND]],
        request_id=f"request-{call['id']}",
        stage="tool_review",
        requested_by="requester@signoff.local",
        decided_by=["support-leads"],
        deadlines={"created_at": "2030-01-01T00:00:00+00:00"},
    )
    [entry] = decision_entries(request, [decision], "bob@signoff.local", trail, call["id"])
    return entry


def results_of(values: dict[str, Any]) -> dict[str, ToolMessage]:
    """The tool results on a thread, by call id."""
    return {m.tool_call_id: m for m in values["messages"] if isinstance(m, ToolMessage)}


def answer(thread: Thread, interrupt_id: str, decision: dict[str, Any]) -> None:
    """Answer the pending request `interrupt_id` with `decision`, as an allowed approver."""
    config = thread.as_user(approver("tool_review"))
    thread.graph.invoke(Command(resume={interrupt_id: {"decisions": [decision]}}), config)


def waiting_nodes(thread: Thread) -> list[str]:
    """The nodes whose tasks wait on an interrupt."""
    return [task.name for task in thread.graph.get_state(thread.config).tasks if task.interrupts]


# ReviewedAgent: built from the tools and the policy


def test_a_policy_naming_a_tool_the_agent_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="policy names tools the agent does not have"):
        ReviewedAgent(Desk().tools(), {"wire_money": ["approve"]}, lambda _c: Proposes(calls=[]))


def test_edit_forms_are_built_for_editable_tools_without_their_injected_arguments() -> None:
    @tool
    def keyed_refund(order_id: int, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
        """Refund an order."""
        return tool_call_id

    agent = ReviewedAgent(
        [keyed_refund, Desk().lookup_tool()],
        {"keyed_refund": ["approve", "edit"], LOOKUP: ["approve", "reject"]},
        lambda _c: Proposes(calls=[]),
    )
    assert set(agent.edit_forms) == {"keyed_refund"}
    assert set(agent.edit_forms["keyed_refund"]["properties"]) == {"order_id"}


# call_model


def test_call_model_gives_calls_ids_and_fixes_the_policy_of_each_sensitive_call() -> None:
    agent = agent_over(Desk(), [refund(17), refund(18), lookup(17)])
    runtime = Runtime(context=AgentContext())
    update = in_run(lambda: agent.call_model(state_of(HumanMessage("hi")), runtime))
    [reply] = update["messages"]
    ids = [call["id"] for call in reply.tool_calls]
    assert all(ids) and len(set(ids)) == 3
    policies = update["review_policies"]
    assert set(policies) == set(ids[:2])
    for call_id in ids[:2]:
        assert policies[call_id]["rule"] == REFUND
        assert policies[call_id]["decided_by"] == ["signoff-admins"]  # the default rule
        assert policies[call_id]["need"]["quotas"] == [{"groups": ["signoff-admins"], "count": 1}]
    assert policies[ids[0]]["need"]["id"] != policies[ids[1]]["need"]["id"]
    assert update["requested_by"] == UNIDENTIFIED  # a person's turn: its sender is recorded


def test_call_model_answers_without_tools_after_an_answer_after_tool_ran() -> None:
    agent = agent_over(Desk(), [lookup(17)], answer_after=frozenset({LOOKUP}))
    ran = ToolMessage("Order 17: delivered.", name=LOOKUP, tool_call_id="call_0")
    state = state_of(HumanMessage("hi"), proposed(lookup(17)), ran)
    update = in_run(lambda: agent.call_model(state, Runtime(context=AgentContext())))
    [reply] = update["messages"]
    assert reply.tool_calls == [] and reply.content == "Done: Order 17: delivered."
    assert "requested_by" not in update and "review_policies" not in update


# route_tool_calls


def test_route_ends_the_turn_on_a_message_without_calls() -> None:
    agent = agent_over(Desk(), [])
    assert agent.route_tool_calls(state_of(AIMessage("All done."))) == "__end__"


@pytest.mark.parametrize(
    "calls", [[lookup(1)], [refund(1)], [refund(1), lookup(2)]], ids=["safe", "one", "mixed"]
)
def test_route_runs_safe_calls_and_a_lone_sensitive_call_in_run_tools(calls: list[Any]) -> None:
    agent = agent_over(Desk(), [])
    assert agent.route_tool_calls(state_of(proposed(*calls))) == "run_tools"


def test_the_conversation_of_a_call_is_the_last_user_message_and_the_models_text_cut() -> None:
    long = "x" * 5000
    messages: list[Any] = [HumanMessage("Hi"), AIMessage("Which order?"), HumanMessage(long)]
    shown = conversation_of([*messages, proposed(refund(1))])
    assert shown == Conversation(user=long[:1999] + "…", assistant=None)
    assert conversation_of([proposed(refund(1))]) == Conversation(user=None, assistant=None)


def test_route_sends_each_of_several_sensitive_calls_to_a_review_of_its_own() -> None:
    agent = agent_over(Desk(), [])
    message = proposed(refund(1), lookup(2), refund(3))
    message.content = "Refunding both orders."
    policy = request_policy(REFUND, PROBE)
    earlier = [{"signature": "first"}, {"signature": "last"}]
    asked = HumanMessage("Refund orders 1 and 3, they arrived broken.")
    context = Conversation(user=asked.text, assistant="Refunding both orders.")
    state = AgentState(
        messages=[HumanMessage("Hi"), AIMessage("Which orders?"), asked, message],
        requested_by="alice@signoff.local",
        review_policies={"call_0": policy},
        audit=earlier,
    )
    sends = agent.route_tool_calls(state)
    assert (
        sends
        == [
            Send(
                "review_tool_call",
                PendingCall(
                    tool_call=message.tool_calls[0],
                    requested_by="alice@signoff.local",
                    policy=policy,
                    after=earlier[-1:],
                    conversation=context,
                ),
            ),
            Send(
                "review_tool_call",
                PendingCall(
                    tool_call=message.tool_calls[2],
                    requested_by="alice@signoff.local",
                    policy=None,  # made before policies were fixed: the rule's policy now
                    after=earlier[-1:],
                    conversation=context,
                ),
            ),
        ]
    )


def test_route_refuses_a_state_whose_last_message_is_not_the_models() -> None:
    with pytest.raises(TypeError, match="expected the model's message last"):
        agent_over(Desk(), []).route_tool_calls(state_of(HumanMessage("hi")))


# run_tools, on several sensitive calls (no review of its own: the trail decides alone)


def test_run_tools_runs_safe_calls_at_once_and_records_their_results() -> None:
    desk = Desk()
    agent = agent_over(desk, [], record_results=lambda results: {"seen": len(results)})
    update = in_run(lambda: agent.run_tools(state_of(proposed(lookup(1), lookup(2)))).update)
    assert desk.lookups == [1, 2]
    assert [m.content for m in update["messages"]] == ["Order 1: delivered.", "Order 2: delivered."]
    assert update["seen"] == 2 and "audit" not in update


def test_run_tools_runs_no_sensitive_call_without_a_signed_decision() -> None:
    desk = Desk()
    agent = agent_over(desk, [])
    update = in_run(
        lambda: agent.run_tools(state_of(proposed(refund(1), refund(2), lookup(3)))).update
    )
    assert desk.executed == [] and desk.lookups == [3]
    refused = [m for m in update["messages"] if m.status == "error"]
    assert [m.tool_call_id for m in refused] == ["call_0", "call_1"]
    assert all(m.content == "Refused: no signed decision on these arguments." for m in refused)


def test_run_tools_acts_on_each_signed_decision() -> None:
    desk = Desk()
    agent = agent_over(desk, [])
    message = proposed(refund(1), refund(2), refund(3))
    approve, edit, reject = message.tool_calls
    edited = {**edit["args"], "amount": 5.0}

    def run() -> dict[str, Any]:
        trail: list[AuditEntry] = []
        for call, decision in [
            (approve, {"type": "approve"}),
            (edit, {"type": "edit", "args": edited}),
            (reject, {"type": "reject", "message": "no photo"}),
        ]:
            trail.append(signed_decision(call, decision, trail))
        return agent.run_tools(state_of(message, audit=trail)).update

    update = in_run(run)
    assert desk.executed == [approve["args"], edited]
    rewritten, *results = update["messages"]
    assert rewritten.id == message.id and rewritten.tool_calls[1]["args"] == edited
    assert [m.status for m in results] == ["success", "success", "error"]
    assert results[2].content == "bob@signoff.local rejected this call: no photo"


def test_run_tools_refuses_a_decision_signed_for_another_thread() -> None:
    desk = Desk()
    agent = agent_over(desk, [])
    message = proposed(refund(1), refund(2))
    trail: list[AuditEntry] = []
    for call in message.tool_calls:
        entry = in_run(lambda call=call: signed_decision(call, {"type": "approve"}, trail))
        trail.append(entry)
    update = in_run(
        lambda: agent.run_tools(state_of(message, audit=trail)).update, thread_id="other"
    )
    assert desk.executed == []
    assert all(m.content.startswith("Refused: the audit trail") for m in update["messages"])


# The whole loop: nothing runs before its review is approved


def test_a_lone_sensitive_call_pauses_run_tools_before_any_call_of_the_turn_runs() -> None:
    desk = Desk()
    thread = thread_over(desk, [lookup(9), refund(17)])
    thread.start(TURN)
    assert waiting_nodes(thread) == ["run_tools"]
    assert desk.executed == [] and desk.lookups == []  # not even the safe call of the turn
    assert results_of(thread.values()) == {}
    thread.answer("approve")
    assert desk.executed == [refund(17)["args"]] and desk.lookups == [9]  # each once
    assert thread.values()["messages"][-1].content.startswith("Done:")


def test_several_sensitive_calls_run_nothing_until_the_last_is_decided() -> None:
    desk = Desk()
    thread = thread_over(desk, [refund(1), lookup(9), refund(2), refund(3)])
    thread.start(TURN)
    assert waiting_nodes(thread) == ["review_tool_call"] * 3
    pending = thread.graph.get_state(thread.config).interrupts
    for interrupt in pending:
        assert desk.executed == [] and desk.lookups == []
        answer(thread, interrupt.id, {"type": "approve"})
    assert sorted(r["order_id"] for r in desk.executed) == [1, 2, 3] and desk.lookups == [9]
    assert not thread.pending()


def test_an_idempotency_keyed_function_gets_the_key_of_its_thread_and_call() -> None:
    keys: list[str] = []

    def issue_refund(order_id: int, idempotency_key: str) -> str:
        """Refund an order, once per key."""
        keys.append(idempotency_key)
        return f"refunded {order_id}"

    keyed = with_idempotency_key(StructuredTool.from_function(issue_refund, name=REFUND))
    agent = build_reviewed_agent(
        name="keyed",
        tools=[keyed],
        policy=ALL_DECISIONS,
        load_model=lambda _context: Proposes(calls=[{"name": REFUND, "args": {"order_id": 4}}]),
    )
    thread = Thread(agent)
    thread.start(TURN)
    [action] = thread.request()["action_requests"]
    assert action["args"] == {"order_id": 4}  # the reviewer never sees or edits the key
    assert set(action["args_schema"]["properties"]) == {"order_id"}
    assert keys == []
    thread.answer("approve")
    [call] = next(m for m in thread.values()["messages"] if isinstance(m, AIMessage)).tool_calls
    assert keys == [str(uuid.uuid5(NAMESPACE, f"{thread.thread_id}/{call['id']}"))]


DECISIONS = st.sampled_from(["approve", "edit", "reject", "respond"])


def decision_for(kind: str, args: dict[str, Any], amount: float) -> dict[str, Any]:
    """A reviewer's `kind` decision on a refund of `args` (an edit refunds `amount` instead)."""
    if kind == "edit":
        return {
            "type": "edit",
            "edited_action": {"name": REFUND, "args": {**args, "amount": amount}},
        }
    if kind == "respond":
        return {"type": "respond", "message": "Refunded by phone."}
    if kind == "reject":
        return {"type": "reject", "message": "no photo"}
    return {"type": "approve"}


@EXAMPLES
@given(
    reviews=st.lists(st.tuples(DECISIONS, st.integers(1, 99).map(float)), min_size=1, max_size=3),
    data=st.data(),
)
def test_exactly_the_approved_calls_run_once_with_the_approved_args(
    reviews: list[tuple[str, float]], data: st.DataObject
) -> None:
    desk = Desk()
    calls = [refund(order_id) for order_id in range(1, len(reviews) + 1)]
    thread = thread_over(desk, [*calls, lookup(9)])
    thread.start(TURN)
    interrupts = thread.graph.get_state(thread.config).interrupts
    pending = {i.value["action_requests"][0]["args"]["order_id"]: i.id for i in interrupts}
    decisions = {
        call["args"]["order_id"]: decision_for(kind, call["args"], amount)
        for call, (kind, amount) in zip(calls, reviews, strict=True)
    }
    assert set(pending) == set(decisions)  # one request per sensitive call, all at once
    answering = data.draw(st.permutations(sorted(pending)))
    for order_id in answering:
        assert desk.executed == [] and desk.lookups == []  # nothing before every review is in
        answer(thread, pending[order_id], decisions[order_id])
    approved = [
        {**call["args"], "amount": amount} if kind == "edit" else call["args"]
        for call, (kind, amount) in zip(calls, reviews, strict=True)
        if kind in ("approve", "edit")
    ]
    assert desk.executed == approved and desk.lookups == [9]  # each once, as approved
    values = thread.values()
    assert [entry["decision"] for entry in values["audit"]] == [  # in the order of the calls
        decisions[order_id]["type"] for order_id in sorted(decisions)
    ]
    assert len(results_of(values)) == len(calls) + 1  # one result per call
    assert not thread.pending()
