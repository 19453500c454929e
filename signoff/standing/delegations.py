"""Making and revoking delegations (`signoff.governance.delegation.Delegation`): pure rules.

A delegator delegates for themselves only, to another person, for a period that ends within
`MAX_DAYS`; the delegation records the delegator's groups at that moment (what the delegate
may decide as), and is signed by the server (scope "delegation"), so one signed as a grant
never passes as a delegation. Revoking: the delegator, or an admin.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

from signoff.clock import parse, stamp
from signoff.governance.delegation import Delegation, is_live
from signoff.governance.identity import Identity
from signoff.protocol.bounds import OutOfBounds, check_bounds, shown
from signoff.settings import duration_seconds
from signoff.standing.grants import MAX_NAME, Refused, period_refusal
from signoff.standing.signing import sign, verifies


class DelegationSpec(TypedDict, total=False):
    """What a delegator asks for (the API's body): the `delegate`, and the end of the period
    as `ends_at` (ISO 8601) or `ends_in` (a duration: "7d"); `starts_at` (default: now)."""

    delegate: str
    starts_at: str
    ends_at: str
    ends_in: str | float


SPEC_FIELDS = frozenset(DelegationSpec.__annotations__)


def delegation_refusal(delegator: Identity, spec: Any, now: datetime) -> str | None:
    """Why `delegator` may not delegate as `spec` asks at `now`, or `None` if they may."""
    if not isinstance(spec, Mapping):
        return "A delegation is a JSON object: delegate, and ends_at or ends_in."
    try:
        check_bounds(dict(spec), "delegation")
    except OutOfBounds as error:
        return str(error)
    if unknown := sorted(set(spec) - SPEC_FIELDS):
        return f"A delegation has no fields {unknown}; it may have {sorted(SPEC_FIELDS)}."
    delegate = spec.get("delegate")
    if not isinstance(delegate, str) or not 0 < len(delegate.strip()) <= MAX_NAME:
        return "A delegation names its `delegate`: the user who decides on your behalf."
    if delegate.strip() == delegator.user:
        return (
            f"{delegator.user} may not delegate to themselves; name another person as the "
            "delegate, who decides on your behalf while it lasts."
        )
    starts = _start(spec, now)
    if starts is None:
        given = shown(spec["starts_at"])
        return f"A delegation's `starts_at` is ISO 8601 with a time zone, not {given}."
    both = spec.get("ends_at") is not None and spec.get("ends_in") is not None
    ends = None if both else _end(spec, starts)
    how = "`ends_at` (ISO 8601 with a time zone) or `ends_in` (e.g. 7d)"
    if refusal := period_refusal("A delegation", ends, now, how):
        return refusal
    if ends is not None and starts >= ends:
        return "A delegation's `starts_at` comes before its end."
    if starts < now - timedelta(minutes=5):
        return "A delegation starts now or later, never in the past."
    return None


def new_delegation(delegator: Identity, spec: Any, now: datetime) -> Delegation:
    """The signed delegation `delegator` makes of `spec` at `now`; `Refused` (422) when
    `delegation_refusal` says why not."""
    if refusal := delegation_refusal(delegator, spec, now):
        raise Refused(422, refusal)
    starts = _start(spec, now) or now
    ends = _end(spec, starts) or now
    delegation = Delegation(
        id=str(uuid.uuid4()),
        delegator=delegator.user,
        delegate=spec["delegate"].strip(),
        groups=sorted(delegator.groups),
        starts_at=stamp(starts),
        ends_at=stamp(ends),
        created_at=stamp(now),
        revoked_at=None,
        revoked_by=None,
        signature="",
    )
    return sign(delegation, "delegation")


def revoked_delegation(delegation: Delegation, by: str, now: datetime) -> Delegation:
    """`delegation`, revoked by `by` at `now`, signed again (a revoked one as it is)."""
    if delegation.get("revoked_at"):
        return delegation
    changed = Delegation(**{**delegation, "revoked_at": stamp(now), "revoked_by": by})
    return sign(changed, "delegation")


def genuine(delegation: Any) -> bool:
    """Whether `delegation` is signed by this server as a delegation."""
    return verifies(delegation, "delegation")


def live_delegation(delegation: Any, at: datetime | None = None) -> bool:
    """Whether `delegation` is genuine and lets its delegate decide now (or `at`)."""
    return genuine(delegation) and is_live(delegation, at)


def _start(spec: Mapping[str, Any], now: datetime) -> datetime | None:
    return now if spec.get("starts_at") is None else parse(spec["starts_at"])


def _end(spec: Mapping[str, Any], starts: datetime) -> datetime | None:
    if spec.get("ends_in") is not None:
        try:
            return starts + timedelta(seconds=duration_seconds(spec["ends_in"]))
        except (ValueError, OverflowError):
            return None
    return parse(spec.get("ends_at"))
