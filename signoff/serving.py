"""Serve any signoff graph as an MLflow `ResponsesAgent`, e.g. on Databricks Model Serving.

`SignoffAgent(graph, checkpointer=None)` wraps a compiled graph (or a zero-argument builder,
called when the agent opens) and attaches the saver of `signoff.checkpointer.checkpointer`
(`SIGNOFF_CHECKPOINTER`, or `LAKEBASE_INSTANCE_NAME` for Lakebase). The saver is opened once,
when MLflow loads the model (`load_context`) or on the first request, and closed by `close()`.
`agent_for("databricks_workflow")` builds the agent of a graph of this project by name.

Request (`ResponsesAgentRequest`):

- `input`: the user's new messages. Graphs with a `messages` state key (the agents) get them
  as `{"messages": [...]}`; send only the new turn, the thread holds the history.
- `custom_inputs.input`: the graph input for graphs without messages, e.g.
  `{"operation": {"amount": 5000, "target": "acct-9"}}` for `approve_reject` (their `input`
  messages are ignored). For the agents, it may add other state keys next to the messages.
- `custom_inputs.thread_id`: the thread to continue (an id no thread has yet starts one with
  that id). Without it a new thread gets a new id. Either way `custom_outputs.thread_id` has it.
- `custom_inputs.decision`: answer every pending approval of the thread with one answer of the
  approval protocol: `"approve"`/`"approved"`/`"yes"`, `"reject"`/`"rejected"`/`"no"`, any
  other text (rejects with it as feedback), `{"decisions": [...]}` or Agent Inbox responses.
- `custom_inputs.decisions`: `{interrupt id: answer}`, to answer parallel calls separately
  (some now, the rest later). A resume ignores `input`.

Who is asking is never read from the request: in Model Serving it is the caller, resolved from
on-behalf-of-user credentials (`databricks_ai_bridge`'s `ModelServingUserCredentials`; log the
model with a `UserAuthPolicy`) by `signoff.identity`. The same policy as the LangGraph server
applies (`signoff.policy`): a decision from someone who may not decide it raises
`PermissionError` naming who may, and the thread stays pending. Outside Model Serving there is
no caller identity: new turns run, decisions are refused.

Response: one text output item and `custom_outputs`:

- `thread_id`; `is_interrupted` (the thread waits for a decision);
- `pending_tool_calls`: one entry per pending interrupt and action, `{id, request_id, name,
  args, description, allowed_decisions, stage, args_digest, error}`; `id` is the interrupt id
  to use in `decisions` (it changes when a refused answer makes the graph ask again).

The text says what waits for approval and how to answer, or, when the run has finished, the
agent's last answer (or `status`, `reason` and `result` for the operation graphs).

A bad answer does not raise: the graph asks again, the thread stays pending and the reason is
in the text and in `pending_tool_calls[].error`. A request that cannot apply to the thread
raises `ValueError` (Model Serving answers it with an error status) and changes nothing: a
decision without `thread_id`, for an unknown thread or one that waits for nothing, interrupt
ids the thread does not wait on, a new message to a thread that waits for a decision, or a
second request for a thread this agent, or another replica on the same checkpoint store, is
still running (`signoff.lease.ThreadBusy`).

A request for a thread whose last run stopped mid-way (its worker died after an approval) runs
that run on from its last checkpoint instead, and replies with where it ended.

`predict_stream` yields `response.output_text.delta` events while the graph runs (the model's
tokens), then one `response.output_item.done` event with the final text item; that last event
carries the same `custom_outputs` as `predict`.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.types import Command, Interrupt, StateSnapshot
from mlflow.pyfunc import ResponsesAgent
from mlflow.types.responses import (
    ResponsesAgentRequest,
    ResponsesAgentResponse,
    ResponsesAgentStreamEvent,
    to_chat_completions_input,
)

from signoff.approval.permission import resume_refusal
from signoff.checkpointer import checkpointer
from signoff.identity import Identity, caller_identity
from signoff.lease import Leases, NoLeases, leases_for

log = logging.getLogger("signoff.serving")

GRAPH_NAMES = (
    "approve_reject",
    "edit_state",
    "multi_stage_approval",
    "review_tool_calls",
    "databricks_workflow",
)
"""The graphs `agent_for` can serve: modules of `graphs/`."""

GraphSource = CompiledStateGraph | Callable[[], CompiledStateGraph]


@dataclass(frozen=True)
class _Reply:
    """What a request returns: the text item and the custom outputs."""

    text: str
    item_id: str
    custom_outputs: dict[str, Any]

    def item(self) -> dict[str, Any]:
        """The text as a Responses output item."""
        return ResponsesAgent.create_text_output_item(self.text, self.item_id)


class SignoffAgent(ResponsesAgent):
    """A signoff graph behind the Responses API, its threads kept by a checkpoint saver."""

    def __init__(self, graph: GraphSource, checkpointer: str | None = None) -> None:
        """Serve `graph` (compiled, or a builder); `checkpointer` as `SIGNOFF_CHECKPOINTER`."""
        self._source = graph
        self._setting = checkpointer
        self._stack = ExitStack()
        self._graph: CompiledStateGraph | None = None
        self._leases: Leases = NoLeases()
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def load_context(self, context: Any) -> None:
        """MLflow calls this when it loads the model: open the saver before any request."""
        self.open()

    def open(self) -> CompiledStateGraph:
        """Build the graph and open the saver, once; return the graph with the saver attached."""
        with self._lock:
            if self._graph is None:
                source = self._source
                compiled = source if isinstance(source, Pregel) else source()
                saver = self._stack.enter_context(checkpointer(self._setting))
                self._leases = leases_for(saver)
                self._stack.callback(self._leases.close)
                self._graph = compiled.copy(update={"checkpointer": saver})
            return self._graph

    def close(self) -> None:
        """Close the saver; the next request opens it again."""
        with self._lock:
            self._stack.close()
            self._graph = None

    def __enter__(self) -> SignoffAgent:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def predict(self, request: ResponsesAgentRequest) -> ResponsesAgentResponse:
        """Run one turn or one resume to its end or its next pause."""
        with self._turn(request) as (graph, graph_input, config):
            graph.invoke(graph_input, config)
            reply = _reply(graph.get_state(config))
        return ResponsesAgentResponse(output=[reply.item()], custom_outputs=reply.custom_outputs)

    def predict_stream(
        self, request: ResponsesAgentRequest
    ) -> Generator[ResponsesAgentStreamEvent, None, None]:
        """Like `predict`, streaming the model's tokens; the last event has the custom outputs."""
        streamed: set[str] = set()
        with self._turn(request) as (graph, graph_input, config):
            for message, _ in graph.stream(graph_input, config, stream_mode="messages"):
                if isinstance(message, AIMessage) and message.id and message.text:
                    streamed.add(message.id)
                    yield _event(self.create_text_delta(str(message.text), message.id))
            reply = _reply(graph.get_state(config))
        if reply.item_id not in streamed:
            for line in reply.text.splitlines(keepends=True):
                yield _event(self.create_text_delta(line, reply.item_id))
        yield _event(
            {"type": "response.output_item.done", "item": reply.item()},
            custom_outputs=reply.custom_outputs,
        )

    def resume(self, decision: Any, thread_id: str) -> ResponsesAgentResponse:
        """Answer every pending approval of `thread_id` with `decision` (see `predict`)."""
        return self.predict(
            ResponsesAgentRequest(
                input=[], custom_inputs={"thread_id": thread_id, "decision": decision}
            )
        )

    @contextmanager
    def _turn(
        self, request: ResponsesAgentRequest
    ) -> Iterator[tuple[CompiledStateGraph, dict[str, Any] | Command | None, RunnableConfig]]:
        """Check `request` against its thread and hold the thread while the graph runs.

        A thread whose last run stopped between two steps (its worker crashed after an
        approval, say) is run on from its last checkpoint to its end or next pause, and this
        request is not applied: a retried decision has then taken effect, and a new pause is
        shown to be answered, never answered by a stale retry. Tools that must not run twice
        rely on idempotency (`start_databricks_job` derives its token from the thread and the
        tool call), and so do the ledger and the refund function. Live replicas sharing the
        store never run one thread at the same moment: the lease refuses the second at once."""
        graph = self.open()
        inputs = request.custom_inputs or {}
        answer = _answer(inputs)
        thread_id = _thread_id(inputs, answering=answer is not None)
        identity = caller_identity()
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if identity is not None:
            configurable["langgraph_auth_user"] = identity.as_auth_user()
            configurable["langgraph_auth_user_id"] = identity.user
        config = RunnableConfig(configurable=configurable)
        with self._holding(thread_id):
            snapshot = graph.get_state(config)
            graph_input: dict[str, Any] | Command | None
            if _stopped_mid_run(snapshot):
                log.warning("Thread %s: finishing the run a stopped worker left behind", thread_id)
                yield graph, None, config  # the reply shows where that run ended
                return
            if answer is not None:
                graph_input = _resume(answer, snapshot, thread_id, identity)
            else:
                graph_input = _new_input(graph, request, snapshot, thread_id)
            yield graph, graph_input, config

    @contextmanager
    def _holding(self, thread_id: str) -> Iterator[None]:
        """Run one request per thread at a time, in this process and across every replica
        sharing the checkpoint store (`signoff.lease`), so one approval can never run twice."""
        with self._lock:
            if thread_id in self._running:
                raise ValueError(
                    f"Thread {thread_id!r} is still running another request; send this one "
                    "again when that has finished."
                )
            self._running.add(thread_id)
        try:
            with self._leases.hold(thread_id):  # `_turn` opened the agent, and its leases
                yield
        finally:
            with self._lock:
                self._running.discard(thread_id)


