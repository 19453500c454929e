"""Reading a Model Serving request: which thread, a new turn or an answer, and whether it
can apply to that thread at all.

Everything here raises `ValueError` (or `PermissionError`, from the approval policy) before
the graph runs, so a request that cannot apply changes nothing: a decision without
`thread_id`, for an unknown thread or one that waits for nothing, interrupt ids the thread
does not wait on, or a new message to a thread that waits for a decision.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot
from mlflow.types.responses import ResponsesAgentRequest, to_chat_completions_input

from signoff.governance.identity import Identity
from signoff.governance.policy import resume_refusal
from signoff.protocol.interrupts import pending_actions


@dataclass(frozen=True)
class Answer:
    """A resume request: one answer for every pending approval, or answers by interrupt id."""

    decision: Any = None
    by_id: dict[str, Any] | None = None


def answer_in(inputs: dict[str, Any]) -> Answer | None:
    """The answer `custom_inputs` carries (`decision` or `decisions`), or `None`."""
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
                'custom_outputs.pending_actions) to answers, e.g. {"<id>": "approve"}.'
            )
        return Answer(by_id=decisions)
    return Answer(decision=decision) if decision is not None else None


def thread_id_in(inputs: dict[str, Any], *, answering: bool) -> str:
    """The thread `custom_inputs` names; a new id for a new turn that names none."""
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


def resume_command(
    answer: Answer, snapshot: StateSnapshot, thread_id: str, identity: Identity | None
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
                f"it waits on {', '.join(pending)} (the `id` of each pending_actions entry)."
            )
        resume = answer.by_id
    if refusal := resume_refusal(identity, pending, resume):
        raise PermissionError(refusal)
    return Command(resume=resume)


def new_input(
    graph: CompiledStateGraph,
    request: ResponsesAgentRequest,
    snapshot: StateSnapshot,
    thread_id: str,
) -> dict[str, Any]:
    """The graph input of a new turn: `custom_inputs.input`, plus the messages for agents."""
    if snapshot.interrupts:
        names = ", ".join(action["name"] for action in pending_actions(snapshot.interrupts))
        raise ValueError(
            f"Thread {thread_id!r} is waiting for approval of {names}. Answer it first "
            "with custom_inputs.decision or custom_inputs.decisions (see pending_actions)."
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
