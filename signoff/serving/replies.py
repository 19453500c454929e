"""What a Model Serving reply says: what waits for approval, or how the thread ended.

`reply_for(snapshot, graph)` gives one text item, one `mcp_approval_request` item per pending
action (`approvals`), and the `custom_outputs`: `thread_id`, `is_interrupted`, and
`pending_actions` (`signoff.protocol.interrupts`), also under its first name
`pending_tool_calls`, which clients of the original contract read. The text lists each
pending action by its summary and how to answer it (`grammar.how_to_answer`, or the approval
items), or, when the run has finished, the agent's last answer (or `status`, `reason` and
`result` for the operation graphs). A refused `mcp_approval_response` comes first in the text.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.types import StateSnapshot
from mlflow.pyfunc import ResponsesAgent

from signoff.protocol.grammar import how_to_answer
from signoff.protocol.interrupts import PendingAction, pending_actions
from signoff.serving.approvals import (
    REQUEST_TYPE,
    RESPONSE_TYPE,
    approval_ids,
    arguments_text,
    request_items,
)


@dataclass(frozen=True)
class Reply:
    """What a request returns: the text item, the approval request items and the custom
    outputs."""

    text: str
    item_id: str
    custom_outputs: dict[str, Any]
    approvals: list[dict[str, Any]]
    """One `mcp_approval_request` item per pending action."""

    def items(self) -> list[dict[str, Any]]:
        """The Responses output items: the text, then the approval requests."""
        return [ResponsesAgent.create_text_output_item(self.text, self.item_id), *self.approvals]


def reply_for(snapshot: StateSnapshot, graph: str, refusal: str | None = None) -> Reply:
    """What the thread in `snapshot` of `graph` says now: what waits for approval, or how it
    ended; `refusal` first, when an answer was not applied."""
    thread_id = snapshot.config["configurable"]["thread_id"]
    pending = pending_actions(snapshot.interrupts)
    outputs = {
        "thread_id": thread_id,
        "is_interrupted": bool(pending),
        "pending_actions": pending,
        "pending_tool_calls": pending,
    }
    messages = snapshot.values.get("messages") or []
    last = messages[-1] if messages else None
    if pending:
        text, item_id = _approval_text(thread_id, pending), str(uuid.uuid4())
    elif isinstance(last, AIMessage) and last.id:
        text, item_id = str(last.text), last.id
    else:
        text, item_id = _outcome_text(snapshot.values), str(uuid.uuid4())
    if refusal:  # a new item: the agent's own message is kept as it was said
        text, item_id = f"Not applied: {refusal}\n{text}", str(uuid.uuid4())
    return Reply(text, item_id, outputs, request_items(pending, graph))


def _approval_text(thread_id: str, pending: list[PendingAction]) -> str:
    lines = [f"Waiting for approval ({len(pending)} pending) on thread {thread_id}:"]
    numbered = enumerate(zip(approval_ids(pending), pending, strict=True), start=1)
    for number, (item_id, action) in numbered:
        lines += [
            f"{number}. {action['summary']}",
            f"   {action['title']} ({action['name']}) with {arguments_text(action)}."
            f"{_details(action)}",
            f"   Allowed: {', '.join(action['allowed_decisions'])}. Approval request id: "
            f"{item_id}; interrupt id: {action['id']}.",
        ]
        if action.get("progress"):
            lines.append(f"   Approvals: {action['progress']}.")
        if action["error"]:
            lines.append(f"   The last answer was not accepted: {action['error']}")
    lines.append(how_to_answer(thread_id))
    lines.append(
        f"Or answer each {REQUEST_TYPE} item with an {RESPONSE_TYPE} item in `input` "
        '({"approval_request_id": "<its id>", "approve": true or false, "reason": "..."}), '
        f'with custom_inputs {{"thread_id": "{thread_id}"}}.'
    )
    return "\n".join(lines)


def _details(action: PendingAction) -> str:
    """The action's description, after the summary it starts with (Agent Inbox lists only
    the description, so the summary leads it there)."""
    details = action["description"].removeprefix(action["summary"]).lstrip(". ")
    return f" {details}" if details else ""


def _outcome_text(values: dict[str, Any]) -> str:
    parts = [f"Finished: {values.get('status', 'done')}."]
    if values.get("reason"):
        parts.append(f"Reason: {values['reason']}.")
    if values.get("result"):
        parts.append(f"Result: {json.dumps(values['result'], sort_keys=True)}.")
    return " ".join(parts)
