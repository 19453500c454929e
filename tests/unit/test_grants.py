"""Standing approvals (grants), in process on a real `InMemoryStore`: who may grant what, what
a grant covers, and budgets spent exactly once.

Properties: a grant never approves anything outside its constraints; budgets are never
overspent under any interleaving of concurrent claimants (hypothesis picks the order of every
store read and write, and claimants that stop half-way and replay); revoked, expired and
forged grants never cover; nobody's grant covers their own request.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.store.memory import InMemoryStore

from signoff.client.standing_commands import (
    BadOption,
    add_standing_commands,
    constraints_of,
    grant_spec,
)
from signoff.clock import stamp
from signoff.conditions import Facts
from signoff.governance.identity import Identity
from signoff.governance.requirements import need_for
from signoff.protocol.shapes import Need
from signoff.standing import manage
from signoff.standing.grants import (
    Claim,
    Grant,
    Refused,
    budget_left,
    constraint_refusal,
    coverage_refusal,
    grant_refusal,
    new_grant,
    revoked,
)
from signoff.standing.signing import sign
from signoff.standing.store import (
    claim,
    claims_of,
    grants_namespace,
    use_grant,
    uses_namespace,
)
from tests.property_settings import EXAMPLES

NOW = datetime.now(UTC).replace(microsecond=0)
"""Grants made in these tests start now: `use_grant` checks them at the clock's time."""
ALICE = Identity("alice@signoff.local", frozenset({"users"}))
BOB = Identity("bob@signoff.local", frozenset({"users", "managers", "support-leads"}))
CAROL = Identity("carol@signoff.local", frozenset({"users", "security", "data-engineers"}))
DAVE = Identity("dave@signoff.local", frozenset({"users", "managers", "security"}))
ERIN = Identity("erin@signoff.local", frozenset({"users", "signoff-admins"}))
FRANK = Identity("frank@signoff.local", frozenset({"users", "finance"}))
CONTEXT = {"auto_approve_limit": 1000, "review_targets": []}


def facts(amount: Any = 5000, target: str = "acct-9", requester: str = ALICE.user) -> Facts:
    return Facts(
        args={"amount": amount, "target": target},
        action="payment",
        graph="approve_reject",
        stage="review",
        requester=requester,
        groups=["users"],
        context=CONTEXT,
        now=NOW,
    )


def need_of(request: Facts) -> Need:
    return need_for("approve_reject", request)


def payment_grant(grantor: Identity = BOB, **spec: Any) -> Grant:
    return new_grant(
        grantor,
        {"rule": "approve_reject", "covers": {}, "expires_in": "7d", **spec},
        NOW,
    )


def covers(grant: Grant, request: Facts, at: datetime = NOW, thread: str = "t1") -> str | None:
    return coverage_refusal(
        grant, rule="approve_reject", facts=request, need=need_of(request), thread_id=thread, now=at
    )


# ---------------------------------------------------------------- who may grant what


def test_a_manager_grants_payments_and_the_grant_is_signed_and_recorded_with_their_groups():
    grant = payment_grant(constraints={"amount": {"max": 5000}}, uses=3, note="release week")
    assert grant["granted_by"] == BOB.user and "managers" in grant["groups"]
    assert grant["uses"] == 3 and grant["expires_at"] == stamp(NOW + timedelta(days=7))
    assert covers(grant, facts(5000)) is None


