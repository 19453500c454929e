"""Grants, their claims and delegations in the deployment's store (`BaseStore`): the server's
store under `langgraph dev` and LangGraph Platform, `DatabricksStore` on Lakebase for Model
Serving (`signoff.databricks.store`). Sync functions for graph nodes; the `a`-prefixed ones
for the server. Clients never write here: the server's auth refuses every store-API write
under the `signoff` label (`signoff.server.store_scope`), so only signoff writes these, and
every record is signed besides (`signoff.standing.signing`): one that does not verify is
ignored.

| namespace                                  | key          | value                      |
|--------------------------------------------|--------------|----------------------------|
| `("signoff", "grants", <rule>)`            | grant id     | `Grant`                    |
| `("signoff", "grant_uses", <grant id>)`    | request id   | `Claim`                    |
| `("signoff", "delegations")`               | its id       | `Delegation`               |
| `("signoff", "standing_audit")`            | event id     | a signed `StandingEvent`   |

(`<rule>` is the rule's canonical name with `%` and `.` percent-encoded: a store label holds
no period.)

**Using a grant** (`use_grant`, from the review node that raises a request): the rule's
grants that are signed, live and cover the request (`coverage_refusal`) are tried in
`preference` order (most specific cover first). If the request already holds an accepted
claim on one of them (a replay: a re-run node, a restart), that grant answers again and
nothing more is spent. Otherwise the request claims each in turn until one accepts it.

**Claiming, and why a budget is never overspent.** A claimant (1) writes its claim (`verdict`
unset) under its request id, (2) reads every claim of the grant, (3) settles its claim as
`accepted` if all the claims it read that are not `refused`, its own included, fit the
budget (`claim_fits`), else `refused`, and writes that verdict before anything acts on it.
Take the accepted claims of a grant, and among them the one whose deciding read (2) came
last, Z. Every other accepted claim was written (1) before its own deciding read, so before
Z's, and stays (only a claim that is not accepted is ever taken back): Z read all of them,
none refused, so Z's check counted them all, and they fit. This needs no clock and no order
among writers, only that a read sees every write completed before it (true of every
`BaseStore`). Claimants racing for the last of a budget may each see the other's claim
unsettled; one that would fit without the unsettled ones takes its claim back, backs off a
random moment and tries again (`claim`), so one of them wins; after `ATTEMPTS` it refuses
and a person decides: it fails closed. A claim is settled once; a replay finds its verdict
and repeats it, and a claimant that crashed before settling settles on its replay. So each
request consumes a budget at most once, across restarts, and a claim left unsettled by a
crash only holds budget back until its replay. One request id is claimed by one task at a
time (its review node).
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from langgraph.store.base import BaseStore, Item

from signoff import clock
from signoff.clock import stamp
from signoff.conditions import Facts
from signoff.governance.delegation import Delegation
from signoff.governance.requirements import deciders_of
from signoff.protocol.shapes import Need
from signoff.standing.delegations import genuine
from signoff.standing.grants import (
    Claim,
    Grant,
    amount_of,
    canonical_rule,
    claim_fits,
    coverage_refusal,
    preference,
    same_value,
)
from signoff.standing.signing import sign, verifies

ROOT = "signoff"
"""The first label of every namespace signoff keeps in the store; clients never write it."""
GRANTS = (ROOT, "grants")
USES = (ROOT, "grant_uses")
DELEGATIONS = (ROOT, "delegations")
STANDING_AUDIT = (ROOT, "standing_audit")
PAGE = 500
"""Items read per search call."""
ATTEMPTS = 4
"""How often a claimant racing others for the last of a budget tries (`claim`)."""

Value = TypeVar("Value")


class GrantUse(TypedDict):
    """A grant that approves a request, and whose budget it claimed."""

    grant_id: str
    granted_by: str
    groups: list[str]
    """The grantor's groups that may approve the request: what the approval is made as."""
    comment: str
    """What the audit entry says of it."""


class StandingEvent(TypedDict):
    """One audited change of the standing records, signed (scope "standing_audit")."""

    id: str
    what: str
    """grant.created, grant.revoked, delegation.created or delegation.revoked."""
    by: str
    at: str
    record_id: str
    record: dict[str, Any]
    signature: str


def label(text: str) -> str:
    """`text` as a store label: `%` and `.` percent-encoded."""
    return text.replace("%", "%25").replace(".", "%2E")


def grants_namespace(rule: str) -> tuple[str, ...]:
    """Where the grants of `rule` (under either of its names) are kept."""
    return (*GRANTS, label(canonical_rule(rule)))


def uses_namespace(grant_id: str) -> tuple[str, ...]:
    """Where the claims on grant `grant_id`'s budget are kept."""
    return (*USES, label(grant_id))


def genuine_grant(item: Item | None) -> Grant | None:
    """The grant `item` holds if it is signed by this server and kept under its own id."""
    if item is None or not verifies(item.value, "grant") or item.value.get("id") != item.key:
        return None
    return item.value  # type: ignore[return-value]


