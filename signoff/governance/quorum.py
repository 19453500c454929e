"""Quorum: how far a request's approvals have come, counted from its signed votes.

A request whose need (`signoff.governance.requirements.Need`) asks for several approvals,
such as `{managers = 1, finance = 1}`, is decided by several people, one answer each. Each
answer is its own signed audit entry (a `Vote` here), bound to the request's `args_digest`.
A vote counts only if its person (and whoever they stood in for, `on_behalf_of`) has cast no
other vote on the request, and it fills a quota one of the groups it was cast as
(`groups`) belongs to; an escalated vote (`escalated_to`) may fill any quota. Votes are
assigned to quotas by a maximum matching, so no order of answers leaves a quota unfilled
that some assignment could fill.

The same counting decides whether to pause again (`tally`), whom to refuse
(`adds_approval`), and whether execution may run (`signoff.execution.approved`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from signoff.protocol.shapes import Need, Progress, QuotaShape

APPROVING = ("approve", "edit")
"""A person's answers that approve (an edit approves the arguments it sets)."""


@dataclass(frozen=True)
class Vote:
    """One person's answer to a request, as its signed entry records it."""

    reviewer: str
    approves: bool
    groups: frozenset[str] = frozenset()
    """The groups the reviewer decided as (their own, or those of whom they stood in for)."""
    on_behalf_of: str | None = None
    """The person whose rights they used (delegation)."""
    escalated: bool = False
    """They could decide only because the request escalated: they may fill any quota."""

    @property
    def people(self) -> frozenset[str]:
        """Whom this vote speaks for: each may cast one vote on a request."""
        return frozenset(p for p in (self.reviewer, self.on_behalf_of) if p)


def vote_of(entry: Mapping[str, Any]) -> Vote:
    """The vote a decision entry records."""
    return Vote(
        reviewer=str(entry.get("reviewer", "")),
        approves=entry.get("decision") in APPROVING,
        groups=frozenset(entry.get("groups") or ()),
        on_behalf_of=entry.get("on_behalf_of"),
        escalated=bool(entry.get("escalated_to")),
    )


@dataclass(frozen=True)
class Tally:
    """Where a request's votes stand against its need."""

    approved_by: list[str]
    """The people whose approvals count, in the order they came."""
    rejected_by: list[str]
    waiting_for: list[QuotaShape]
    """The approvals still missing, per quota."""
    complete: bool
    """Every quota is met: the request is approved."""
    rejected: bool
    """As many different people rejected it as its need says."""

    def summary(self, need: Need) -> str:
        """E.g. `1 of 2: bob approved; waiting for 1 of finance`."""
        total = sum(quota["count"] for quota in need["quotas"])
        parts = [f"{len(self.approved_by)} of {total}"]
        if self.approved_by:
            parts.append(f"{', '.join(self.approved_by)} approved")
        if self.rejected_by:
            parts.append(f"{', '.join(self.rejected_by)} rejected")
        if self.waiting_for:
            parts.append("waiting for " + " and ".join(map(describe_quota, self.waiting_for)))
        return f"{parts[0]}: {'; '.join(parts[1:])}" if len(parts) > 1 else parts[0]


def describe_quota(quota: QuotaShape) -> str:
    """E.g. `1 of finance`, `2 of managers or security`."""
    return f"{quota['count']} of {' or '.join(quota['groups'])}"


def counted(votes: Iterable[Vote]) -> list[Vote]:
    """The votes that count: the first of each person (a vote also speaks for whom its
    reviewer stood in for)."""
    seen: set[str] = set()
    kept = []
    for vote in votes:
        if vote.people & seen:
            continue
        seen |= vote.people
        kept.append(vote)
    return kept


def tally(need: Need, votes: Sequence[Vote]) -> Tally:
    """How far `votes` (oldest first) go towards `need`."""
    votes = counted(votes)
    approvals = [vote for vote in votes if vote.approves]
    assigned = _matching(need["quotas"], approvals)
    filled = [0] * len(need["quotas"])
    for quota in assigned.values():
        filled[quota] += 1
    waiting = [
        QuotaShape(groups=quota["groups"], count=quota["count"] - filled[index])
        for index, quota in enumerate(need["quotas"])
        if filled[index] < quota["count"]
    ]
    rejected_by = [vote.reviewer for vote in votes if not vote.approves]
    return Tally(
        approved_by=[approvals[index].reviewer for index in sorted(assigned)],
        rejected_by=rejected_by,
        waiting_for=waiting,
        complete=not waiting,
        rejected=len(rejected_by) >= need["rejections"],
    )


