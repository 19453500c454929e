"""Build a tool-calling agent whose sensitive tool calls wait for a person.

    call_model ──no tool calls──▶ END
        │
        ├──safe calls, or one sensitive call────────────────▶ run_tools ──▶ call_model
        └──several sensitive calls──▶ review_tool_call ×N ──▶ run_tools ──▶ call_model

`ReviewedAgent` holds one agent's tools and review policy; its methods are the graph's nodes and
its router, in the order a turn meets them, and `build_reviewed_agent` wires them up.

A single sensitive call is reviewed where it runs: `run_tools` pauses for it before it
executes anything, so the common case costs no fan-out and no extra step. Several sensitive
calls in one model message each become their own `review_tool_call` task and so their own
interrupt, all pending at once: answer them one by one with a resume map keyed by interrupt
id, or all in one map. Both paths ask through the same `ReviewedAgent.review`, and each
decision is a signed audit entry naming its tool call.
`run_tools` is the only node that executes tools, after every review of the turn is in, and
it acts on the verified audit trail only (`signoff.execution.approved.run_tool_calls`):

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

Why the tools do not run in langgraph's `ToolNode` (as installed: langgraph-prebuilt 1.1.2,
`langgraph/prebuilt/tool_node.py`):

- A review cannot live inside it. `ToolNode` runs a message's calls at once
  (`executor.map(self._run_one, ...)`; `asyncio.gather` when async), and a pause re-runs the
  whole node on resume: an `interrupt` in a `wrap_tool_call` for the sensitive call lets a safe
  call of the same message run while the review waits, and again after it. So the lone call is
  reviewed in `run_tools` before anything runs, and a `ToolNode` could only be invoked from
  inside `run_tools`, on the calls the decisions let through.
- The gate decides and invokes in one step. `run_tool_calls` verifies the trail, matches each
  sensitive call to its signed decision, applies an edit, and invokes the tool itself
  (`BaseTool.invoke` on the call), while `ToolNode` fills `InjectedState`, `InjectedStore` and
  `ToolRuntime` arguments only in its private `_inject_tool_args`, when it runs a call itself.
  Routing through it would take a stand-in `BaseTool` that forwards `run_tool_calls`'
  invocation to a `ToolNode`, or this module reading the decisions itself: a second place that
  decides what is approved. What would make it fit is `signoff.execution` handing back the
  calls as decided (and the results that stand in for the calls that do not run), for
  `run_tools` to pass to `ToolNode(tools).invoke([{**call, "type": "tool_call"}, ...])`, which
  reads the state to inject from the running node.

So `InjectedToolCallId` works (langchain-core fills it when a tool is invoked with a tool call:
the Unity Catalog functions' idempotency keys, `signoff.tools.unity_catalog`, and the job's
idempotency token come from it), but `InjectedState`, `InjectedStore` and `ToolRuntime` do not:
such a call fails its argument validation and returns to the model as an error result.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from pydantic import BaseModel

from signoff.execution.approved import run_tool_calls, settled
from signoff.governance.audit import AuditEntry
from signoff.governance.identity import Identity, run_identity
from signoff.governance.policy import RequestPolicy
from signoff.protocol.shapes import (
    CONVERSATION_CHARACTERS,
    ActionRequest,
    Conversation,
    DecisionType,
)
from signoff.protocol.summaries import clip
from signoff.review.agent_context import AgentContext
from signoff.review.ask import ask_for_decisions, raise_policy
from signoff.review.outcome import UNIDENTIFIED, review_entries

ToolPolicy = dict[str, list[DecisionType]]
"""Sensitive tool name → the decisions a reviewer may make on its calls. Absent = safe."""

ModelFactory = Callable[[AgentContext], BaseChatModel]
"""The chat model for a run's context (its endpoint)."""