def genuine_claim(item: Item | None, grant_id: str) -> Claim | None:
    """The claim `item` holds if signed by this server for this grant and request."""
    if item is None or not verifies(item.value, "claim"):
        return None
    value = item.value
    if value.get("grant_id") != grant_id or value.get("request_id") != item.key:
        return None
    return value  # type: ignore[return-value]


def genuine_delegation(item: Item | None) -> Delegation | None:
    """The delegation `item` holds if signed by this server and kept under its own id."""
    if item is None or not genuine(item.value) or item.value.get("id") != item.key:
        return None
    return item.value  # type: ignore[return-value]


# ---------------------------------------------------------------- sync: inside a graph node


def search_all(
    store: BaseStore, prefix: tuple[str, ...], filter: dict[str, Any] | None = None
) -> Iterator[Item]:
    """Every item under `prefix` (matching `filter`), page by page."""
    offset = 0
    while True:
        page = store.search(prefix, filter=filter, limit=PAGE, offset=offset)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def grants_of(store: BaseStore, rule: str) -> list[Grant]:
    """The genuine grants of `rule` (live or not)."""
    return [g for item in search_all(store, grants_namespace(rule)) if (g := genuine_grant(item))]


def _unverified_grants(store: BaseStore, rule: str) -> Iterator[Grant]:
    """The records kept as grants of `rule`, signatures not yet checked (the caller checks
    them on the few that matter: one costs more than every other check of a grant)."""
    for item in search_all(store, grants_namespace(rule)):
        if item.value.get("id") == item.key:
            yield item.value  # type: ignore[misc]


def claims_of(store: BaseStore, grant_id: str) -> list[Claim]:
    """The genuine claims on grant `grant_id`'s budget."""
    items = search_all(store, uses_namespace(grant_id))
    return [c for item in items if (c := genuine_claim(item, grant_id))]


def use_grant(
    store: BaseStore,
    *,
    rule: str,
    facts: Facts,
    need: Need,
    request_id: str,
    thread_id: str,
) -> GrantUse | None:
    """The live grant that approves the request `request_id` of `rule` (with `facts` and
    `need`, on `thread_id`) and whose budget accepted its claim, or `None`: a person decides.
    Idempotent per `request_id`: a replay gets the same grant and spends nothing more."""
    now = clock.now()
    covering = sorted(
        (
            grant
            for grant in _unverified_grants(store, rule)  # coverage_refusal verifies them
            if coverage_refusal(
                grant, rule=rule, facts=facts, need=need, thread_id=thread_id, now=now
            )
            is None
        ),
        key=preference,
    )
    args = facts.get("args") or {}
    if covering and covering[0]["uses"] is None and covering[0]["total"] is None:
        return _use(covering[0], need)  # no budget to spend: nothing to claim
    for grant in covering:  # a replay: the claim this request already holds
        held = genuine_claim(store.get(uses_namespace(grant["id"]), request_id), grant["id"])
        if held is not None and held["verdict"] == "accepted":
            return _use(grant, need) if same_value(held["amount"], amount_of(grant, args)) else None
    for grant in covering:
        amount = amount_of(grant, args)
        settled = _finish(claim(store, grant, request_id, amount, thread_id, now))
        if settled["verdict"] == "accepted" and same_value(settled["amount"], amount):
            return _use(grant, need)
    return None


def claim(
    store: BaseStore,
    grant: Grant,
    request_id: str,
    amount: float | None,
    thread_id: str,
    now: datetime,
) -> Generator[bool, None, Claim]:
    """Claim `amount` of `grant`'s budget for `request_id`, step by step: it pauses after each
    store read and write (yielding `False`), so tests can interleave claimants, and yields
    `True` where it asks its driver to back off a moment before trying again. Returns the
    settled claim; a claim already settled is returned as it is.

    Write the claim, read every claim, settle. When only claims still unsettled keep it from
    fitting (claimants racing for the last of a budget), it takes its claim back, backs off
    and tries again, up to `ATTEMPTS` times, so that one of them wins; then it settles as
    refused. When the accepted claims alone leave no room, it writes nothing and returns the
    claim refused (accepted claims never go away)."""
    namespace = uses_namespace(grant["id"])
    mine = genuine_claim(store.get(namespace, request_id), grant["id"])
    yield False
    if mine is not None and mine["verdict"] is not None:
        return mine
    written = mine is not None
    draft = mine or sign(
        Claim(
            grant_id=grant["id"],
            request_id=request_id,
            amount=amount,
            thread_id=thread_id,
            at=stamp(now),
            verdict=None,
            signature="",
        ),
        "claim",
    )
    last = ATTEMPTS - 1
    for attempt in range(ATTEMPTS):
        if not written:
            before = _others(claims_of(store, grant["id"]), request_id)
            yield False
            if not claim_fits(grant, [*_accepted(before), draft]):
                return _settled(draft, fits=False)  # spent already: nothing to write
            if not claim_fits(grant, [*before, draft]) and attempt < last:
                yield True  # others are claiming the rest: let them settle first
                continue
            store.put(namespace, request_id, dict(draft))
            written = True
            yield False
        seen = _others(claims_of(store, grant["id"]), request_id)
        yield False
        fits = claim_fits(grant, [*seen, draft])
        if not fits and attempt < last and claim_fits(grant, [*_accepted(seen), draft]):
            store.delete(namespace, request_id)  # take it back: it was never accepted
            written = False
            yield False
            yield True
            continue
        settled = _settled(draft, fits)
        store.put(namespace, request_id, dict(settled))
        return settled
    return _settled(draft, fits=False)  # the last attempt found the rest still claimed