def adds_approval(need: Need, votes: Sequence[Vote], candidate: Vote) -> bool:
    """Whether `candidate`'s approval would fill a quota still open after `votes`."""
    before = len(_matching(need["quotas"], [v for v in counted(votes) if v.approves]))
    after = [v for v in counted([*votes, candidate]) if v.approves]
    return candidate in after and len(_matching(need["quotas"], after)) > before


def _matching(quotas: Sequence[QuotaShape], approvals: Sequence[Vote]) -> dict[int, int]:
    """A maximum assignment of approvals (by index) to quota slots (by quota index), each
    approval to one slot of a quota it may fill (Kuhn's augmenting paths: a handful of
    votes)."""
    slots = [index for index, quota in enumerate(quotas) for _ in range(quota["count"])]
    holder: dict[int, int] = {}  # slot -> approval

    def fits(approval: Vote, slot: int) -> bool:
        return approval.escalated or bool(approval.groups & set(quotas[slots[slot]]["groups"]))

    def place(approval: int, tried: set[int]) -> bool:
        for slot in range(len(slots)):
            if slot in tried or not fits(approvals[approval], slot):
                continue
            tried.add(slot)
            if slot not in holder or place(holder[slot], tried):
                holder[slot] = approval
                return True
        return False

    for approval in range(len(approvals)):
        place(approval, set())
    return {approval: slots[slot] for slot, approval in holder.items()}


def shown(need: Need, votes: Sequence[Vote]) -> Progress:
    """The `progress` a request shows after `votes`."""
    counts = tally(need, votes)
    return Progress(
        summary=counts.summary(need),
        approved_by=counts.approved_by,
        rejected_by=counts.rejected_by,
        waiting_for=counts.waiting_for,
        votes=[
            {
                "reviewer": vote.reviewer,
                "approves": vote.approves,
                "groups": sorted(vote.groups),
                "on_behalf_of": vote.on_behalf_of,
                "escalated": vote.escalated,
            }
            for vote in votes
        ],
    )


def is_quorum(need: Need) -> bool:
    """Whether `need` takes more than one answer: several approvals, or several rejections."""
    return need["outcome"] == "approve" and (
        sum(quota["count"] for quota in need["quotas"]) > 1 or need["rejections"] > 1
    )


Entry = TypeVar("Entry", bound=Mapping[str, Any])


def request_votes(trail: Iterable[Entry], need: Need) -> list[Entry]:
    """People's answers on `trail` to the request raised with `need` (its `id`), oldest
    first; not the policy's own (auto-approvals, denials and expiries are `system`'s)."""
    if not need.get("id"):
        return []
    return [
        entry
        for entry in trail
        if entry.get("need") == need
        and entry.get("decision") in (*APPROVING, "reject")
        and entry.get("reviewer") != "system"
    ]


def current_votes(
    votes: Sequence[Mapping[str, Any]], args: dict[str, Any]
) -> tuple[dict[str, Any], list[Vote]]:
    """The arguments a request with `args` (as raised) asks about now, and the votes that
    count for them: from the latest edit on (an edit resets the approvals given before it,
    and its arguments are asked about from then), those cast on these arguments."""
    edits = [index for index, entry in enumerate(votes) if entry.get("decision") == "edit"]
    if edits and isinstance(edited := votes[edits[-1]].get("args_after"), dict):
        args, votes = edited, votes[edits[-1] :]
    return args, [vote_of(entry) for entry in votes if _cast_on(entry, args)]


def _cast_on(entry: Mapping[str, Any], args: Any) -> bool:
    """Whether vote `entry` was cast on `args`: an approval runs them, a rejection saw them."""
    if entry.get("decision") in APPROVING:
        return entry.get("args_after") == args
    return entry.get("args_before") == args
