"""OpenAI Responses approval items: what a pause shows a Responses client, and how its
`mcp_approval_response` items answer it.

A pause emits one `mcp_approval_request` item per pending action (MLflow's
`create_mcp_approval_request_item`): `name` the action (e.g. `issue_refund`), `arguments` its
arguments as JSON text, `server_label` the graph, and `id` its request's `request_id`. The
item has no field for the request's summary, so the summary is in the text item beside it
(and in `custom_outputs.pending_actions`), never in a field the type does not have.

Why the request id and not the interrupt id: the request id is the one name of a request on
every surface (the inbox, the CLI, webhooks, Slack, the audit trail), and it stays the same
when the graph asks again after a refused answer, where the interrupt id changes each time
(each vote of a quorum is a pause of its own, with a request id of its own). Parallel tool
calls are separate requests, so each has its own id and is answered on its own. A request
that shows several actions (no graph of signoff raises one) gets one id per action,
`<request_id>/<position>` from 1, and takes every action's answer in one input, as its
grammar does.

An input item `{"type": "mcp_approval_response", "approval_request_id", "approve": true |
false, "reason"?}` answers one item: approve (the reason as the approver's comment) or reject
(the reason as why). Several items in one input answer several requests. `resume_for` turns
them into the answer map by interrupt id that the graph reads (the same answers as
`custom_inputs.decisions`), or raises `NotAnswered` when they cannot answer what the thread
waits for: a malformed item, an id the thread does not wait on, an id answered twice, part
of a request's actions. Nothing is then applied, and the reply says why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlflow.types.responses import create_mcp_approval_request_item
from pydantic import BaseModel

from signoff.protocol.bounds import cut, shown
from signoff.protocol.interrupts import PendingAction
from signoff.protocol.shapes import ApproveDecision, Decision, RejectDecision

REQUEST_TYPE = "mcp_approval_request"
RESPONSE_TYPE = "mcp_approval_response"
RESPONSE_SHAPE = (
    f'{{"type": "{RESPONSE_TYPE}", "approval_request_id": "<the id of an {REQUEST_TYPE} '
    'item>", "approve": true or false, "reason": "<optional text>"}'
)
"""How an answer item is written, quoted in every refusal of a malformed one."""


class NotAnswered(ValueError):
    """`mcp_approval_response` items that cannot answer what the thread waits for; nothing of
    the request is applied and `str(error)` says why (the reply shows it)."""


@dataclass(frozen=True)
class ApprovalResponse:
    """One well-formed `mcp_approval_response` item."""

    approval_request_id: str
    approve: bool
    reason: str | None

    def decision(self) -> Decision:
        """The decision it makes on its action."""
        if self.approve:
            return (
                ApproveDecision(type="approve", message=self.reason)
                if self.reason
                else ApproveDecision(type="approve")
            )
        return (
            RejectDecision(type="reject", message=self.reason)
            if self.reason
            else RejectDecision(type="reject")
        )


@dataclass(frozen=True)
class Approvals:
    """The `mcp_approval_response` items of one request's `input`, as read."""

    responses: tuple[ApprovalResponse, ...]
    problems: tuple[str, ...]
    """Why each malformed item is not an answer."""

    def resume_for(self, pending: list[PendingAction]) -> dict[str, Any]:
        """The answers by interrupt id that these items give the `pending` actions; raises
        `NotAnswered` unless every item is well-formed and answers a pending action once."""
        if self.problems:
            raise NotAnswered(" ".join(self.problems) + f" Each is written {RESPONSE_SHAPE}.")
        ids = approval_ids(pending)
        asked = dict(zip(ids, pending, strict=True))
        given = Counter(response.approval_request_id for response in self.responses)
        if twice := sorted(name for name, count in given.items() if count > 1):
            raise NotAnswered(
                f"Approval request id(s) {_listed(twice)} are answered more than once in this "
                "input; send one mcp_approval_response for each."
            )
        if unknown := [name for name in given if name not in asked]:
            raise NotAnswered(
                f"This thread is not waiting on approval request id(s) {_listed(unknown)}; it "
                f"waits on {_listed(ids)} (the `id` of each {REQUEST_TYPE} item of the last "
                "reply). Send only new items: the thread keeps the conversation."
            )
        by_id = {response.approval_request_id: response for response in self.responses}
        resume: dict[str, Any] = {}
        for interrupt_id in dict.fromkeys(action["id"] for action in pending):
            shown_ids = [name for name, action in asked.items() if action["id"] == interrupt_id]
            answered = [name for name in shown_ids if name in by_id]
            if not answered:
                continue
            if missing := [name for name in shown_ids if name not in by_id]:
                raise NotAnswered(
                    f"Request {asked[answered[0]]['request_id']} shows {len(shown_ids)} actions "
                    f"and takes their answers together: answer {_listed(missing)} as well, in "
                    "the same input."
                )
            resume[interrupt_id] = {
                "decisions": [by_id[name].decision() for name in shown_ids],
                "request_id": asked[answered[0]]["request_id"],
            }
        return resume


