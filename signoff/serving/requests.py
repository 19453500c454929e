"""Reading a Model Serving request: which thread, a new turn or an answer, and whether it
can apply to that thread at all.

An answer is `custom_inputs.decision`, `custom_inputs.decisions` or the `mcp_approval_response`
items of `input` (`approvals`), one of the three. Everything here raises before the graph
runs, so a request that cannot apply changes nothing: `ValueError` for a decision without
`thread_id`, for an unknown thread or one that waits for nothing, interrupt ids the thread
does not wait on, or a new message to a thread that waits for a decision; `PermissionError`
for a `custom_inputs` answer the approval policy refuses; `approvals.NotAnswered` for
`mcp_approval_response` items that cannot answer (malformed, an id not pending, refused by
the policy), which the reply shows instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot
from mlflow.types.responses import ResponsesAgentRequest, to_chat_completions_input

from signoff.governance.delegation import Delegation
from signoff.governance.identity import Identity
from signoff.governance.policy import resume_refusal
from signoff.protocol.interrupts import pending_actions
from signoff.serving.approvals import Approvals, NotAnswered, approvals_in


@dataclass(frozen=True)
class Answer:
    """A resume request: one answer for every pending approval, answers by interrupt id, or
    `mcp_approval_response` items."""

    decision: Any = None
    by_id: dict[str, Any] | None = None
    approvals: Approvals | None = None


ANSWERS = {
    "custom_inputs.decision": "one answer for every pending approval",
    "custom_inputs.decisions": "answers by interrupt id",
    "mcp_approval_response items": "answers by approval request id, in `input`",
}
"""The three ways a request answers, and what each is."""


def answer_in(request: ResponsesAgentRequest) -> Answer | None:
    """The answer `request` carries (`custom_inputs.decision` or `.decisions`, or
    `mcp_approval_response` items in `input`), or `None`."""
    inputs = request.custom_inputs or {}
    decision, decisions = inputs.get("decision"), inputs.get("decisions")
    approvals = approvals_in(request.input)
    given = dict(zip(ANSWERS, (decision, decisions, approvals), strict=True))
    if len(sent := [name for name, value in given.items() if value is not None]) > 1:
        ways = "; ".join(f"{name} ({means})" for name, means in ANSWERS.items())
        raise ValueError(f"Send one kind of answer, not {' and '.join(sent)} together: {ways}.")
    if approvals is not None:
        return Answer(approvals=approvals)
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
                "A decision needs custom_inputs.thread_id, mcp_approval_response items too: "
                "send the thread_id returned in custom_outputs by the request that paused."
            )
        return str(uuid.uuid4())
    if not isinstance(thread_id, str) or not thread_id.strip():
        raise ValueError("custom_inputs.thread_id must be a non-empty string.")
    return thread_id


def resume_command(
    answer: Answer,
    snapshot: StateSnapshot,
    thread_id: str,
    identity: Identity | None,
    delegations: list[Delegation],
) -> Command:
    """The resume command for `answer`, checked against what the thread waits for and
    against the policy, with the caller's `delegations` (a refusal names who may decide)."""
    if snapshot.created_at is None:
        raise ValueError(
            f"Unknown thread_id {thread_id!r}: no thread has started with it. Send the "
            "thread_id returned in custom_outputs, or a new message without thread_id."
        )
    pending = {interrupt.id: interrupt.value for interrupt in snapshot.interrupts}
    if not pending:
        raise ValueError(
            f"Thread {thread_id!r} is not waiting for a decision. Send a new message in "
            "`input` (with this thread_id) instead of an answer."
        )
    if answer.approvals is not None:
        resume = answer.approvals.resume_for(pending_actions(snapshot.interrupts))
    elif answer.by_id is None:
        resume = {interrupt_id: answer.decision for interrupt_id in pending}
    else:
        unknown = sorted(set(answer.by_id) - set(pending))
        if unknown:
            raise ValueError(
                f"Thread {thread_id!r} is not waiting on interrupt id(s) {', '.join(unknown)}; "
                f"it waits on {', '.join(pending)} (the `id` of each pending_actions entry)."
            )
        resume = answer.by_id
    if refusal := resume_refusal(identity, pending, resume, delegations):
        raise NotAnswered(refusal) if answer.approvals is not None else PermissionError(refusal)
    return Command(resume=resume)


def only_asks(request: ResponsesAgentRequest) -> bool:
    """Whether `request` carries no input at all (no items, no `custom_inputs.input`): for
    a thread that exists, it asks what it waits for, or how it ended, which the reply shows
    (a Responses client of an approver fetches the approval requests so)."""
    return not request.input and not (request.custom_inputs or {}).get("input")


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
            "with custom_inputs.decision or custom_inputs.decisions (see pending_actions), or "
            "with mcp_approval_response items."
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