def agent_for(name: str, checkpointer: str | None = None) -> SignoffAgent:
    """The agent serving graph `name` of this project (its `build` when it has one)."""
    if name not in GRAPH_NAMES:
        raise ValueError(f"Unknown graph {name!r}; choose one of {', '.join(GRAPH_NAMES)}.")
    module = importlib.import_module(f"graphs.{name}")
    return SignoffAgent(getattr(module, "build", None) or module.graph, checkpointer)


@dataclass(frozen=True)
class _Answer:
    """A resume request: one answer for every pending approval, or answers by interrupt id."""

    decision: Any = None
    by_id: dict[str, Any] | None = None


def _answer(inputs: dict[str, Any]) -> _Answer | None:
    decision, decisions = inputs.get("decision"), inputs.get("decisions")
    if decision is not None and decisions is not None:
        raise ValueError(
            "Send either custom_inputs.decision (one answer for every pending approval) or "
            "custom_inputs.decisions (answers by interrupt id), not both."
        )
    if decisions is not None:
        if not isinstance(decisions, dict) or not decisions:
            raise ValueError(
                "custom_inputs.decisions must map interrupt ids (the `id` of each entry of "
                'custom_outputs.pending_tool_calls) to answers, e.g. {"<id>": "approve"}.'
            )
        return _Answer(by_id=decisions)
    return _Answer(decision=decision) if decision is not None else None


