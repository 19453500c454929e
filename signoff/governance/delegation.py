"""Delegation: a decider lends their right to decide to another person for a while.

While bob is away, dave decides the refunds bob would decide: bob records a `Delegation` to
dave (`signoff delegate`, kept signed in the deployment's store by `signoff.standing`). Until
it ends, dave may decide as himself or on behalf of bob, with the groups bob had when he
delegated (`acting_as`). The audit entry names dave as the reviewer and bob in
`on_behalf_of`.

Delegation never widens four-eyes (`signoff.governance.policy`): neither the delegate nor the
person they stand in for may decide a request either of them raised, a second stage of one
chain, or a second vote on one request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from signoff import clock
from signoff.clock import parse
from signoff.governance.identity import Identity


class Delegation(TypedDict):
    """One person's right to decide, lent to another for a period; signed by the server."""

    id: str
    delegator: str
    """Who lends their right (the user who recorded the delegation)."""
    delegate: str
    """Who may use it."""
    groups: list[str]
    """The delegator's groups when they delegated: what the delegate may decide as."""
    starts_at: str
    ends_at: str
    """ISO 8601, UTC: the delegate may decide on the delegator's behalf in between."""
    created_at: str
    revoked_at: str | None
    revoked_by: str | None
    signature: str


@dataclass(frozen=True)
class Acting:
    """Someone deciding: as themselves, or on behalf of a delegator with that one's groups."""

    user: str
    groups: frozenset[str]
    on_behalf_of: str | None = None

    @property
    def people(self) -> frozenset[str]:
        """Everyone whose right this decision uses."""
        return frozenset(p for p in (self.user, self.on_behalf_of) if p)


def is_live(delegation: Delegation, at: datetime | None = None) -> bool:
    """Whether `delegation` lets its delegate decide now (or `at`)."""
    moment = at or clock.now()
    starts, ends = parse(delegation.get("starts_at")), parse(delegation.get("ends_at"))
    return (
        not delegation.get("revoked_at")
        and starts is not None
        and ends is not None
        and starts <= moment < ends
    )


def standing_in(delegations: Iterable[Delegation], at: datetime | None = None) -> frozenset[str]:
    """The groups of everyone whose live delegation (now, or `at`) is among `delegations`:
    what their delegate may see (`Identity.stands_in`)."""
    return frozenset(
        group
        for delegation in delegations
        if is_live(delegation, at)
        for group in delegation["groups"]
    )


def acting_as(
    identity: Identity, delegations: Iterable[Delegation], at: datetime | None = None
) -> list[Acting]:
    """The ways `identity` may decide now: as themselves first, then on behalf of each
    person whose live delegation names them."""
    options = [Acting(identity.user, identity.groups)]
    for delegation in delegations:
        if delegation.get("delegate") == identity.user and is_live(delegation, at):
            options.append(
                Acting(identity.user, frozenset(delegation["groups"]), delegation["delegator"])
            )
    return options
