"""What a Model Serving reply says: what waits for approval, or how the thread ended.

`reply_for(snapshot)` gives one text item and the `custom_outputs`: `thread_id`,
`is_interrupted`, and `pending_actions` (`signoff.protocol.interrupts`), also under its first
name `pending_tool_calls`, which clients of the original contract read. The text lists each
pending action and how to answer it (`grammar.how_to_answer`), or, when the run has finished,
the agent's last answer (or `status`, `reason` and `result` for the operation graphs).
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


@dataclass(frozen=True)
class Reply:
    """What a request returns: the text item and the custom outputs."""

    text: str
    item_id: str
    custom_outputs: dict[str, Any]

    def item(self) -> dict[str, Any]:
        """The text as a Responses output item."""
        return ResponsesAgent.create_text_output_item(self.text, self.item_id)


def reply_for(snapshot: StateSnapshot) -> Reply:
    """What the thread in `snapshot` says now: what waits for approval, or how it ended."""
    thread_id = snapshot.config["configurable"]["thread_id"]
    pending = pending_actions(snapshot.interrupts)
    outputs = {
        "thread_id": thread_id,
        "is_interrupted": bool(pending),
        "pending_actions": pending,
        "pending_tool_calls": pending,
    }
    if pending:
        return Reply(_approval_text(thread_id, pending), str(uuid.uuid4()), outputs)
    messages = snapshot.values.get("messages") or []
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage) and last.id:
        return Reply(str(last.text), last.id, outputs)
    return Reply(_outcome_text(snapshot.values), str(uuid.uuid4()), outputs)


def _approval_text(thread_id: str, pending: list[PendingAction]) -> str:
    lines = [f"Waiting for approval ({len(pending)} pending) on thread {thread_id}:"]
    for number, action in enumerate(pending, start=1):
        lines.append(
            f"{number}. {action['name']} with {json.dumps(action['args'], sort_keys=True)}: "
            f"{action['description'] or 'no description'} "
            f"Allowed: {', '.join(action['allowed_decisions'])}. Interrupt id: {action['id']}."
        )
        if action.get("progress"):
            lines.append(f"   Approvals: {action['progress']}.")
        if action["error"]:
            lines.append(f"   The last answer was not accepted: {action['error']}")
    lines.append(how_to_answer(thread_id))
    return "\n".join(lines)


def _outcome_text(values: dict[str, Any]) -> str:
    parts = [f"Finished: {values.get('status', 'done')}."]
    if values.get("reason"):
        parts.append(f"Reason: {values['reason']}.")
    if values.get("result"):
        parts.append(f"Result: {json.dumps(values['result'], sort_keys=True)}.")
    return " ".join(parts)