ResultRecorder = Callable[[list[ToolMessage]], dict[str, Any]]
"""Extra state update computed from one turn's tool results (e.g. the job runs started)."""


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
    requester_groups: NotRequired[list[str]]
    """Their groups, as the server's auth resolved them then: what the policy's conditions
    see of the turn's requester, whoever's run the turn goes on in."""
    review_policies: NotRequired[Annotated[dict[str, RequestPolicy], merge_by_key]]
    """Tool-call id → the policy its review is raised with, fixed when the model made the
    call (`signoff.governance.policy`)."""
    audit: Annotated[list[AuditEntry], operator.add]


class AgentUpdate(TypedDict, total=False):
    """What `call_model` and `review_tool_call` write to `AgentState`."""

    messages: list[AnyMessage]
    requested_by: str
    requester_groups: list[str]
    review_policies: dict[str, RequestPolicy]
    audit: list[AuditEntry]


class PendingCall(TypedDict):
    """The input of one `review_tool_call` task."""

    tool_call: ToolCall
    requested_by: str
    policy: RequestPolicy | None
    """The call's review policy, as fixed when the model made it."""
    after: list[AuditEntry]
    """The last audit entry when the turn fanned out (none on a fresh thread): the entry this
    review's own entry follows."""
    conversation: NotRequired[Conversation]
    """What led the model to the call, shown with it."""


ReviewedAgentGraph = CompiledStateGraph[AgentState, AgentContext, AgentInput, AgentState]
"""A compiled reviewed agent."""