def approval_ids(pending: list[PendingAction]) -> list[str]:
    """The `mcp_approval_request` id of each of `pending`: its request's id, with
    `/<position>` when that request shows several actions."""
    sizes = Counter(action["id"] for action in pending)
    positions: Counter[str] = Counter()
    ids = []
    for action in pending:
        positions[action["id"]] += 1
        suffix = f"/{positions[action['id']]}" if sizes[action["id"]] > 1 else ""
        ids.append(f"{action['request_id']}{suffix}")
    return ids


def request_items(pending: list[PendingAction], server_label: str) -> list[dict[str, Any]]:
    """One `mcp_approval_request` output item per pending action."""
    return [
        create_mcp_approval_request_item(
            id=item_id,
            arguments=arguments_text(action),
            name=action["name"],
            server_label=server_label,
        )
        for item_id, action in zip(approval_ids(pending), pending, strict=True)
    ]


def arguments_text(action: PendingAction) -> str:
    """The action's arguments as JSON text, as the Responses API writes tool arguments."""
    return json.dumps(action["args"], sort_keys=True)


def approvals_in(items: Iterable[BaseModel | dict[str, Any]]) -> Approvals | None:
    """The `mcp_approval_response` items among a request's `input` items, read; `None` when
    there are none (the input is then a new turn, or ignored by a `custom_inputs` answer)."""
    responses: list[ApprovalResponse] = []
    problems: list[str] = []
    found = False
    for position, item in enumerate(items, start=1):
        fields = item.model_dump() if isinstance(item, BaseModel) else item
        if not isinstance(fields, dict) or fields.get("type") != RESPONSE_TYPE:
            continue
        found = True
        read = _response(fields)
        if isinstance(read, str):
            problems.append(f"Input item {position} ({RESPONSE_TYPE}) {read}")
        else:
            responses.append(read)
    return Approvals(tuple(responses), tuple(problems)) if found else None


def _response(fields: dict[str, Any]) -> ApprovalResponse | str:
    """The answer one item gives, or what is wrong with it."""
    request_id, approve = fields.get("approval_request_id"), fields.get("approve")
    reason = fields.get("reason")
    if not isinstance(request_id, str) or not request_id.strip():
        return f"needs `approval_request_id`, the id of an {REQUEST_TYPE}, not {shown(request_id)}."
    if not isinstance(approve, bool):
        return f"needs `approve` as JSON true or false, not {shown(approve)}."
    if reason is not None and not isinstance(reason, str):
        return f"has a `reason` that is not text: {shown(reason)}."
    return ApprovalResponse(request_id.strip(), approve, (reason or "").strip() or None)


def _listed(names: Iterable[str]) -> str:
    return ", ".join(cut(name) for name in names)
