"""Typed shapes of the approval protocol: the request a graph shows and the decision it gets.

The request is langchain's `HITLRequest` (`action_requests` + `review_configs`), so Studio,
Agent Inbox adapters and langchain users recognise it, plus signoff's own fields:

- `request_id`: stable for one pending approval, across every re-pause of it.
- `args_digest`: binds an answer to the exact arguments shown; an answer may echo it back.
- `stage`, `requested_by`, `decided_by`: which stage is asked, who raised the request (they may
  not decide it) and which groups may (`signoff.policy`).
- `error`: why the previous answer was refused (`None` on the first pause).
- `earlier_decisions`: what earlier stages decided, for chains of approvals.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, NotRequired, TypedDict

DecisionType = Literal["approve", "edit", "reject", "respond"]
"""The decisions a request may allow an approver, per action."""
DECISION_TYPES: tuple[DecisionType, ...] = ("approve", "edit", "reject", "respond")
WITHDRAW = "withdraw"
"""Not a decision on the action: the requester (or an admin) takes the whole request back.
Always accepted from them, never from anyone else."""


class ActionRequest(TypedDict):
    """One action awaiting review: what would run, with which arguments, and why."""

    name: str
    """The action or tool name, e.g. `"send_payment"`."""

    args: dict[str, Any]
    """The exact arguments that would run if approved."""

    description: NotRequired[str]
    """A human-readable account of what approving would do."""

    arguments: NotRequired[dict[str, Any]]
    """The same arguments under the key Agent Inbox reads (its HITL adapter shows and edits
    `arguments`); set by `build_request`, never read back."""


class ReviewConfig(TypedDict):
    """Which decisions the reviewer may make on one action."""

    action_name: str
    """The `name` of the action this config applies to."""

    allowed_decisions: list[DecisionType]
    """The decision types accepted for that action."""


class ApprovalRequest(TypedDict):
    """The value of every signoff interrupt."""

    action_requests: list[ActionRequest]
    """The actions under review, in order; answers must come in the same order."""

    review_configs: list[ReviewConfig]
    """One per action request, at the same position."""

    request_id: str
    """Id of this pause: unchanged when the node pauses again after a bad answer, new for every
    other pause (another stage, another request on the thread, a state edit). An answer may
    carry it, and must then match."""

    args_digest: str
    """SHA-256 of this request's id, stage and actions. An answer carrying it must match, so
    an answer given to one pause can never approve another."""

    stage: str
    """The approval stage being asked, e.g. `"review"`, `"manager"`, `"security"`."""

    requested_by: str
    """The authenticated user who started the run that raised this request; they may not
    decide it (four-eyes), but may withdraw it."""

    decided_by: list[str]
    """The groups whose members may decide this request (`signoff.toml` `[policy]`)."""

    error: str | None
    """Why the previous answer was refused and what is accepted; `None` on a first pause."""

    earlier_decisions: NotRequired[list[dict[str, Any]]]
    """Audit entries of earlier stages of the same chain, oldest first."""


class Decision(TypedDict):
    """One normalised answer for one action, whichever answer format it arrived in."""

    type: DecisionType | Literal["withdraw"]
    """approve, edit (run with `args`), reject (with optional `message`), respond, or
    withdraw (the requester took the request back; nothing runs)."""

    args: NotRequired[dict[str, Any]]
    """For `edit`: the validated replacement arguments."""

    message: NotRequired[str]
    """For `reject`: the reviewer's reason. For `respond`: the text returned as the result."""


def args_to_run(action: ActionRequest, decision: Decision) -> dict[str, Any] | None:
    """The arguments `action` runs with under `decision`; `None` when it does not run."""
    if decision["type"] == "approve":
        return action["args"]
    if decision["type"] == "edit":
        return decision["args"]
    return None


def args_digest(actions: list[ActionRequest], request_id: str = "", stage: str = "") -> str:
    """A SHA-256 hex digest binding the actions' names and arguments (key-order independent)
    to the pause that shows them."""
    canonical = json.dumps(
        {
            "request_id": request_id,
            "stage": stage,
            "actions": [{"name": a["name"], "args": a["args"]} for a in actions],
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_request(
    actions: list[ActionRequest],
    allowed: list[list[DecisionType]],
    *,
    request_id: str,
    stage: str,
    requested_by: str,
    decided_by: list[str],
    earlier_decisions: list[dict[str, Any]] | None = None,
) -> ApprovalRequest:
    """Assemble the interrupt value for `actions`, with `allowed[i]` the decisions for action i."""
    request = ApprovalRequest(
        action_requests=[ActionRequest(**action, arguments=action["args"]) for action in actions],
        review_configs=[
            ReviewConfig(action_name=action["name"], allowed_decisions=list(decisions))
            for action, decisions in zip(actions, allowed, strict=True)
        ],
        request_id=request_id,
        args_digest=args_digest(actions, request_id, stage),
        stage=stage,
        requested_by=requested_by,
        decided_by=decided_by,
        error=None,
    )
    if earlier_decisions is not None:
        request["earlier_decisions"] = earlier_decisions
    return request


RESPONSE_SCHEMA: dict[str, Any] = {
    "title": "ApprovalAnswer",
    "description": (
        "Answer one signoff approval request: a langchain decisions object, an Agent Inbox "
        "response list, or plain text ('approve'/'yes', 'reject'/'no', or feedback)."
    ),
    "anyOf": [
        {
            "title": "Decisions",
            "type": "object",
            "properties": {
                "decisions": {
                    "type": "array",
                    "description": "One decision per action request, in the same order.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string", "enum": list(DECISION_TYPES)},
                            "edited_action": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "args": {"type": "object"},
                                },
                                "required": ["name", "args"],
                            },
                            "message": {"type": "string"},
                        },
                        "required": ["type"],
                    },
                },
                "args_digest": {
                    "type": "string",
                    "description": "Optional: the request's args_digest, to refuse stale answers.",
                },
                "request_id": {
                    "type": "string",
                    "description": "Optional: the request's request_id, to refuse stale answers.",
                },
            },
            "required": ["decisions"],
        },
        {
            "title": "Agent Inbox responses",
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["accept", "edit", "response", "ignore"]},
                    "args": {},
                },
                "required": ["type"],
            },
        },
        {
            "title": "Plain answer",
            "type": "string",
            "description": "approve / approved / yes, reject / rejected / no, or feedback text.",
        },
    ],
}
"""JSON Schema handed to `interrupt(response_schema=...)` so Studio can render a typed form.

It is a dict on purpose: langgraph validates typed schemas and raises on a mismatch, which
would fail the run; signoff validates answers itself and pauses again instead.
"""