@pytest.mark.parametrize(
    ("grantor", "spec", "status", "says"),
    [
        (ALICE, {}, 403, "only a member of managers decides its requests alone"),
        (FRANK, {}, 403, "only a member of managers decides its requests alone"),
        (BOB, {"covers": {"requester": BOB.user}}, 422, "never its grantor"),
        (BOB, {"expires_in": "91d"}, 422, "at most 90 days"),
        (BOB, {"expires_in": None, "expires_at": "2026-05-01T00:00:00+00:00"}, 422, "future"),
        (BOB, {"uses": 0}, 422, "whole number from 1"),
        (BOB, {"uses": 2, "single_use": True}, 422, "single-use grant has `uses` 1"),
        (BOB, {"total": {"arg": "amount", "max": -5}}, 422, "number above 0"),
        (BOB, {"constraints": {"amount": {"min": 10, "max": 1}}}, 422, "min <= max"),
        (BOB, {"constraints": {"amount": {"like": "5%"}}}, 422, '{"eq": value}'),
        (BOB, {"constraints": {"target": {"in": []}}}, 422, "`in` lists 1 to 100"),
        (BOB, {"covers": {"requester": "a", "graph": "b"}}, 422, "one of `requester`"),
        (BOB, {"surprise": 1}, 422, "no fields ['surprise']"),
        (BOB, {"constraints": {"amount": {"eq": "x" * 70_000}}}, 422, "larger than"),
    ],
)
def test_grants_nobody_may_make_are_refused_saying_what_would_be_allowed(
    grantor, spec, status, says
):
    with pytest.raises(Refused) as refused:
        payment_grant(grantor, **spec)
    assert refused.value.status == status and says in refused.value.detail, refused.value.detail


def test_a_rule_no_listed_group_decides_takes_grants_from_admins_and_tools_match_by_either_name():
    spec = {"rule": "new_tool", "covers": {}, "expires_in": "1d"}
    assert "only a member of signoff-admins" in (grant_refusal(BOB, spec, NOW) or "")
    assert grant_refusal(ERIN, spec, NOW) is None
    refund = new_grant(
        BOB, {"rule": "main__support__issue_refund", "covers": {}, "expires_in": "1d"}, NOW
    )
    assert grants_namespace("main.support.issue_refund") == grants_namespace(refund["rule"])


# ---------------------------------------------------------------- what a grant covers


def test_only_the_requests_a_grant_names_are_covered():
    grant = payment_grant(
        constraints={"amount": {"min": 100, "max": 5000}, "target": {"in": ["acct-9", "acct-7"]}},
        covers={"requester": ALICE.user},
    )
    assert covers(grant, facts(5000, "acct-7")) is None
    assert "outside" in (covers(grant, facts(5001)) or "")
    for odd in ("5000", True, None, math.nan):  # never a number: outside
        assert "outside" in (constraint_refusal(grant, facts(odd)["args"]) or "")
        assert covers(grant, facts(odd)) is not None
    assert "outside" in (covers(grant, facts(4000, "acct-1")) or "")
    assert "covers only requester" in (covers(grant, facts(requester=DAVE.user)) or "")
    no_target = facts()
    del no_target["args"]["target"]
    assert "missing" in (covers(grant, no_target) or "")
    thread = payment_grant(covers={"thread": "t1"})
    assert covers(thread, facts(), thread="t1") is None
    assert "covers only thread" in (covers(thread, facts(), thread="t2") or "")


def test_a_grant_stands_in_for_one_approval_and_never_for_its_grantor():
    grant = payment_grant()
    assert "needs 2 approval(s)" in (covers(grant, facts(50_000)) or "")  # manager and finance
    assert "own" in (covers(grant, facts(requester=BOB.user)) or "")
    assert "signed-in user" in (covers(grant, facts(requester="")) or "")


def test_revoked_expired_and_forged_grants_cover_nothing():
    grant = payment_grant()
    assert "revoked by erin" in (covers(revoked(grant, ERIN.user, NOW), facts()) or "")
    assert "expired" in (covers(grant, facts(), at=NOW + timedelta(days=7)) or "")
    widened = Grant(**{**grant, "constraints": {}, "uses": None, "groups": ["managers"]})
    assert "not signed" in (covers(widened, facts()) or "")
    as_delegation = sign(Grant(**{**grant}), "delegation")
    assert "not signed" in (covers(as_delegation, facts()) or "")


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from(["a", "b", "10"]),
)
CONSTRAINT = st.one_of(
    st.builds(lambda v: {"eq": v}, JSON_SCALARS),
    st.builds(lambda vs: {"in": vs}, st.lists(JSON_SCALARS, min_size=1, max_size=4)),
    st.builds(lambda a, b: {"min": min(a, b), "max": max(a, b)}, *[st.integers(-10, 10)] * 2),
    st.builds(lambda b: {"max": b}, st.integers(-10, 10)),
    st.builds(lambda a: {"min": a}, st.integers(-10, 10)),
)