def _thread_id(inputs: dict[str, Any], *, answering: bool) -> str:
    thread_id = inputs.get("thread_id")
    if thread_id is None:
        if answering:
            raise ValueError(
                "A decision needs custom_inputs.thread_id: send the thread_id returned in "
                "custom_outputs by the request that paused."
            )
        return str(uuid.uuid4())
    if not isinstance(thread_id, str) or not thread_id.strip():
        raise ValueError("custom_inputs.thread_id must be a non-empty string.")
    return thread_id


def _stopped_mid_run(snapshot: StateSnapshot) -> bool:
    """Whether the thread has steps left to run but waits for nobody: a run that died."""
    return bool(snapshot.next) and not snapshot.interrupts


def _resume(
    answer: _Answer, snapshot: StateSnapshot, thread_id: str, identity: Identity | None
) -> Command:
    """The resume command for `answer`, checked against what the thread waits for and
    against the policy (`PermissionError` naming who may decide)."""
    if snapshot.created_at is None:
        raise ValueError(
            f"Unknown thread_id {thread_id!r}: no thread has started with it. Send the "
            "thread_id returned in custom_outputs, or a new message without thread_id."
        )
    pending = {interrupt.id: interrupt.value for interrupt in snapshot.interrupts}
    if not pending:
        raise ValueError(
            f"Thread {thread_id!r} is not waiting for a decision. Send a new message in "
            "`input` (with this thread_id) instead of custom_inputs.decision(s)."
        )
    if answer.by_id is None:
        resume = {interrupt_id: answer.decision for interrupt_id in pending}
    else:
        unknown = sorted(set(answer.by_id) - set(pending))
        if unknown:
            raise ValueError(
                f"Thread {thread_id!r} is not waiting on interrupt id(s) {', '.join(unknown)}; "
                f"it waits on {', '.join(pending)} (the `id` of each pending_tool_calls entry)."
            )
        resume = answer.by_id
    if refusal := resume_refusal(identity, pending, resume):
        raise PermissionError(refusal)
    return Command(resume=resume)


