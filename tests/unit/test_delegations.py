"""Delegations, in process on a real `InMemoryStore`: who may delegate what, that only signed
delegations are read back, who revokes, and when one is live."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.store.memory import InMemoryStore

from signoff.clock import stamp
from signoff.governance.delegation import Delegation, acting_as, is_live
from signoff.standing import manage
from signoff.standing.delegations import (
    delegation_refusal,
    live_delegation,
    new_delegation,
    revoked_delegation,
)
from signoff.standing.grants import Refused
from signoff.standing.store import DELEGATIONS, adelegations_for, delegations_for
from tests.property_settings import EXAMPLES
from tests.unit.test_grants import ALICE, BOB, DAVE, ERIN

NOW = datetime.now(UTC).replace(microsecond=0)


def test_bob_delegates_to_dave_with_the_groups_he_has_now():
    delegation = new_delegation(BOB, {"delegate": DAVE.user, "ends_in": "7d"}, NOW)
    assert delegation["delegator"] == BOB.user and delegation["delegate"] == DAVE.user
    assert delegation["groups"] == ["managers", "support-leads", "users"]
    assert delegation["starts_at"] == stamp(NOW)
    assert delegation["ends_at"] == stamp(NOW + timedelta(days=7))
    assert live_delegation(delegation, NOW + timedelta(days=1))
    [as_himself, for_bob] = acting_as(DAVE, [delegation], NOW + timedelta(days=1))
    assert for_bob.on_behalf_of == BOB.user and "support-leads" in for_bob.groups


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"delegate": BOB.user, "ends_in": "1d"}, "may not delegate to themselves"),
        ({"ends_in": "1d"}, "names its `delegate`"),
        ({"delegate": DAVE.user}, "needs one end"),
        ({"delegate": DAVE.user, "ends_in": "91d"}, "at most 90 days"),
        ({"delegate": DAVE.user, "ends_at": stamp(NOW - timedelta(days=1))}, "future"),
        ({"delegate": DAVE.user, "ends_in": "1d", "starts_at": "soon"}, "ISO 8601"),
        (
            {"delegate": DAVE.user, "ends_in": "2d", "starts_at": stamp(NOW - timedelta(days=1))},
            "never in the past",
        ),
        ({"delegate": DAVE.user, "ends_in": "1d", "groups": ["signoff-admins"]}, "no fields"),
    ],
)
def test_delegations_nobody_may_make_are_refused_saying_what_would_be_allowed(spec, says):
    refusal = delegation_refusal(BOB, spec, NOW)
    assert refusal is not None and says in refusal, refusal
    with pytest.raises(Refused):
        new_delegation(BOB, spec, NOW)


def test_only_signed_delegations_are_read_back_and_only_the_delegator_or_an_admin_revokes():
    store = InMemoryStore()

    async def scenario() -> None:
        made = await manage.create_delegation(store, BOB, {"delegate": DAVE.user, "ends_in": "7d"})
        assert made["state"] == "live"
        forged = {**new_delegation(ALICE, {"delegate": DAVE.user, "ends_in": "1d"}, NOW)}
        forged["groups"] = ["signoff-admins"]
        await store.aput(DELEGATIONS, forged["id"], forged)
        assert [d["id"] for d in delegations_for(store, DAVE.user)] == [made["id"]]
        assert [d["id"] for d in await adelegations_for(store, DAVE.user)] == [made["id"]]
        assert delegations_for(store, ALICE.user) == []
        assert [d["id"] for d in await manage.list_delegations(store, DAVE)] == [made["id"]]
        assert await manage.list_delegations(store, ALICE) == []
        with pytest.raises(Refused) as refused:
            await manage.revoke_delegation(store, ALICE, made["id"])
        assert refused.value.status == 404
        with pytest.raises(Refused) as refused:
            await manage.revoke_delegation(store, DAVE, made["id"])
        assert refused.value.status == 403 and "only bob@signoff.local" in refused.value.detail
        gone = await manage.revoke_delegation(store, ERIN, made["id"])
        assert gone["state"] == "revoked" and gone["revoked_by"] == ERIN.user
        [kept] = delegations_for(store, DAVE.user)  # revoked, still read back (and not live)
        assert not live_delegation(kept)
        assert len(acting_as(DAVE, delegations_for(store, DAVE.user))) == 1
        events = await store.asearch(("signoff", "standing_audit"))
        assert sorted(e.value["what"] for e in events) == [
            "delegation.created",
            "delegation.revoked",
        ]

    asyncio.run(scenario())


@EXAMPLES
@given(
    starts_in=st.integers(0, 5 * 24),
    lasts=st.integers(1, 10 * 24),
    at=st.integers(-24, 20 * 24),
    revoke=st.booleans(),
    forge=st.booleans(),
)
def test_a_delegation_is_live_exactly_in_its_period_unless_revoked_or_forged(
    starts_in, lasts, at, revoke, forge
):
    starts = NOW + timedelta(hours=starts_in)
    spec = {"delegate": DAVE.user, "starts_at": stamp(starts), "ends_in": lasts * 3600}
    delegation: Delegation = new_delegation(BOB, spec, NOW)
    if revoke:
        delegation = revoked_delegation(delegation, BOB.user, NOW)
    if forge:
        delegation = Delegation(**{**delegation, "ends_at": stamp(NOW + timedelta(days=365))})
    moment = NOW + timedelta(hours=at)
    inside = starts <= moment < starts + timedelta(hours=lasts)
    assert live_delegation(delegation, moment) == (inside and not revoke and not forge)
    assert is_live(delegation, moment) == (inside and not revoke) or forge
    delegates = len(acting_as(DAVE, [delegation], moment)) == 2
    assert delegates == (inside and not revoke) or forge
