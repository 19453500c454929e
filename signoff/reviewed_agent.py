"""Build a tool-calling agent whose sensitive tool calls wait for a person.

    call_model ──no tool calls──▶ END
        │
        ├──safe calls, or one sensitive call────────────────▶ run_tools ──▶ call_model
        └──several sensitive calls──▶ review_tool_call ×N ──▶ run_tools ──▶ call_model

A single sensitive call is reviewed where it runs: `run_tools` pauses for it before it
executes anything, so the common case costs no fan-out and no extra step. Several sensitive
calls in one model message each become their own `review_tool_call` task and so their own
interrupt, all pending at once: answer them one by one with a resume map keyed by interrupt
id, or all in one map. Each decision is a signed audit entry naming its tool call.
`run_tools` is the only node that executes tools, after every review of the turn is in, and
it acts on the verified audit trail only (`signoff.execution.run_tool_calls`):

- approve runs the call; edit runs it with the validated new args (and rewrites the call in
  the model's message so history shows what ran);
- reject (or a withdrawal by the requester) returns the reason to the model as an error
  `ToolMessage`;
- respond returns the reviewer's text as the tool result without running the tool.

Who may decide each tool is `signoff.toml` `[policy.deciders]`; the requester is the user who
sent the turn's message. Safe tools (not in the review policy) run without pausing. A tool
that raises becomes an error `ToolMessage` the model can explain; the run never crashes.
After a tool named in `answer_after` has run, the model answers without tools, so the turn
ends there (an agent that starts a job reports its run id instead of polling it).
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from signoff.agent_context import AgentContext
from signoff.approval import ActionRequest, DecisionType, ask_for_decisions
from signoff.audit import AuditEntry, decision_entries
from signoff.execution import run_tool_calls
from signoff.outcome import UNIDENTIFIED, requester
from signoff.policy import RequestPolicy, request_policy

ToolPolicy = dict[str, list[DecisionType]]
"""Sensitive tool name → the decisions a reviewer may make on its calls. Absent = safe."""


def merge_by_key(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Reducer for state keyed by id: later values win, nothing is dropped (updates of
    parallel tasks arrive separately)."""
    return {**left, **right}


class AgentInput(TypedDict):
    """What a client may send an agent: new messages."""

    messages: Annotated[list[AnyMessage], add_messages]


class AgentState(TypedDict):
    """The conversation, who sent its latest turn, and the signed audit trail."""

    messages: Annotated[list[AnyMessage], add_messages]
    requested_by: NotRequired[str]
    """The authenticated user who sent the latest user message: the requester of the turn's
    sensitive calls."""
    review_policies: NotRequired[Annotated[dict[str, RequestPolicy], merge_by_key]]
    """Tool-call id → the policy its review is raised with, fixed when the model made the
    call (`signoff.policy`)."""
    audit: Annotated[list[AuditEntry], operator.add]


class PendingCall(TypedDict):
    """The input of one `review_tool_call` task."""

    tool_call: ToolCall
    requested_by: str
    policy: RequestPolicy | None
    """The call's review policy, as fixed when the model made it."""
    after: list[AuditEntry]
    """The last audit entry when the turn fanned out (none on a fresh thread): the entry this
    review's own entry follows."""


ModelFactory = Callable[[AgentContext], BaseChatModel]
ResultRecorder = Callable[[list[ToolMessage]], dict[str, Any]]
"""Extra state update computed from one turn's tool results (e.g. the job runs started)."""


