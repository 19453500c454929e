"""Tool-calling agents whose sensitive tool calls wait for a person.

    call_model ──no tool calls──▶ END
        │
        ├──safe calls, or one sensitive call────────────────▶ run_tools ──▶ call_model
        └──several sensitive calls──▶ review_tool_call ×N ──▶ run_tools ──▶ call_model

A single sensitive call is reviewed where it runs: `run_tools` pauses for it before it
executes anything, so the common case costs no fan-out and no extra step. Several sensitive
calls in one model message each become their own `review_tool_call` task and so their own
interrupt, all pending at once: answer them one by one with a resume map keyed by interrupt
id, or all in one map. `run_tools` is the only node that executes tools, after every review of
the turn is in:

- approve runs the call; edit runs it with the validated new args (and rewrites the call in
  the model's message so history shows what ran);
- reject returns the reviewer's message to the model as an error `ToolMessage`;
- respond returns the reviewer's text as the tool result without running the tool.

Safe tools (not in the policy) run without pausing. A tool that raises becomes an error
`ToolMessage` the model can explain; the run never crashes. After a tool named in
`answer_after` has run, the model answers without tools, so the turn ends there (an agent that
starts a job reports its run id instead of polling it).
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage, ToolCall, ToolMessage
from langchain_core.tools import BaseTool, ToolException
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from signoff.approval import ActionRequest, Decision, DecisionType, ask_for_decisions
from signoff.audit import AuditEntry
from signoff.settings import load_settings

ToolPolicy = dict[str, list[DecisionType]]
"""Sensitive tool name → the decisions a reviewer may make on its calls. Absent = safe."""


@dataclass(kw_only=True)
class AgentContext:
    """Runtime settings of an agent, editable per assistant in Studio."""

    model_endpoint: str = field(
        default_factory=lambda: load_settings().model_endpoint,
        metadata={"description": "Databricks model serving endpoint of the chat model."},
    )
    system_prompt: str = field(
        default="You are a careful assistant. Sensitive tool calls are reviewed by a person.",
        metadata={"description": "System prompt placed before the conversation."},
    )


def merge_by_key(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Reducer for state keyed by id: later values win, nothing is dropped (the reviews of
    parallel calls arrive from separate tasks)."""
    return {**left, **right}


class AgentInput(TypedDict):
    """What a client may send an agent: new messages."""

    messages: Annotated[list[AnyMessage], add_messages]


class AgentState(TypedDict):
    """The conversation, the decisions on its sensitive tool calls, and the audit trail."""

    messages: Annotated[list[AnyMessage], add_messages]
    reviews: Annotated[dict[str, Decision], merge_by_key]
    audit: Annotated[list[AuditEntry], operator.add]


class PendingCall(TypedDict):
    """The input of one `review_tool_call` task."""

    tool_call: ToolCall


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

    def call_model(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask the model for the next message, with the tools bound."""
        context = runtime.context or AgentContext()
        model = load_model(context)
        if not _ran_any(state["messages"], answer_after):
            model = model.bind_tools(list(tools))
        reply = model.invoke([SystemMessage(context.system_prompt), *state["messages"]])
        return {"messages": [_with_unique_call_ids(reply, state["messages"])]}

    def sensitive_calls(message: AIMessage) -> list[ToolCall]:
        return [call for call in message.tool_calls if call["name"] in policy]

    def route_tool_calls(state: AgentState) -> list[Send] | Literal["run_tools", "__end__"]:
        """End the turn; run the calls (one sensitive call is reviewed in `run_tools`); or send
        each of several sensitive calls to a review of its own, so that all wait at once."""
        message = _last_ai_message(state)
        sensitive = sensitive_calls(message)
        if len(sensitive) > 1:
            return [Send("review_tool_call", PendingCall(tool_call=call)) for call in sensitive]
        return "run_tools" if message.tool_calls else END

    def review(call: ToolCall) -> dict[str, Any]:
        """Pause until a person decides on one sensitive call; the decision for `run_tools`
        and its audit entry, as a state update."""
        tool = by_name[call["name"]]
        answer = ask_for_decisions(
            [ActionRequest(name=call["name"], args=call["args"], description=tool.description)],
            [policy[call["name"]]],
            stage="tool_review",
            requested_by="agent",
            key=call["id"] or "",
            validate_args=lambda _name, args: _validated_args(tool, args),
        )
        return {"reviews": {call["id"]: answer.decisions[0]}, "audit": answer.audit_entries()}

    def review_tool_call(pending: PendingCall) -> dict[str, Any]:
        """Pause for one of several sensitive calls; record the decision for `run_tools`."""
        return review(pending["tool_call"])

    def run_tools(state: AgentState) -> dict[str, Any]:
        """Execute the turn's calls as reviewed; the only place tools run. A lone sensitive
        call is reviewed here first, before anything in this node executes."""
        message = _last_ai_message(state)
        update: dict[str, Any] = {}
        reviews = state["reviews"]
        if len(lone := sensitive_calls(message)) == 1:
            update = review(lone[0])
            reviews = {**reviews, **update["reviews"]}
        results, calls_as_run = [], []
        for call in message.tool_calls:
            decision = reviews.get(call["id"]) if call["name"] in policy else None
            if decision and decision["type"] == "edit":
                call = ToolCall(**{**call, "args": decision["args"]})
            calls_as_run.append(call)
            if call["name"] in policy and decision is None:
                results.append(_error(call, "This sensitive call was never reviewed; not run."))
            else:
                results.append(_result(call, decision, by_name))
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


def _result(call: ToolCall, decision: Decision | None, by_name: dict[str, BaseTool]) -> ToolMessage:
    """Run one call (or not, as reviewed) and return the model-facing result."""
    if decision and decision["type"] == "reject":
        return _error(
            call, f"A reviewer rejected this call: {decision.get('message') or 'no reason given'}"
        )
    if decision and decision["type"] == "respond":
        return ToolMessage(content=decision["message"], name=call["name"], tool_call_id=call["id"])
    tool = by_name.get(call["name"])
    if tool is None:
        return _error(
            call, f"Unknown tool {call['name']!r}; available: {', '.join(sorted(by_name))}."
        )
    try:
        return tool.invoke({**call, "type": "tool_call"})
    except ToolException as error:
        return _error(call, str(error))
    except Exception as error:  # noqa: BLE001 - any tool failure goes back to the model
        return _error(call, f"{type(error).__name__}: {error}")


def _error(call: ToolCall, text: str) -> ToolMessage:
    return ToolMessage(content=text, name=call["name"], tool_call_id=call["id"], status="error")