class ReviewedAgent:
    """One agent's tools and review policy; its methods are the graph's nodes."""

    def __init__(
        self,
        tools: Sequence[BaseTool],
        policy: ToolPolicy,
        load_model: ModelFactory,
        record_results: ResultRecorder | None = None,
        answer_after: frozenset[str] = frozenset(),
    ) -> None:
        """An agent over `tools` whose calls to tools named in `policy` need approval; the
        edit form of each tool that may be edited is built now, from its call schema."""
        self.tools = list(tools)
        self.by_name = {tool.name: tool for tool in tools}
        if unknown := set(policy) - set(self.by_name):
            raise ValueError(f"policy names tools the agent does not have: {sorted(unknown)}")
        self.policy = policy
        self.load_model = load_model
        self.record_results = record_results
        self.answer_after = answer_after
        self._bound: tuple[BaseChatModel, Runnable[LanguageModelInput, AIMessage]] | None = None
        self.edit_forms = {  # the web inbox builds its edit form from it (`server.inbox.forms`)
            name: _call_schema(self.by_name[name]).model_json_schema()
            for name, decisions in policy.items()
            if "edit" in decisions
        }

    def call_model(self, state: AgentState, runtime: Runtime[AgentContext]) -> AgentUpdate:
        """Ask the model for the next message, with the tools bound unless one named in
        `answer_after` just ran. The review policy of each sensitive call it makes is fixed
        now, and a turn a person started records that person as its requester."""
        context = runtime.context or AgentContext()
        model = self.load_model(context)
        chat: Runnable[LanguageModelInput, AIMessage] = (
            model if _ran_any(state["messages"], self.answer_after) else self._with_tools(model)
        )
        reply = chat.invoke([SystemMessage(context.system_prompt), *state["messages"]])
        reply = _with_unique_call_ids(reply, state["messages"])
        update = AgentUpdate(messages=[reply])
        new_turn = isinstance(state["messages"][-1], HumanMessage)
        identity = run_identity(get_config())
        if new_turn:  # a new turn: its sender is the requester, with their groups
            update["requested_by"] = identity.user if identity else UNIDENTIFIED
            update["requester_groups"] = sorted(identity.groups) if identity else []
            requester = identity
        else:  # a reviewer's run going on with the turn: the turn's requester still asks
            requester = Identity(
                state.get("requested_by", UNIDENTIFIED),
                frozenset(state.get("requester_groups") or ()),
            )
        if calls := self.sensitive_calls(reply):  # their reviews keep the policy of this moment
            update["review_policies"] = {
                _call_id(call): raise_policy(
                    call["name"],
                    ActionRequest(name=call["name"], args=call["args"]),
                    "tool_review",
                    context,
                    key=_call_id(call),
                    requester=requester,
                )
                for call in calls
            }
        return update

    def _with_tools(self, model: BaseChatModel) -> Runnable[LanguageModelInput, AIMessage]:
        """`model` with the agent's tools bound, bound once per model: converting the tools'
        schemas costs more than the rest of a turn's bookkeeping."""
        last = self._bound
        if last is None or last[0] is not model:
            last = self._bound = (model, model.bind_tools(self.tools))
        return last[1]

    def route_tool_calls(self, state: AgentState) -> list[Send] | Literal["run_tools", "__end__"]:
        """End the turn; run the calls (one sensitive call is reviewed in `run_tools`); or send
        each of several sensitive calls to a review of its own, so that all wait at once."""
        message = _last_ai_message(state)
        sensitive = self.sensitive_calls(message)
        if len(sensitive) > 1:
            requested_by, after = state.get("requested_by", UNIDENTIFIED), state["audit"][-1:]
            conversation = conversation_of(state["messages"])  # the same for every call
            return [
                Send(
                    "review_tool_call",
                    PendingCall(
                        tool_call=call,
                        requested_by=requested_by,
                        policy=_review_policy(state, call),
                        after=after,
                        conversation=conversation,
                    ),
                )
                for call in sensitive
            ]
        return "run_tools" if message.tool_calls else "__end__"

    def review_tool_call(self, state: PendingCall) -> AgentUpdate:
        """Pause for one of several sensitive calls (`state` is the task's `Send` payload);
        record the signed decision."""
        call, policy = state["tool_call"], state.get("policy")
        audit = self.review(
            call, state["requested_by"], policy, state["after"], state.get("conversation")
        )
        return AgentUpdate(audit=audit)

    def run_tools(self, state: AgentState) -> Command[Literal["call_model", "run_tools"]]:
        """Execute the turn's calls as the verified audit trail says; the only place tools
        run. A sensitive call still undecided (the lone one of a turn, or one whose quorum
        needs more votes) is reviewed here first, one pause per execution of this node, and
        nothing runs until each is decided; one of several calls that was never reviewed (a
        run an admin moved past the reviews) is refused, not asked. The update is an
        `AgentUpdate` plus what `record_results` makes of the results."""
        message = _last_ai_message(state)
        trail = state["audit"]
        sensitive = self.sensitive_calls(message)
        if undecided := [
            call
            for call in sensitive
            if not _decided(trail, call) and (len(sensitive) == 1 or _voted_on(trail, call))
        ]:
            call = undecided[0]
            requested_by = state.get("requested_by", UNIDENTIFIED)
            decided = self.review(
                call,
                requested_by,
                _review_policy(state, call),
                trail,
                conversation_of(state["messages"]),
            )
            trail = [*trail, *decided]
            if any(not _decided(trail, c) for c in undecided):
                return Command(update=AgentUpdate(audit=decided), goto="run_tools")
        else:
            decided = []
        calls_as_run, results = run_tool_calls(message.tool_calls, self.policy, self.by_name, trail)
        update = dict(self.record_results(results)) if self.record_results else {}
        if decided:
            update["audit"] = decided
        update["messages"] = results
        if calls_as_run != message.tool_calls:  # an edit: history shows the call that ran
            update["messages"] = [message.model_copy(update={"tool_calls": calls_as_run}), *results]
        return Command(update=update, goto="call_model")

    def sensitive_calls(self, message: AIMessage) -> list[ToolCall]:
        """The calls of `message` that need a review."""
        return [call for call in message.tool_calls if call["name"] in self.policy]

    def review(
        self,
        call: ToolCall,
        requested_by: str,
        policy: RequestPolicy | None,
        trail: list[AuditEntry],
        conversation: Conversation | None = None,
    ) -> list[AuditEntry]:
        """Pause until a person decides on one sensitive `call` (under its review `policy`,
        shown with the `conversation` that led to it); the decision's signed audit entry,
        following `trail`. Code before this re-runs on every resume, so nothing may run
        before it."""
        tool = self.by_name[call["name"]]
        action = ActionRequest(name=call["name"], args=call["args"], description=tool.description)
        if form := self.edit_forms.get(call["name"]):
            action["args_schema"] = form
        review = ask_for_decisions(
            [action],
            [self.policy[call["name"]]],
            stage="tool_review",
            rule=call["name"],
            requested_by=requested_by,
            policy=policy,
            trail=trail,
            key=_call_id(call),
            validate_args=lambda _name, args: _validated_args(tool, args),
            conversation=conversation,
        )
        return review_entries(review, trail, call_id=_call_id(call))