def build_reviewed_agent(
    *,
    name: str,
    tools: Sequence[BaseTool],
    policy: ToolPolicy,
    load_model: ModelFactory,
    state_schema: type[AgentState] = AgentState,
    record_results: ResultRecorder | None = None,
    answer_after: frozenset[str] = frozenset(),
) -> CompiledStateGraph:
    """Compile an agent over `tools` whose calls to tools named in `policy` need approval."""
    by_name = {tool.name: tool for tool in tools}
    unknown = set(policy) - set(by_name)
    if unknown:
        raise ValueError(f"policy names tools the agent does not have: {sorted(unknown)}")
    editable = {  # an edit form is built from the schema (`signoff.inbox.forms`)
        name: {"args_schema": by_name[name].tool_call_schema.model_json_schema()}
        for name, decisions in policy.items()
        if "edit" in decisions
    }

    def call_model(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask the model for the next message, with the tools bound."""
        context = runtime.context or AgentContext()
        model = load_model(context)
        if not _ran_any(state["messages"], answer_after):
            model = model.bind_tools(list(tools))
        reply = model.invoke([SystemMessage(context.system_prompt), *state["messages"]])
        reply = _with_unique_call_ids(reply, state["messages"])
        update: dict[str, Any] = {"messages": [reply]}
        if calls := sensitive_calls(reply):  # their reviews keep the policy of this moment
            policies = {c["id"]: request_policy(c["name"], context) for c in calls}
            update["review_policies"] = policies
        if isinstance(state["messages"][-1], HumanMessage):
            update["requested_by"] = requester()  # a new turn: its sender is the requester
        return update

    def sensitive_calls(message: AIMessage) -> list[ToolCall]:
        return [call for call in message.tool_calls if call["name"] in policy]

    def route_tool_calls(state: AgentState) -> list[Send] | Literal["run_tools", "__end__"]:
        """End the turn; run the calls (one sensitive call is reviewed in `run_tools`); or send
        each of several sensitive calls to a review of its own, so that all wait at once."""
        message = _last_ai_message(state)
        sensitive = sensitive_calls(message)
        if len(sensitive) > 1:
            requested_by, after = state.get("requested_by", UNIDENTIFIED), state["audit"][-1:]
            policies = state.get("review_policies") or {}
            return [
                Send(
                    "review_tool_call",
                    PendingCall(
                        tool_call=c,
                        requested_by=requested_by,
                        policy=policies.get(c["id"] or ""),
                        after=after,
                    ),
                )
                for c in sensitive
            ]
        return "run_tools" if message.tool_calls else END

    def reviewed(
        call: ToolCall,
        requested_by: str,
        review_policy: RequestPolicy | None,
        trail: list[AuditEntry],
    ) -> dict[str, Any]:
        """Pause until a person decides on one sensitive call (under its `review_policy`); its
        signed audit entry (following `trail`), as a state update."""
        tool = by_name[call["name"]]
        review = ask_for_decisions(
            [
                ActionRequest(
                    name=call["name"],
                    args=call["args"],
                    description=tool.description,
                    **editable.get(call["name"], {}),
                )
            ],
            [policy[call["name"]]],
            stage="tool_review",
            rule=call["name"],
            requested_by=requested_by,
            policy=review_policy,
            key=call["id"] or "",
            validate_args=lambda _name, args: _validated_args(tool, args),
        )
        entries = decision_entries(
            review.request,
            review.decisions,
            review.reviewer,
            trail,
            call_id=call["id"],
            escalated_to=review.escalated_to,
        )
        return {"audit": entries}

    def review_tool_call(pending: PendingCall) -> dict[str, Any]:
        """Pause for one of several sensitive calls; record the signed decision."""
        call, frozen = pending["tool_call"], pending.get("policy")
        return reviewed(call, pending["requested_by"], frozen, pending["after"])

    def run_tools(state: AgentState) -> dict[str, Any]:
        """Execute the turn's calls as the verified audit trail says; the only place tools
        run. A lone sensitive call is reviewed here first, before anything here executes."""
        message = _last_ai_message(state)
        update: dict[str, Any] = {}
        trail = state["audit"]
        if len(lone := sensitive_calls(message)) == 1:
            frozen = (state.get("review_policies") or {}).get(lone[0]["id"] or "")
            update = reviewed(lone[0], state.get("requested_by", UNIDENTIFIED), frozen, trail)
            trail = [*trail, *update["audit"]]
        calls_as_run, results = run_tool_calls(message.tool_calls, policy, by_name, trail)
        update |= record_results(results) if record_results else {}
        update["messages"] = results
        if calls_as_run != message.tool_calls:
            update["messages"] = [message.model_copy(update={"tool_calls": calls_as_run}), *results]
        return update

    builder = StateGraph(state_schema, context_schema=AgentContext, input_schema=AgentInput)
    builder.add_node(call_model)
    builder.add_node(review_tool_call)
    builder.add_node(run_tools)
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges(
        "call_model", route_tool_calls, ["review_tool_call", "run_tools", END]
    )
    builder.add_edge("review_tool_call", "run_tools")
    builder.add_edge("run_tools", "call_model")
    return builder.compile(name=name)


def _with_unique_call_ids(message: AIMessage, history: list[AnyMessage]) -> AIMessage:
    """Give every tool call an id no other call on the thread has: reviews, results and
    idempotency keys are matched by call id, so a model that omits ids, or repeats one within
    a message or from an earlier turn, must not let one decision or one key stand for two
    calls."""
    seen = {
        call["id"]
        for earlier in history
        if isinstance(earlier, AIMessage)
        for call in earlier.tool_calls
        if call["id"]
    }
    calls = []
    for call in message.tool_calls:
        if not call["id"] or call["id"] in seen:
            call = ToolCall(**{**call, "id": f"call_{uuid.uuid4().hex[:24]}"})
        seen.add(call["id"])
        calls.append(call)
    return (
        message if calls == message.tool_calls else message.model_copy(update={"tool_calls": calls})
    )


def _ran_any(messages: list[AnyMessage], names: frozenset[str]) -> bool:
    """Whether the latest tool results include a successful call of a tool in `names`."""
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            return False
        if message.name in names and message.status != "error":
            return True
    return False


def _last_ai_message(state: AgentState) -> AIMessage:
    message = state["messages"][-1]
    if not isinstance(message, AIMessage):
        raise TypeError(f"expected the model's message last, got {type(message).__name__}")
    return message


def _validated_args(tool: BaseTool, args: dict[str, Any]) -> dict[str, Any]:
    """Check edited args against the schema the model sees (raises ValueError); arguments the
    tool gets injected, such as its call id, are not the reviewer's to set."""
    schema = tool.tool_call_schema
    return schema.model_validate(args).model_dump(exclude_none=True)
