""" "Approve, and allow the same for …": a standing grant offered beside an approval.

Someone who may approve a request alone (its need asks one approval, from a group of
theirs) may, in the same form, grant approval in advance for requests like it: the same rule,
each argument at most what this one asks (numbers) or exactly what it asks (everything
else), for its requester or for anyone, a number of times, for some days. The inbox shows
those constraints before anything is granted; the grant is made by
`signoff.server.standing_api.create_grant_as` after the approval is accepted, and refused
there (with the reason) if it would be wider than its grantor may decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from signoff.governance.identity import Identity
from signoff.governance.requirements import approvals_needed, deciders_of
from signoff.protocol.shapes import ApprovalRequest
from signoff.standing.grants import Constraint, GrantSpec, describe_constraints

DEFAULT_USES = 5
DEFAULT_DAYS = 7
MAX_DAYS = 90


@dataclass(frozen=True)
class GrantOffer:
    """What "allow the same" would grant for one request."""

    rule: str
    constraints: dict[str, Constraint]
    requester: str

    @property
    def described(self) -> str:
        """The constraints in words, as the form shows them."""
        return describe_constraints(self.constraints)


def grant_offer(identity: Identity, request: ApprovalRequest) -> GrantOffer | None:
    """The grant `identity` could add to an approval of `request`, or `None` when they could
    not decide such requests alone (or the request is not one grants cover)."""
    need, rule = request.get("need"), request.get("rule")
    if not need or not rule or len(request["action_requests"]) != 1:
        return None
    if need["outcome"] != "approve" or approvals_needed(need) != 1:
        return None
    if not identity.groups & set(deciders_of(need)):
        return None
    args = request["action_requests"][0]["args"]
    return GrantOffer(rule, same_terms(args), request["requested_by"])


def same_terms(args: Mapping[str, Any]) -> dict[str, Constraint]:
    """Constraints allowing requests like one with `args`: numbers up to this one's, every
    other argument exactly as it is."""
    return {
        name: Constraint(max=value)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else Constraint(eq=value)
        for name, value in args.items()
    }


def spec_from_form(offer: GrantOffer, posted: Mapping[str, str]) -> GrantSpec:
    """The grant the approve form asked for (`grant_uses`, `grant_days`, `grant_for`), with
    out-of-range numbers brought to the nearest allowed value."""
    uses = _whole(posted.get("grant_uses"), DEFAULT_USES, 1, 1000)
    days = _whole(posted.get("grant_days"), DEFAULT_DAYS, 1, MAX_DAYS)
    anyone = posted.get("grant_for") == "anyone"
    return GrantSpec(
        rule=offer.rule,
        constraints=offer.constraints,
        covers={} if anyone else {"requester": offer.requester},
        uses=uses,
        expires_in=f"{days}d",
        note="granted with an approval in the inbox",
    )


def _whole(text: str | None, default: int, low: int, high: int) -> int:
    value = int(text) if text and text.strip().isdigit() and len(text) < 7 else default
    return min(max(value, low), high)
