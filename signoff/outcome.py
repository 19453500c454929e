"""The plain account of what happened, shared by the single-action graphs.

Every such graph's state extends `Outcome`, so final states read alike: `status`, `decision`,
`reviewers`, `reason`, `result` and the `audit` trail.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from signoff import ledger
from signoff.approval import Review
from signoff.audit import AuditEntry
from signoff.idempotency import idempotency_key

Status = Literal["invalid", "executed", "sent", "rejected", "refused"]
APPROVALS = ("approve", "edit", "auto_approve")


class Outcome(TypedDict):
    """What was decided, by whom, and what ran."""

    status: NotRequired[Status]
    """invalid (bad input, nothing asked), executed / sent (ran once), rejected, or refused
    (no approval of exactly these arguments on record: nothing ran)."""

    decision: NotRequired[str]
    """The last decision: approve, edit, reject or auto_approve."""

    reviewers: Annotated[list[str], operator.add]
    """Everyone who decided, in order (`system` for auto-approvals)."""

    reason: NotRequired[str | None]
    """Why it was rejected or invalid."""

    result: NotRequired[dict[str, Any] | None]
    """What the execution returned (its ledger id and time)."""

    audit: Annotated[list[AuditEntry], operator.add]
    """Every decision, oldest first."""


FRESH_OUTCOME: dict[str, Any] = {"status": None, "decision": None, "reason": None, "result": None}
"""The per-run outcome fields cleared when a thread takes a new request; the audit trail and
the reviewers stay, as the thread's history."""


def record_review(review: Review) -> dict[str, Any]:
    """The state update for a single-action review; a rejection also sets status and reason."""
    decision = review.decisions[0]
    update: dict[str, Any] = {
        "decision": decision["type"],
        "reviewers": [review.reviewer],
        "audit": review.audit_entries(),
    }
    if decision["type"] == "reject":
        stage = review.request["stage"]
        reason = decision.get("message") or f"rejected at stage {stage!r} without a reason"
        update |= {"status": "rejected", "reason": reason}
    return update


def approval_of(
    decisions: list[AuditEntry], action: str, args: dict[str, Any]
) -> AuditEntry | None:
    """The latest decision on `action` if it approved exactly `args`, else `None`."""
    latest = next((entry for entry in reversed(decisions) if entry["action"] == action), None)
    if latest is None or latest["decision"] not in APPROVALS or latest["args_after"] != args:
        return None
    return latest


def execute_once(
    kind: str,
    details: dict[str, Any],
    decisions: list[AuditEntry],
    status: Status = "executed",
) -> dict[str, Any]:
    """Run the approved operation through the ledger and report it; call from a node that
    never pauses. Refuses unless `decisions` approve exactly `details` (a state edit that
    jumps past the review cannot run anything). The ledger key is derived from the thread,
    the approved request and the action, so a retry after a crash executes nothing new."""
    approval = approval_of(decisions, kind, details)
    if approval is None:
        return refused(f"no approval of these exact arguments for {kind!r} is on record")
    if not approval.get("request_id"):
        return refused(f"the approval of {kind!r} names no request, so it cannot be run once")
    key = idempotency_key(approval["request_id"], kind)
    entry = ledger.execute(kind, details, key)
    return {"status": status, "result": {"ledger_id": entry["id"], "at": entry["at"]}}


def refused(reason: str) -> dict[str, Any]:
    """The update for an execution that ran nothing, and why."""
    return {"status": "refused", "reason": reason, "result": None}