def _inside(value: Any, constraint: dict[str, Any]) -> bool:
    """The oracle: what each constraint allows, written plainly."""

    def number(x: Any) -> bool:
        return type(x) in (int, float) and math.isfinite(x)

    def equal(x: Any, y: Any) -> bool:
        if number(x) or number(y):
            return number(x) and number(y) and x == y
        return type(x) is type(y) and x == y

    if "eq" in constraint:
        return equal(value, constraint["eq"])
    if "in" in constraint:
        return any(equal(value, allowed) for allowed in constraint["in"])
    low, high = constraint.get("min", -math.inf), constraint.get("max", math.inf)
    return number(value) and low <= value <= high


@EXAMPLES
@given(
    constraints=st.dictionaries(st.sampled_from(["amount", "target", "n"]), CONSTRAINT),
    args=st.dictionaries(st.sampled_from(["amount", "target", "n", "other"]), JSON_SCALARS),
)
def test_a_grant_never_approves_anything_outside_its_constraints(constraints, args):
    grant = payment_grant(constraints=constraints)
    inside = all(name in args and _inside(args[name], c) for name, c in constraints.items())
    assert (constraint_refusal(grant, args) is None) == inside


@EXAMPLES
@given(
    grantor=st.sampled_from([BOB, DAVE]),
    requester=st.sampled_from([ALICE, BOB, DAVE]),
    revoke=st.booleans(),
    hours=st.integers(-1, 24 * 10),
    forge=st.sampled_from([None, "uses", "constraints", "covers", "expires_at", "groups"]),
)
def test_revoked_expired_forged_and_own_grants_never_cover(
    grantor, requester, revoke, hours, forge
):
    grant = payment_grant(grantor, uses=1, constraints={"amount": {"max": 5000}})
    if revoke:
        grant = revoked(grant, ERIN.user, NOW)
    if forge:
        grant = Grant(
            **{
                **grant,
                forge: {
                    "uses": 9,
                    "constraints": {},
                    "covers": {"graph": "x"},
                    "expires_at": "2099-01-01T00:00:00+00:00",
                    "groups": ["signoff-admins"],
                }[forge],
            }
        )
    at = NOW + timedelta(hours=hours)
    covered = covers(grant, facts(500 * 9, requester=requester.user), at=at) is None
    live = not revoke and not forge and at < NOW + timedelta(days=7)
    assert covered == (live and requester != grantor)


# ---------------------------------------------------------------- budgets in the store


def stored(store: InMemoryStore, grant: Grant) -> Grant:
    store.put(grants_namespace(grant["rule"]), grant["id"], dict(grant))
    return grant


def use(store: InMemoryStore, request_id: str, amount: Any = 5000, requester: str = ALICE.user):
    request = facts(amount, requester=requester)
    return use_grant(
        store,
        rule="approve_reject",
        facts=request,
        need=need_of(request),
        request_id=request_id,
        thread_id="t1",
    )


def test_a_single_use_grant_approves_one_request_and_a_replay_of_it_spends_nothing_more():
    store = InMemoryStore()
    grant = stored(store, payment_grant(single_use=True, note="once"))
    first = use(store, "r1")
    assert first == {
        "grant_id": grant["id"],
        "granted_by": BOB.user,
        "groups": ["managers"],
        "comment": f"standing grant {grant['id']} by {BOB.user}: once",
    }
    assert use(store, "r1") == first  # a replay (re-run node, restart)
    assert use(store, "r2") is None
    assert [c["request_id"] for c in claims_of(store, grant["id"])] == ["r1"]
    assert budget_left(grant, claims_of(store, grant["id"]))["uses"] == 0