def delegations_for(store: BaseStore, user: str) -> list[Delegation]:
    """The genuine delegations naming `user` as the delegate (live or not)."""
    items = search_all(store, DELEGATIONS, {"delegate": user})
    return [d for item in items if (d := genuine_delegation(item)) and d["delegate"] == user]


# ---------------------------------------------------------------- async: in the server


async def asearch_all(
    store: BaseStore, prefix: tuple[str, ...], filter: dict[str, Any] | None = None
) -> AsyncIterator[Item]:
    """`search_all`, asynchronously."""
    offset = 0
    while True:
        page = await store.asearch(prefix, filter=filter, limit=PAGE, offset=offset)
        for item in page:
            yield item
        if len(page) < PAGE:
            return
        offset += PAGE


async def aclaims_of(store: BaseStore, grant_id: str) -> list[Claim]:
    """`claims_of`, asynchronously."""
    items = asearch_all(store, uses_namespace(grant_id))
    return [c async for item in items if (c := genuine_claim(item, grant_id))]


async def aall_grants(store: BaseStore, filter: dict[str, Any] | None = None) -> list[Grant]:
    """Every genuine grant of every rule (matching `filter`)."""
    return [g async for item in asearch_all(store, GRANTS, filter) if (g := genuine_grant(item))]


async def aput_grant(store: BaseStore, grant: Grant) -> None:
    """Keep `grant` (new, or revoked) under its rule."""
    await store.aput(grants_namespace(grant["rule"]), grant["id"], dict(grant))


async def aall_delegations(
    store: BaseStore, filter: dict[str, Any] | None = None
) -> list[Delegation]:
    """Every genuine delegation (matching `filter`)."""
    items = asearch_all(store, DELEGATIONS, filter)
    return [d async for item in items if (d := genuine_delegation(item))]


async def adelegations_for(store: BaseStore, user: str) -> list[Delegation]:
    """`delegations_for`, asynchronously."""
    found = await aall_delegations(store, {"delegate": user})
    return [d for d in found if d["delegate"] == user]


async def aput_delegation(store: BaseStore, delegation: Delegation) -> None:
    """Keep `delegation` (new, or revoked)."""
    await store.aput(DELEGATIONS, delegation["id"], dict(delegation))


async def arecord_event(
    store: BaseStore, what: str, by: str, record: Mapping[str, Any], now: datetime
) -> StandingEvent:
    """Audit one change (`what`) of `record` by `by`, signed, in the standing audit."""
    event = sign(
        StandingEvent(
            id=f"{record['id']}:{what}",
            what=what,
            by=by,
            at=stamp(now),
            record_id=str(record["id"]),
            record=dict(record),
            signature="",
        ),
        "standing_audit",
    )
    await store.aput(STANDING_AUDIT, event["id"], dict(event))
    return event


async def astanding_events(store: BaseStore) -> list[StandingEvent]:
    """The genuine standing audit events, oldest first."""
    events: list[StandingEvent] = [
        item.value  # type: ignore[misc]
        async for item in asearch_all(store, STANDING_AUDIT)
        if verifies(item.value, "standing_audit")
    ]
    return sorted(events, key=lambda event: (event["at"], event["id"]))


# ---------------------------------------------------------------- helpers


def _finish(steps: Generator[bool, None, Value]) -> Value:
    """Run `steps` to the end, backing off a little longer each time they ask; what they
    return."""
    backoffs = 0
    while True:
        try:
            if next(steps):
                backoffs += 1
                time.sleep(random.uniform(0.005, 0.02) * backoffs)
        except StopIteration as done:
            return done.value


def _others(claims: list[Claim], request_id: str) -> list[Claim]:
    return [c for c in claims if c["request_id"] != request_id]


def _accepted(claims: list[Claim]) -> list[Claim]:
    return [c for c in claims if c["verdict"] == "accepted"]


def _settled(draft: Claim, fits: bool) -> Claim:
    return sign(Claim(**{**draft, "verdict": "accepted" if fits else "refused"}), "claim")


def _use(grant: Grant, need: Need) -> GrantUse:
    note = f": {grant['note']}" if grant.get("note") else ""
    return GrantUse(
        grant_id=grant["id"],
        granted_by=grant["granted_by"],
        groups=sorted(set(grant["groups"]) & set(deciders_of(need))),
        comment=f"standing grant {grant['id']} by {grant['granted_by']}{note}",
    )
