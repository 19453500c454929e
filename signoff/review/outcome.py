"""What the single-action graphs share: how a request starts, and the account of what happened.

Every such graph's state extends `Outcome`, so final states read alike: `status`, `decision`,
`reviewers`, `reason`, `result` and the signed `audit` trail. Each graph's first node is
wrapped in `starts_request`: validate the input, clear the last outcome, record the
requester, or end the thread as `invalid` with the reason.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Annotated, Any, NotRequired, ParamSpec, TypedDict

from langgraph.config import get_config
from langgraph.types import Command
from pydantic import ValidationError

from signoff.governance.audit import AuditEntry, decision_entries
from signoff.governance.identity import run_identity
from signoff.governance.policy import RequestPolicy
from signoff.protocol.shapes import Decision, Status
from signoff.review.ask import Review


class Outcome(TypedDict):
    """What was decided, by whom, and what ran."""

    status: NotRequired[Status]
    """invalid (bad input, nothing asked), executed / sent (ran once), rejected, withdrawn (the
    requester took the request back), expired (nobody decided in time: `system` rejected it),
    or refused (no verified approval of exactly these arguments on the signed trail: nothing
    ran)."""

    decision: NotRequired[str]
    """The last decision: approve, edit, reject, withdraw or auto_approve."""

    requested_by: NotRequired[str]
    """The authenticated user who started the run that raised the request; never a field a
    client sends."""

    policy: NotRequired[RequestPolicy]
    """Who decides the request and how long it may wait, fixed when the request starts:
    whatever runs on the thread later, the request keeps it (`signoff.governance.policy`)."""

    reviewers: Annotated[list[str], operator.add]
    """Everyone who decided, in order (`system` for auto-approvals)."""

    reason: NotRequired[str | None]
    """Why it was rejected, withdrawn, invalid or refused."""

    result: NotRequired[dict[str, Any] | None]
    """What the execution returned (its ledger id and time)."""

    audit: Annotated[list[AuditEntry], operator.add]
    """Every decision, oldest first, signed and chained (`signoff.governance.audit`)."""


_FRESH_OUTCOME: dict[str, Any] = {"status": None, "decision": None, "reason": None, "result": None}
"""The outcome fields cleared when a thread takes a new request; the audit trail and the
reviewers stay, as the thread's history."""

UNIDENTIFIED = "unidentified"
"""`requested_by` of a request raised by a run without an identity (no auth configured,
in-process calls): every authorised approver may decide it."""


def requester() -> str:
    """Who raises a request now: the authenticated user of the running run."""
    identity = run_identity(get_config())
    return identity.user if identity else UNIDENTIFIED


class InvalidInput(ValueError):
    """A graph's input cannot be used; `str(error)` says why."""


P = ParamSpec("P")
Start = dict[str, Any] | Command


def starts_request(read_input: Callable[P, Start]) -> Callable[P, Start]:
    """A graph's first node, from `read_input`, which validates the input and returns the new
    request's state (an update, or a `Command` to the first step).

    The node also clears the last request's outcome and records the requester. When
    `read_input` raises `ValidationError` or `InvalidInput`, the thread ends as `invalid` with
    the reason instead: nothing is asked and nothing runs.
    """

    @functools.wraps(read_input)
    def start(*args: P.args, **kwargs: P.kwargs) -> Start:
        try:
            started = read_input(*args, **kwargs)
        except (ValidationError, InvalidInput) as error:
            return {**_FRESH_OUTCOME, "status": "invalid", "reason": str(error)}
        fresh = {**_FRESH_OUTCOME, "requested_by": requester()}
        if isinstance(started, Command):
            return Command(update={**fresh, **(started.update or {})}, goto=started.goto)
        return {**fresh, **started}

    return start


def review_entries(
    review: Review, trail: list[AuditEntry], call_id: str | None = None
) -> list[AuditEntry]:
    """The signed audit entries of `review`, following `trail` (for a tool call: `call_id`)."""
    return decision_entries(
        review.request,
        review.decisions,
        review.reviewer,
        trail,
        call_id=call_id,
        escalated_to=review.escalated_to,
        groups=review.groups,
        on_behalf_of=review.on_behalf_of,
        grant=review.grant,
    )


def record_review(review: Review, trail: list[AuditEntry]) -> dict[str, Any]:
    """The state update for a single-action review, its signed audit entries following
    `trail`; a rejection or withdrawal also sets status and reason. A vote of a quorum that
    does not decide the request yet (`review.partial`) records only the vote."""
    decision = review.decisions[0]
    update: dict[str, Any] = {
        "reviewers": [review.reviewer],
        "audit": review_entries(review, trail),
    }
    if review.partial:
        return update
    update["decision"] = decision["type"]
    stage = review.request["stage"]
    if review.expired:
        update |= {"status": "expired", "reason": "expired"}
    elif decision["type"] == "reject":
        reason = _message(decision) or f"rejected at stage {stage!r} without a reason"
        update |= {"status": "rejected", "reason": reason}
    elif review.withdrawn:
        reason = _message(decision) or f"withdrawn by {review.reviewer} at stage {stage!r}"
        update |= {"status": "withdrawn", "reason": reason}
    return update


def finished(update: dict[str, Any]) -> bool:
    """Whether a review's update ends the request (rejected, withdrawn or expired)."""
    return update.get("status") in ("rejected", "withdrawn", "expired")


def _message(decision: Decision) -> str | None:
    """The reviewer's words with `decision`, if any."""
    message = decision.get("message")
    return message if isinstance(message, str) and message else None