def _new_input(
    graph: CompiledStateGraph,
    request: ResponsesAgentRequest,
    snapshot: StateSnapshot,
    thread_id: str,
) -> dict[str, Any]:
    """The graph input of a new turn: `custom_inputs.input`, plus the messages for agents."""
    if snapshot.interrupts:
        raise ValueError(
            f"Thread {thread_id!r} is waiting for approval of "
            f"{', '.join(call['name'] for call in _pending_calls(snapshot))}. Answer it first "
            "with custom_inputs.decision or custom_inputs.decisions (see pending_tool_calls)."
        )
    graph_input = (request.custom_inputs or {}).get("input") or {}
    if not isinstance(graph_input, dict):
        raise ValueError("custom_inputs.input must be an object: the graph's input state.")
    messages = to_chat_completions_input(request.input)
    takes_messages = "messages" in graph.channels
    if takes_messages and messages:
        graph_input = {**graph_input, "messages": messages}
    if not graph_input:
        where = "a user message in `input`" if takes_messages else "custom_inputs.input"
        raise ValueError(f"Nothing to run: graph {graph.name!r} takes its input from {where}.")
    return graph_input


def _pending_calls(snapshot: StateSnapshot) -> list[dict[str, Any]]:
    """One entry per pending interrupt and action it shows."""
    return [call for interrupt in snapshot.interrupts for call in _calls(interrupt)]


def _calls(interrupt: Interrupt) -> list[dict[str, Any]]:
    request = interrupt.value
    return [
        {
            "id": interrupt.id,
            "request_id": request["request_id"],
            "name": action["name"],
            "args": action["args"],
            "description": action.get("description", ""),
            "allowed_decisions": config["allowed_decisions"],
            "stage": request["stage"],
            "args_digest": request["args_digest"],
            "error": request["error"],
        }
        for action, config in zip(
            request["action_requests"], request["review_configs"], strict=True
        )
    ]


def _reply(snapshot: StateSnapshot) -> _Reply:
    """What the thread in `snapshot` says now: what waits for approval, or how it ended."""
    thread_id = snapshot.config["configurable"]["thread_id"]
    pending = _pending_calls(snapshot)
    outputs = {
        "thread_id": thread_id,
        "is_interrupted": bool(pending),
        "pending_tool_calls": pending,
    }
    if pending:
        return _Reply(_approval_text(thread_id, pending), str(uuid.uuid4()), outputs)
    messages = snapshot.values.get("messages") or []
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage) and last.id:
        return _Reply(str(last.text), last.id, outputs)
    return _Reply(_outcome_text(snapshot.values), str(uuid.uuid4()), outputs)


def _approval_text(thread_id: str, pending: list[dict[str, Any]]) -> str:
    lines = [f"Waiting for approval ({len(pending)} pending) on thread {thread_id}:"]
    for number, call in enumerate(pending, start=1):
        lines.append(
            f"{number}. {call['name']} with {json.dumps(call['args'], sort_keys=True)}: "
            f"{call['description'] or 'no description'} "
            f"Allowed: {', '.join(call['allowed_decisions'])}. Interrupt id: {call['id']}."
        )
        if call["error"]:
            lines.append(f"   The last answer was not accepted: {call['error']}")
    lines.append(
        f'To answer, send custom_inputs {{"thread_id": "{thread_id}", "decision": "approve"}}, '
        'or "reject", or feedback text (rejects with it), or {"decisions": [...]}; to answer '
        'calls separately, send "decisions": {"<interrupt id>": <answer>, ...} instead.'
    )
    return "\n".join(lines)


def _outcome_text(values: dict[str, Any]) -> str:
    parts = [f"Finished: {values.get('status', 'done')}."]
    if values.get("reason"):
        parts.append(f"Reason: {values['reason']}.")
    if values.get("result"):
        parts.append(f"Result: {json.dumps(values['result'], sort_keys=True)}.")
    return " ".join(parts)


def _event(data: dict[str, Any], **extra: Any) -> ResponsesAgentStreamEvent:
    return ResponsesAgentStreamEvent(**data, **extra)
