"""Granting, listing and revoking grants and delegations as a signed-in person: what the API
(`signoff.server.standing_api`), the inbox and the CLI (through the API) do. Async, on the
server's store; every refusal is a `Refused` with an HTTP status and a sentence saying what
would be allowed. Each change is audited (`signoff.standing.store.arecord_event`).

Who sees what:

- a grant: its grantor, the requester it covers, the members of the groups that decide its
  rule (`signoff.governance.policy.deciders_for`), and admins;
- a delegation: its delegator, its delegate, and admins.

Only the grantor (the delegator) or an admin revokes; revoking takes effect at the next
request, since every use reads the grant again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from langgraph.store.base import BaseStore

from signoff import clock
from signoff.governance.delegation import Delegation, is_live
from signoff.governance.identity import Identity
from signoff.governance.policy import deciders_for, is_admin
from signoff.standing.delegations import new_delegation, revoked_delegation
from signoff.standing.grants import (
    Budget,
    Grant,
    Refused,
    budget_left,
    liveness_refusal,
    new_grant,
    revocation_refusal,
    revoked,
)
from signoff.standing.store import (
    aall_delegations,
    aall_grants,
    aclaims_of,
    aput_delegation,
    aput_grant,
    arecord_event,
)

State = Literal["live", "revoked", "expired"]


class GrantView(Grant):
    """A grant as listed: with its `state` and what is left of its budget."""

    state: State
    left: Budget


class DelegationView(Delegation):
    """A delegation as listed: with its `state` (`live`, `revoked`, `ended` or `planned`)."""

    state: str


async def create_grant(
    store: BaseStore, grantor: Identity, spec: Any, now: datetime | None = None
) -> GrantView:
    """`grantor` grants `spec` (`signoff.standing.grants.GrantSpec`); `Refused` says why not."""
    moment = now or clock.now()
    grant = new_grant(grantor, spec, moment)
    await aput_grant(store, grant)
    await arecord_event(store, "grant.created", grantor.user, grant, moment)
    return await _grant_view(store, grant, moment)


async def list_grants(
    store: BaseStore, viewer: Identity, include_ended: bool = False, now: datetime | None = None
) -> list[GrantView]:
    """The grants `viewer` may see (live only, unless `include_ended`), newest first."""
    moment = now or clock.now()
    views = []
    for grant in await aall_grants(store):
        if not may_see_grant(viewer, grant):
            continue
        if include_ended or liveness_refusal(grant, moment) is None:
            views.append(await _grant_view(store, grant, moment))
    return sorted(views, key=lambda view: (view["created_at"], view["id"]), reverse=True)


async def revoke_grant(
    store: BaseStore, identity: Identity, grant_id: str, now: datetime | None = None
) -> GrantView:
    """`identity` revokes grant `grant_id` (its grantor or an admin); `Refused`: 404 for a
    grant they may not see, 403 for one they may see but not revoke."""
    moment = now or clock.now()
    found = [g for g in await aall_grants(store, {"id": grant_id}) if g["id"] == grant_id]
    if not found or not may_see_grant(identity, found[0]):
        raise Refused(
            404,
            f"There is no grant {grant_id!r} that {identity.user} may see; `signoff grants` "
            "(GET /signoff/grants) lists those they may.",
        )
    grant = found[0]
    if refusal := revocation_refusal(identity, grant["granted_by"], f"grant {grant_id}"):
        raise Refused(403, refusal)
    if not grant.get("revoked_at"):
        grant = revoked(grant, identity.user, moment)
        await aput_grant(store, grant)
        await arecord_event(store, "grant.revoked", identity.user, grant, moment)
    return await _grant_view(store, grant, moment)


def may_see_grant(viewer: Identity, grant: Grant) -> bool:
    """Whether `viewer` may see `grant`: its grantor, the requester it covers, a decider of
    its rule, or an admin."""
    return (
        viewer.user in (grant["granted_by"], (grant.get("covers") or {}).get("requester"))
        or bool(viewer.groups & set(deciders_for(grant["rule"])))
        or is_admin(viewer)
    )


async def create_delegation(
    store: BaseStore, delegator: Identity, spec: Any, now: datetime | None = None
) -> DelegationView:
    """`delegator` delegates as `spec` asks (`signoff.standing.delegations.DelegationSpec`);
    `Refused` says why not."""
    moment = now or clock.now()
    delegation = new_delegation(delegator, spec, moment)
    await aput_delegation(store, delegation)
    await arecord_event(store, "delegation.created", delegator.user, delegation, moment)
    return _delegation_view(delegation, moment)


async def list_delegations(
    store: BaseStore, viewer: Identity, include_ended: bool = False, now: datetime | None = None
) -> list[DelegationView]:
    """The delegations `viewer` may see (live or planned, unless `include_ended`)."""
    moment = now or clock.now()
    views = [
        _delegation_view(d, moment)
        for d in await aall_delegations(store)
        if may_see_delegation(viewer, d)
    ]
    if not include_ended:
        views = [view for view in views if view["state"] in ("live", "planned")]
    return sorted(views, key=lambda view: (view["created_at"], view["id"]), reverse=True)


async def revoke_delegation(
    store: BaseStore, identity: Identity, delegation_id: str, now: datetime | None = None
) -> DelegationView:
    """`identity` revokes delegation `delegation_id` (its delegator or an admin)."""
    moment = now or clock.now()
    found = [
        d for d in await aall_delegations(store, {"id": delegation_id}) if d["id"] == delegation_id
    ]
    if not found or not may_see_delegation(identity, found[0]):
        raise Refused(
            404,
            f"There is no delegation {delegation_id!r} that {identity.user} may see; "
            "`signoff delegations` (GET /signoff/delegations) lists those they may.",
        )
    delegation = found[0]
    what = f"delegation {delegation_id}"
    if refusal := revocation_refusal(identity, delegation["delegator"], what):
        raise Refused(403, refusal)
    if not delegation.get("revoked_at"):
        delegation = revoked_delegation(delegation, identity.user, moment)
        await aput_delegation(store, delegation)
        await arecord_event(store, "delegation.revoked", identity.user, delegation, moment)
    return _delegation_view(delegation, moment)


def may_see_delegation(viewer: Identity, delegation: Delegation) -> bool:
    """Whether `viewer` may see `delegation`: its delegator, its delegate, or an admin."""
    return viewer.user in (delegation["delegator"], delegation["delegate"]) or is_admin(viewer)


async def _grant_view(store: BaseStore, grant: Grant, now: datetime) -> GrantView:
    state: State = "live"
    if grant.get("revoked_at"):
        state = "revoked"
    elif liveness_refusal(grant, now):
        state = "expired"
    left = budget_left(grant, await aclaims_of(store, grant["id"]))
    left = Budget(  # claims not yet settled may count for a moment beyond what is left
        uses=None if left["uses"] is None else max(left["uses"], 0),
        total=None if left["total"] is None else max(left["total"], 0.0),
    )
    return GrantView(**grant, state=state, left=left)


def _delegation_view(delegation: Delegation, now: datetime) -> DelegationView:
    state = "live" if is_live(delegation, now) else "revoked" if delegation["revoked_at"] else ""
    if not state:
        state = "planned" if now < (clock.parse(delegation["starts_at"]) or now) else "ended"
    return DelegationView(**delegation, state=state)