def test_a_total_budget_is_spent_by_the_amounts_and_the_most_specific_grant_is_used_first():
    store = InMemoryStore()
    anyone = stored(store, payment_grant(total={"arg": "amount", "max": 10_000}))
    mine = stored(store, payment_grant(DAVE, covers={"requester": ALICE.user}, uses=1))
    assert use(store, "r1", 6000)["grant_id"] == mine["id"]  # type: ignore[index]
    assert use(store, "r2", 6000)["grant_id"] == anyone["id"]  # type: ignore[index]
    assert use(store, "r3", 4000.5) is None  # 6,000 + 4,000.5 > 10,000
    assert use(store, "r4", 4000)["grant_id"] == anyone["id"]  # type: ignore[index]
    assert budget_left(anyone, claims_of(store, anyone["id"]))["total"] == 0


def test_revocation_takes_effect_at_once_and_forged_or_copied_records_are_ignored():
    store = InMemoryStore()
    grant = stored(store, payment_grant(uses=5))
    assert use(store, "r1") is not None
    store.put(grants_namespace("approve_reject"), grant["id"], dict(revoked(grant, BOB.user, NOW)))
    assert use(store, "r1") is None and use(store, "r2") is None
    forged = Grant(**{**payment_grant(uses=5), "granted_by": DAVE.user})
    stored(store, forged)
    assert use(store, "r3") is None
    # a claim of another grant copied here does not count, and a forged refusal frees nothing
    other = stored(store, payment_grant(uses=1))
    copied = {**store.get(uses_namespace(grant["id"]), "r1").value, "request_id": "r9"}  # type: ignore[union-attr]
    store.put(uses_namespace(other["id"]), "r9", copied)
    assert claims_of(store, other["id"]) == []
    assert use(store, "r4") is not None


def test_managing_grants_lists_what_each_person_may_see_and_only_the_grantor_or_an_admin_revokes():
    store = InMemoryStore()

    async def scenario() -> None:
        made = await manage.create_grant(
            store,
            BOB,
            {
                "rule": "approve_reject",
                "covers": {"requester": ALICE.user},
                "uses": 2,
                "expires_in": "1d",
            },
        )
        assert made["state"] == "live" and made["left"] == {"uses": 2, "total": None}
        assert [g["id"] for g in await manage.list_grants(store, ALICE)] == [made["id"]]
        assert [g["id"] for g in await manage.list_grants(store, DAVE)] == [made["id"]]
        assert await manage.list_grants(store, CAROL) == []
        with pytest.raises(Refused) as refused:
            await manage.revoke_grant(store, CAROL, made["id"])
        assert refused.value.status == 404
        with pytest.raises(Refused) as refused:
            await manage.revoke_grant(store, DAVE, made["id"])
        assert refused.value.status == 403 and "only bob@signoff.local" in refused.value.detail
        gone = await manage.revoke_grant(store, ERIN, made["id"])
        assert gone["state"] == "revoked" and gone["revoked_by"] == ERIN.user
        assert await manage.list_grants(store, BOB) == []
        assert len(await manage.list_grants(store, BOB, include_ended=True)) == 1
        events = store.search(("signoff", "standing_audit"))
        assert sorted(e.value["what"] for e in events) == ["grant.created", "grant.revoked"]

    asyncio.run(scenario())


def _steps(store: InMemoryStore, grant: Grant, request_id: str, amount: float | None):
    return claim(store, grant, request_id, amount, "t", NOW)