def build_reviewed_agent(
    *,
    name: str,
    tools: Sequence[BaseTool],
    policy: ToolPolicy,
    load_model: ModelFactory,
    state_schema: type[AgentState] = AgentState,
    record_results: ResultRecorder | None = None,
    answer_after: frozenset[str] = frozenset(),
) -> ReviewedAgentGraph:
    """Compile an agent over `tools` whose calls to tools named in `policy` need approval."""
    agent = ReviewedAgent(tools, policy, load_model, record_results, answer_after)
    builder = StateGraph(state_schema, context_schema=AgentContext, input_schema=AgentInput)
    builder.add_node(agent.call_model)
    builder.add_node(agent.review_tool_call)
    builder.add_node(agent.run_tools)
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges(
        "call_model", agent.route_tool_calls, ["review_tool_call", "run_tools", END]
    )
    builder.add_edge("review_tool_call", "run_tools")
    return builder.compile(name=name)


def _voted_on(trail: list[AuditEntry], call: ToolCall) -> bool:
    """Whether `call` has had a vote (its review was asked: a quorum may want more)."""
    return any(entry.get("call_id") == call["id"] for entry in trail)


def _decided(trail: list[AuditEntry], call: ToolCall) -> bool:
    """Whether the sensitive `call` has a decision that ends its review on `trail`."""
    latest = next((e for e in reversed(trail) if e.get("call_id") == call["id"]), None)
    return latest is not None and settled(trail, latest)


def _call_id(call: ToolCall) -> str:
    """A call's id (`call_model` gives every call one; `""` only for a call made elsewhere)."""
    return call["id"] or ""


def _review_policy(state: AgentState, call: ToolCall) -> RequestPolicy | None:
    """The review policy fixed for `call` when the model made it (`None` for a call made
    before the graph fixed policies: its review takes the rule's policy now)."""
    return (state.get("review_policies") or {}).get(_call_id(call))


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
        seen.add(_call_id(call))
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


def conversation_of(messages: list[AnyMessage]) -> Conversation:
    """What led to the calls of the last message: the last person's message before it and
    the model's own text with them, each cut to `CONVERSATION_CHARACTERS`."""
    *earlier, last = messages
    user = next((m for m in reversed(earlier) if isinstance(m, HumanMessage)), None)

    def text(message: BaseMessage | None) -> str | None:
        words = message.text.strip() if message is not None else ""
        return clip(words, CONVERSATION_CHARACTERS) if words else None

    return Conversation(user=text(user), assistant=text(last))


def _last_ai_message(state: AgentState) -> AIMessage:
    """The model's message the turn acts on: the last one (`TypeError` otherwise)."""
    message = state["messages"][-1]
    if not isinstance(message, AIMessage):
        raise TypeError(f"expected the model's message last, got {type(message).__name__}")
    return message


def _call_schema(tool: BaseTool) -> type[BaseModel]:
    """The model of the arguments the model gives `tool`, and a reviewer may edit: without
    those the tool gets injected, such as its call id (`TypeError` for a tool without one)."""
    schema = tool.tool_call_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema
    raise TypeError(f"tool {tool.name!r} has no pydantic argument model, so it cannot be edited")


def _validated_args(tool: BaseTool, args: dict[str, Any]) -> dict[str, Any]:
    """Check edited args against the schema the model sees (raises ValueError); arguments the
    tool gets injected, such as its call id, are not the reviewer's to set."""
    return _call_schema(tool).model_validate(args).model_dump(exclude_none=True)
