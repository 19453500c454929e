"""What a paused thread waits for, as the flat list of actions a caller must decide.

A thread may wait on several approval requests at once (parallel tool calls), and a request
may show several actions: `pending_actions` lists one `PendingAction` per interrupt and
action, whatever the action is (a tool call, a payment, a message draft). Model Serving
replies carry this list (`custom_outputs.pending_actions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from langgraph.types import Interrupt

from signoff.approval.shapes import ApprovalRequest, DecisionType


class PendingAction(TypedDict):
    """One action waiting for a decision, with what it takes to answer it."""

    id: str
    """The interrupt id: the key of this request in a resume map."""

    request_id: str
    """The request's id (the same for every action of one request)."""

    name: str
    """The action, e.g. `issue_refund`, `payment`, `send_message`."""

    args: dict[str, Any]
    """The exact arguments that run if it is approved."""

    description: str
    """What approving does, for people."""

    allowed_decisions: list[DecisionType]
    """What the reviewer may decide on it."""

    stage: str
    """The approval stage asked."""

    args_digest: str
    """The request's digest; an answer may carry it (`grammar`)."""

    requested_by: str
    """Who raised the request (they may withdraw it, not decide it)."""

    decided_by: list[str]
    """The groups whose members may decide it."""

    error: str | None
    """Why the last answer was refused, or `None`."""


def pending_actions(interrupts: Iterable[Interrupt]) -> list[PendingAction]:
    """One entry per pending interrupt and action it shows, in order."""
    return [action for interrupt in interrupts for action in _actions(interrupt)]


def _actions(interrupt: Interrupt) -> list[PendingAction]:
    request: ApprovalRequest = interrupt.value
    return [
        PendingAction(
            id=interrupt.id,
            request_id=request["request_id"],
            name=action["name"],
            args=action["args"],
            description=action.get("description", ""),
            allowed_decisions=config["allowed_decisions"],
            stage=request["stage"],
            args_digest=request["args_digest"],
            requested_by=request["requested_by"],
            decided_by=request["decided_by"],
            error=request["error"],
        )
        for action, config in zip(
            request["action_requests"], request["review_configs"], strict=True
        )
    ]


def waiting_interrupts(thread: dict[str, Any]) -> list[dict[str, Any]]:
    """The pending interrupts (`{"id", "value"}`) of a server thread record (as
    `threads.search` returns it) that are signoff approval requests."""
    return approval_interrupts(
        interrupt
        for interrupts in (thread.get("interrupts") or {}).values()
        for interrupt in interrupts
    )


def approval_interrupts(interrupts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those of `interrupts` (server `{"id", "value"}` records, e.g. a thread state's) whose
    value is a signoff approval request."""
    return [
        interrupt
        for interrupt in interrupts
        if isinstance(interrupt.get("value"), dict) and "request_id" in interrupt["value"]
    ]