@EXAMPLES
@given(
    uses=st.one_of(st.none(), st.integers(1, 3)),
    total=st.one_of(st.none(), st.integers(1, 10)),
    amounts=st.lists(st.integers(0, 6), min_size=1, max_size=6),
    schedule=st.lists(st.integers(0, 5), max_size=60),
    crashes=st.sets(st.integers(0, 5)),
)
def test_budgets_are_never_overspent_under_any_interleaving(
    uses, total, amounts, schedule, crashes
):
    if uses is None and total is None:
        uses = 1
    grant = payment_grant(uses=uses, total={"arg": "amount", "max": total} if total else None)
    store = InMemoryStore()
    claimants: dict[int, Generator[None, None, Claim]] = {
        i: _steps(store, grant, f"r{i}", float(a) if total else None) for i, a in enumerate(amounts)
    }
    verdicts: dict[int, str | None] = {}
    crashed: set[int] = set()

    def step(i: int) -> None:
        try:
            next(claimants[i])
        except StopIteration as done:
            verdicts[i] = done.value["verdict"]
            del claimants[i]

    for i in schedule:  # hypothesis interleaves the claimants' reads and writes
        if i in claimants:
            if i in crashes and i not in crashed:  # stops here; replays from the start later
                crashed.add(i)
                claimants[i] = _steps(store, grant, f"r{i}", float(amounts[i]) if total else None)
            else:
                step(i)
    while claimants:
        step(next(iter(claimants)))
    accepted = [i for i, verdict in verdicts.items() if verdict == "accepted"]
    assert uses is None or len(accepted) <= uses
    assert total is None or sum(amounts[i] for i in accepted) <= total
    # settled once: a replay of every claimant whose verdict is kept repeats it (a refusal for
    # want of budget, before writing anything, is kept nowhere: it decided nothing)
    for i, verdict in verdicts.items():
        kept = store.get(uses_namespace(grant["id"]), f"r{i}")
        assert verdict == "refused" or kept is not None
        if kept is None:
            continue
        assert kept.value["verdict"] == verdict
        again = _steps(store, grant, f"r{i}", float(amounts[i]) if total else None)
        while True:
            try:
                next(again)
            except StopIteration as done:
                assert done.value["verdict"] == verdict
                break


def test_claimants_that_run_one_after_another_spend_the_whole_budget():
    grant = payment_grant(uses=3)
    store = InMemoryStore()
    results = []
    for i in range(5):
        steps = _steps(store, grant, f"r{i}", None)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                results.append(done.value["verdict"])
                break
    assert results == ["accepted"] * 3 + ["refused"] * 2


def test_the_grant_command_reads_its_options_into_the_apis_body():
    parser = argparse.ArgumentParser()
    add_standing_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["grant", "approve_reject", "--for-requester", ALICE.user, "--arg", "amount<=5000"]
        + ["--arg", "amount>=1", "--arg", "target in acct-7,acct-9", "--arg", 'code="5"']
        + ["--total", "amount:9000", "--single-use", "--expires", "2026-12-07", "--note", "n"]
    )
    spec = grant_spec(args)
    assert spec == {
        "rule": "approve_reject",
        "covers": {"requester": ALICE.user},
        "constraints": {
            "amount": {"max": 5000, "min": 1},
            "target": {"in": ["acct-7", "acct-9"]},
            "code": {"eq": "5"},
        },
        "expires_at": "2026-12-07T00:00:00+00:00",
        "single_use": True,
        "total": {"arg": "amount", "max": 9000.0},
        "note": "n",
    }
    assert grant_refusal(BOB, {**spec, "expires_at": stamp(NOW + timedelta(days=1))}, NOW) is None
    assert grant_spec(parser.parse_args(["grant", "x", "--for-anyone"]))["expires_in"] == "7d"
    with pytest.raises(BadOption, match="name=value"):
        constraints_of(["amount"])
    with pytest.raises(BadOption, match="a bound is a number"):
        constraints_of(["amount<=lots"])
