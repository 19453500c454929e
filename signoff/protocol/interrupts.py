"""What a paused thread waits for, as the flat list of actions a caller must decide.

A thread may wait on several approval requests at once (parallel tool calls), and a request
may show several actions: `pending_actions` lists one `PendingAction` per interrupt and
action, whatever the action is (a tool call, a payment, a message draft). Model Serving
replies carry this list (`custom_outputs.pending_actions`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, TypedDict

from langgraph.types import Interrupt

from signoff.clock import parse
from signoff.protocol.bounds import cut
from signoff.protocol.shapes import ApprovalRequest, DecisionType
from signoff.protocol.summaries import summary_of, tool_title
from signoff.protocol.versions import upgraded, version_refusal

log = logging.getLogger("signoff.protocol.interrupts")


class PendingAction(TypedDict):
    """One action waiting for a decision, with what it takes to answer it."""

    id: str
    """The interrupt id: the key of this request in a resume map."""

    request_id: str
    """The request's id (the same for every action of one request)."""

    name: str
    """The action, e.g. `issue_refund`, `payment`, `send_message`."""

    title: str
    """The action's name in words (`summaries.tool_title`), e.g. `Issue refund`."""

    summary: str
    """The request's one line (`summaries.summary_of`), e.g. `payment of 5,000 USD to
    acct-1`: the same for every action of one request."""

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

    progress: str | None
    """For a request needing several approvals, how far it has come (e.g. `1 of 2: bob
    approved; waiting for 1 of finance`); `None` otherwise."""


def pending_actions(interrupts: Iterable[Interrupt]) -> list[PendingAction]:
    """One entry per pending interrupt and action it shows, in order (requests of another
    release read as `approval_interrupts` reads them)."""
    records = approval_interrupts({"id": i.id, "value": i.value} for i in interrupts)
    return [action for record in records for action in _actions(record["id"], record["value"])]


def _actions(interrupt_id: str, request: ApprovalRequest) -> list[PendingAction]:
    return [
        PendingAction(
            id=interrupt_id,
            request_id=request["request_id"],
            name=action["name"],
            title=tool_title(action["name"]),
            summary=summary_of(request),
            args=action["args"],
            description=action.get("description", ""),
            allowed_decisions=config["allowed_decisions"],
            stage=request["stage"],
            args_digest=request["args_digest"],
            requested_by=request["requested_by"],
            decided_by=request["decided_by"],
            error=request["error"],
            progress=progress["summary"] if (progress := request.get("progress")) else None,
        )
        for action, config in zip(
            request["action_requests"], request["review_configs"], strict=True
        )
    ]


def waiting_interrupts(thread: dict[str, Any]) -> list[dict[str, Any]]:
    """The pending interrupts (`{"id", "value"}`) of a server thread record (as
    `threads.search` returns it) that are signoff approval requests."""
    by_task = thread.get("interrupts")
    if not isinstance(by_task, dict):
        return []
    return approval_interrupts(
        interrupt
        for interrupts in by_task.values()
        if isinstance(interrupts, list)
        for interrupt in interrupts
    )


def approval_interrupts(interrupts: Iterable[Any]) -> list[dict[str, Any]]:
    """Those of `interrupts` (server `{"id", "value"}` records, e.g. a thread state's) whose
    value is a signoff approval request, each value upgraded to `REQUEST_VERSION`
    (`versions`). A value that claims to be one (it has a `request_id`) but that readers
    could not read, or of a version this signoff does not know, is skipped and logged (the
    latter saying to upgrade signoff): one such request never fails a list, a page, the
    metrics or the sweeper."""
    requests = []
    for interrupt in interrupts:
        if (value := _claimed_request(interrupt)) is None:
            continue
        if (refusal := version_refusal(value)) is not None:
            log.warning("Skipping an approval request: %s", refusal)
        elif isinstance(interrupt.get("id"), str) and readable_request(value):
            requests.append({**interrupt, "value": upgraded(value)})
        else:
            log.warning("Skipping a malformed approval request: %s", cut(repr(interrupt)))
    return requests


def version_refusals(interrupts: Iterable[Any]) -> list[str]:
    """Why each approval request among `interrupts` (server `{"id", "value"}` records) that
    this signoff cannot read for its version is refused (`versions.version_refusal`): what an
    answer to it is told, since `approval_interrupts` skips it."""
    return [
        refusal
        for interrupt in interrupts
        if (value := _claimed_request(interrupt)) is not None
        and (refusal := version_refusal(value)) is not None
    ]


def pending_request(interrupts: Iterable[Any], request_id: str) -> dict[str, Any] | None:
    """The record (`{"id", "value"}`, upgraded) of approval request `request_id` among
    `interrupts`, `None` when they do not wait on it."""
    found = (i for i in approval_interrupts(interrupts) if i["value"]["request_id"] == request_id)
    return next(found, None)


def _claimed_request(interrupt: Any) -> dict[str, Any] | None:
    """The value of server interrupt record `interrupt` when it claims to be an approval
    request (an object with a `request_id`), else `None`."""
    value = interrupt.get("value") if isinstance(interrupt, dict) else None
    return value if isinstance(value, dict) and "request_id" in value else None


def readable_request(value: dict[str, Any]) -> bool:
    """Whether `value` is of a version signoff reads (`versions.version_refusal`) and has
    every field of an `ApprovalRequest` that readers use, of the type they expect, with times
    that parse."""
    actions, configs = value.get("action_requests"), value.get("review_configs")
    return (
        version_refusal(value) is None
        and all(isinstance(value.get(key), str) for key in ("request_id", "args_digest", "stage"))
        and isinstance(value.get("requested_by"), str)
        and _texts(value.get("decided_by"))
        and isinstance(value.get("error"), str | None)
        and isinstance(actions, list)
        and isinstance(configs, list)
        and len(actions) == len(configs) > 0
        and all(_action(action) for action in actions)
        and all(isinstance(c, dict) and _texts(c.get("allowed_decisions")) for c in configs)
        and all(_time(value[key]) for key in TIMES if key in value)
        and isinstance(value.get("escalate_to", ""), str)
        and isinstance(value.get("summary", ""), str)
        and isinstance(value.get("conversation", {}), dict)
    )


TIMES = ("created_at", "remind_at", "escalates_at", "expires_at")
"""The request's times (ISO 8601)."""


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _action(action: Any) -> bool:
    return (
        isinstance(action, dict)
        and isinstance(action.get("name"), str)
        and isinstance(action.get("args"), dict)
        and isinstance(action.get("description", ""), str)
    )


def _time(value: Any) -> bool:
    return isinstance(value, str) and parse(value) is not None
