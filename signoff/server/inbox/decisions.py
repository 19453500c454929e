"""What the signed-in user may do with a pending request, and the answer a posted form makes.

The inbox offers a decision only if the request allows it for every action it shows (`edit`
and `respond` only for a request of one action) and the policy lets this user decide it;
`withdraw` only to its requester and admins. When the user may not decide, the page says why,
in the policy's own words (which name who may). Offering is a courtesy: the server's auth and
the review node check every answer again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from signoff.client.answering import Refused
from signoff.client.pending_requests import PendingRequest
from signoff.governance.delegation import Delegation
from signoff.governance.identity import Identity
from signoff.governance.policy import decision_refusal
from signoff.protocol.shapes import DECISION_TYPES, WITHDRAW, AnswerType, ApprovalRequest
from signoff.server.inbox.forms import FormField, edit_fields, edited_args
from signoff.server.inbox.grant_offer import GrantOffer, grant_offer

ARG_PREFIX = "arg."
"""Edit-form inputs are named `arg.<argument>`."""


@dataclass(frozen=True)
class RequestView:
    """A pending request as one user sees it."""

    pending: PendingRequest
    offers: list[AnswerType]
    """The answers this user may give, in the grammar's order."""
    refusal: str | None
    """Why this user may not decide it, or `None` if they may."""
    fields: list[FormField]
    """The edit form's fields (empty unless `edit` is offered)."""
    grant: GrantOffer | None = None
    """The standing grant this user may add to an approval ("allow the same for …")."""

    @property
    def request(self) -> ApprovalRequest:
        """The request, as the thread shows it."""
        return self.pending.request


def request_view(
    identity: Identity,
    pending: PendingRequest,
    posted: dict[str, str] | None,
    delegations: Sequence[Delegation] = (),
) -> RequestView:
    """What `identity` (who may stand in for others by `delegations`) sees of `pending`;
    `posted` (a refused form) refills the edit form. A user whose approval no open quota
    needs is offered rejecting only, and told why."""
    request = pending.request
    refusal = decision_refusal(identity, request, delegations=delegations)
    offers: list[AnswerType] = [] if refusal else list(_allowed(pending))
    if not refusal and (
        approving := decision_refusal(identity, request, approving=True, delegations=delegations)
    ):
        offers, refusal = [o for o in offers if o not in ("approve", "edit")], approving
    if decision_refusal(identity, request, withdrawing=True) is None:
        offers.append(WITHDRAW)
    mine = posted if posted and posted.get("request_id") == pending.request_id else None
    fields = (
        edit_fields(request["action_requests"][0], _args_posted(mine) if mine else None)
        if "edit" in offers
        else []
    )
    grant = grant_offer(identity, request) if "approve" in offers else None
    return RequestView(pending, offers, refusal, fields, grant)


def answer_from_form(decision: str, view: RequestView, posted: dict[str, str]) -> dict[str, Any]:
    """The answer a decide form posted, in the grammar's langchain form; `Refused` for a
    decision this user is not offered, naming what they may do and why not (the policy's
    words, as the server's auth would refuse it)."""
    if decision not in view.offers:
        offered = ", ".join(view.offers) or "nothing"
        refused = f"{decision!r} is not offered to you for this request; you may: {offered}."
        raise Refused(f"{refused} {view.refusal}" if view.refusal else refused)
    message = posted.get("message", "").strip()
    if decision == WITHDRAW:
        return {"type": WITHDRAW, **({"message": message} if message else {})}
    actions = view.pending.request["action_requests"]
    if decision == "edit":
        args = edited_args(view.fields, _args_posted(posted))
        return {
            "decisions": [
                {"type": "edit", "edited_action": {"name": actions[0]["name"], "args": args}}
            ]
        }
    item = {"type": decision, **({"message": message} if message else {})}
    return {"decisions": [item] * len(actions)}


def _allowed(pending: PendingRequest) -> list[AnswerType]:
    configs = pending.request["review_configs"]
    single = len(configs) == 1
    return [
        decision
        for decision in DECISION_TYPES
        if all(decision in config["allowed_decisions"] for config in configs)
        and (single or decision in ("approve", "reject"))
    ]


def _args_posted(posted: dict[str, str]) -> dict[str, str]:
    return {
        name.removeprefix(ARG_PREFIX): value
        for name, value in posted.items()
        if name.startswith(ARG_PREFIX)
    }
