"""Who may decide what: the one policy the server's auth and every review node apply.

The rules live in `signoff.toml` `[policy]` (see `signoff.settings`):

- each request may be decided by members of the groups its rule names (`decided_by` in the
  request: a graph, a `graph.stage` of a chain, or a sensitive tool);
- four-eyes: nobody decides a request they raised (`requested_by`, the authenticated user who
  started the run that raised it), and nobody decides two stages of one chain;
- once a request's `escalates_at` has passed, members of its `escalate_to` group may decide
  it too (`signoff.governance.deadlines`);
- a request's policy (its deciders, escalation, reminder and expiry: `RequestPolicy`) is fixed
  in the thread's state before the request is first raised (`request_policy`), so raising it
  again, after any run, keeps it; changing it is an admin's audited state edit;
- the requester or an admin may withdraw a request;
- only admins edit thread state, fork runs from old checkpoints, set run-time context, delete
  threads and manage assistants and crons.

Every refusal is a sentence saying who would be allowed. The same functions run in
`signoff.server.auth` (before anything is written: 403) and in `signoff.review.ask` (the second line
of defence: the node pauses again with the refusal as its error, and nothing runs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from signoff.conditions import Facts
from signoff.governance.deadlines import is_due, policy_for
from signoff.governance.delegation import Acting, Delegation, acting_as
from signoff.governance.identity import Identity
from signoff.governance.quorum import APPROVING, Vote, adds_approval, describe_quota
from signoff.governance.requirements import Need, deciders_of, need_for, requirements_of
from signoff.protocol.parsing import expiry_in, parse_answer, withdrawal_in
from signoff.settings import DeadlinePolicy, load_settings

HOW_TO_SIGN_IN = (
    "Send `Authorization: Bearer <token>` (or, from a client that cannot, such as Agent Inbox's "
    '"LangSmith API Key" field, `x-api-key: <token>`): a Databricks token of the workspace '
    "(offline: one of the README's development users, e.g. dapi-dev-alice)."
)
"""What every refusal for a missing identity tells the caller to do."""


def deciders_for(rule: str) -> list[str]:
    """The groups whose members may approve some request under `rule` (Unity Catalog tools
    match as `catalog.schema.fn` or `catalog__schema__fn`); the `default` rule otherwise."""
    return sorted({group for requirement in requirements_of(rule) for group in requirement.groups})


class RequestPolicy(TypedDict):
    """Who decides a request and how long it may wait: fixed before the request is first
    raised, shown in it (`decided_by`, `escalate_to` and the deadlines) and bound by its
    `args_digest`."""

    rule: str
    """The rule it falls under: a graph, `graph.stage` or a tool."""

    decided_by: list[str]
    """The groups whose members may decide it."""

    remind_after: float | None
    """Seconds until the deciders are reminded."""

    escalate_after: float | None
    """Seconds until members of `escalate_to` may decide it too."""

    escalate_to: str | None
    """The group escalation adds."""

    expire_after: float | None
    """Seconds until it expires (rejected, decided by `system`)."""

    need: NotRequired[Need]
    """What the requirement that applied asks: no person, a denial, or whose approvals
    (`signoff.governance.requirements`). Absent on a request raised before requirements:
    one approval by a member of `decided_by`."""

    trace_id: NotRequired[str]
    """The MLflow trace of the run that raised the request, when MLflow traced it and
    decisions are logged as feedback (`signoff.signals.feedback`); never part of the digest."""

    grant: NotRequired[dict[str, Any]]
    """The standing grant that covered the request when it was raised, and whose budget it
    claimed (`signoff.standing`): the request runs without pausing. The review checks the
    claim in the store again before it trusts this."""


def request_policy(rule: str, facts: Facts, context: Any = None) -> RequestPolicy:
    """The policy of a request under `rule` with `facts`, now: the requirement of
    `signoff.toml` that applies to it, and the deadlines of the rule and the assistant's
    `context`."""
    timing = policy_for(rule, context)
    need = need_for(rule, facts)
    return RequestPolicy(
        rule=rule,
        decided_by=deciders_of(need) or deciders_for(rule),
        remind_after=timing.remind_after,
        escalate_after=timing.escalate_after,
        escalate_to=timing.escalate_to,
        expire_after=timing.expire_after,
        need=need,
    )


def timing_of(policy: RequestPolicy) -> DeadlinePolicy:
    """The deadlines part of `policy`."""
    return DeadlinePolicy(
        remind_after=policy["remind_after"],
        escalate_after=policy["escalate_after"],
        escalate_to=policy["escalate_to"],
        expire_after=policy["expire_after"],
    )


def admin_groups() -> list[str]:
    """The groups whose members are signoff admins."""
    return sorted(load_settings().admins)


def is_admin(identity: Identity | None) -> bool:
    """Whether `identity` is in an admin group."""
    return identity is not None and bool(identity.groups & load_settings().admins)


def deciding_groups(request: Mapping[str, Any], at: datetime | None = None) -> list[str]:
    """The groups that may decide `request` now: its `decided_by`, and `escalate_to` once it
    has escalated."""
    groups = list(request.get("decided_by") or [])
    escalate_to = request.get("escalate_to")
    if escalate_to and escalate_to not in groups and is_due(request, "escalates_at", at):
        groups.append(escalate_to)
    return groups


def decision_refusal(
    identity: Identity | None,
    request: Mapping[str, Any],
    *,
    withdrawing: bool = False,
    approving: bool = False,
    delegations: Sequence[Delegation] = (),
) -> str | None:
    """Why `identity` may not answer `request` (an `ApprovalRequest`), or `None` if it may.
    `withdrawing`: the answer withdraws the request instead of deciding it; `approving`: it
    approves (so it must also fill a quota still open); `delegations`: those that may let
    `identity` decide on someone's behalf."""
    acting = decider(identity, request, withdrawing, approving, delegations)
    return acting if isinstance(acting, str) else None


def decider(
    identity: Identity | None,
    request: Mapping[str, Any],
    withdrawing: bool = False,
    approving: bool = False,
    delegations: Sequence[Delegation] = (),
) -> Acting | str:
    """How `identity` may answer `request` (as themselves, or on behalf of a delegator), or
    why they may not: the refusal of deciding as themselves, and of each stand-in."""
    requester = request.get("requested_by")
    groups = deciding_groups(request)
    who = f"a member of {', '.join(groups)}{_escalation(request, groups)}"
    if identity is None:
        return (
            f"Deciding needs a signed-in user. {HOW_TO_SIGN_IN} Studio's development bypass and "
            "the server's in-process calls can read threads but never decide. This request may "
            f"be decided by {who}, other than {requester}."
        )
    if withdrawing:
        if identity.user == requester or is_admin(identity):
            return Acting(identity.user, identity.groups)
        return (
            f"{identity.user} may not withdraw this request: only {requester}, who raised it, "
            f"or a member of {', '.join(admin_groups())} may. It may be decided by {who}."
        )
    refusals = []
    for acting in acting_as(identity, delegations):
        refusal = _acting_refusal(acting, request, groups, who, approving)
        if refusal is None:
            return acting
        refusals.append(refusal)
    return " ".join(refusals)


def _acting_refusal(
    acting: Acting, request: Mapping[str, Any], groups: list[str], who: str, approving: bool
) -> str | None:
    """Why `acting` may not decide `request`, whose deciding groups are `groups`."""
    requester, stage = request.get("requested_by"), request.get("stage", "review")
    name = acting.user + (f" (on behalf of {acting.on_behalf_of})" if acting.on_behalf_of else "")
    if not acting.groups & set(groups):
        mine = ", ".join(sorted(acting.groups)) or "no groups"
        return (
            f"{name} may not decide stage {stage!r}: it needs {who} (their groups: {mine}), "
            f"other than {requester}."
        )
    if acting.user == requester:
        return (
            f"{name} raised this request, so cannot decide it (four-eyes): {who} other than "
            "them must. The requester may withdraw it instead."
        )
    if acting.on_behalf_of == requester:
        return (
            f"{name}: {requester} raised this request, so nobody decides it on their behalf "
            f"(four-eyes): {who} other than them must."
        )
    for earlier in request.get("earlier_decisions") or []:
        if acting.people & {earlier.get("reviewer"), earlier.get("on_behalf_of")}:
            return (
                f"{name} already decided stage {earlier.get('stage')!r} of this chain, so "
                f"cannot decide stage {stage!r} too (four-eyes): {who} who decided no other "
                "stage must."
            )
    votes = votes_in(request)
    if voted := sorted(acting.people & {p for vote in votes for p in vote.people}):
        return (
            f"{name}: {', '.join(voted)} already answered this request, and each person "
            f"answers once; {_waiting(request)}."
        )
    need = request.get("need")
    candidate = Vote(
        acting.user,
        approves=True,
        groups=frozenset(acting.groups & set(groups)),
        on_behalf_of=acting.on_behalf_of,
        escalated=not acting.groups & set(request.get("decided_by") or []),
    )
    if approving and need and not adds_approval(need, votes, candidate):
        return (
            f"{name} may not approve: no approval they could give is still needed; "
            f"{_waiting(request)}."
        )
    return None


def votes_in(request: Mapping[str, Any]) -> list[Vote]:
    """The votes already cast on `request`, as the request shows them (its `progress`)."""
    shown = (request.get("progress") or {}).get("votes") or []
    return [
        Vote(
            reviewer=str(vote.get("reviewer", "")),
            approves=bool(vote.get("approves")),
            groups=frozenset(vote.get("groups") or ()),
            on_behalf_of=vote.get("on_behalf_of"),
            escalated=bool(vote.get("escalated")),
        )
        for vote in shown
        if isinstance(vote, Mapping)
    ]


def _waiting(request: Mapping[str, Any]) -> str:
    """What the request still waits for, in words."""
    waiting = (request.get("progress") or {}).get("waiting_for") or []
    if not waiting:
        return "it waits for one of its deciders"
    return "it waits for " + " and ".join(describe_quota(quota) for quota in waiting)


def _escalation(request: Mapping[str, Any], groups: list[str]) -> str:
    """When the request will also be open to its escalation group, if that is still ahead."""
    escalate_to = request.get("escalate_to")
    if not escalate_to or escalate_to in groups:
        return ""
    return f" (from {request.get('escalates_at')}, also of {escalate_to})"


def admin_refusal(identity: Identity | None, doing: str) -> str | None:
    """Why `identity` may not do the admin-only thing `doing`, or `None` if it may."""
    if is_admin(identity):
        return None
    who = identity.user if identity else "An unidentified caller"
    return f"{who} may not {doing}: only members of {', '.join(admin_groups())} may."


def resume_refusal(
    identity: Identity | None,
    pending: dict[str, dict[str, Any]],
    resume: Any,
    delegations: Sequence[Delegation] = (),
) -> str | None:
    """Why `identity` may not send `resume` to a thread waiting on `pending` (interrupt id →
    request), or `None`. A map keyed by pending interrupt ids answers those; any other value
    answers every pending request."""
    if isinstance(resume, dict) and resume and set(resume) <= set(pending):
        answered = {interrupt_id: resume[interrupt_id] for interrupt_id in resume}
    else:
        answered = dict.fromkeys(pending, resume)
    for interrupt_id, answer in answered.items():
        if (expiring := expiry_in(answer)) is not None:
            if refusal := expiry_refusal(pending[interrupt_id], expiring):
                return refusal
            continue
        withdrawing = withdrawal_in(answer) is not None
        refusal = decision_refusal(
            identity,
            pending[interrupt_id],
            withdrawing=withdrawing,
            approving=_approves(answer, pending[interrupt_id]),
            delegations=delegations,
        )
        if refusal:
            return refusal
    return None


def _approves(answer: Any, request: Mapping[str, Any]) -> bool:
    """Whether `answer` approves `request` (an approval or an edit); an answer that does not
    parse approves nothing here (the review node refuses it with the reason)."""
    try:
        decisions = parse_answer(answer, request)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - any unreadable answer is the node's to refuse
        return False
    return decisions[0]["type"] in APPROVING


def expiry_refusal(request: Mapping[str, Any], request_id: str) -> str | None:
    """Why an expiry of `request_id` may not end `request` now, or `None` if it may: anyone
    (the sweeper, `signoff sweep`) may expire a request once its `expires_at` has passed, and
    nobody before; an expiry is bound to the request that expired."""
    if request_id != request.get("request_id"):
        return (
            f"An expiry of request {request_id!r} cannot end request "
            f"{request.get('request_id')!r}: an expiry is bound to the request that expired."
        )
    if is_due(request, "expires_at"):
        return None
    when = request.get("expires_at")
    deciders = ", ".join(request.get("decided_by") or [])
    if not when:
        return (
            f"Request {request_id} cannot be expired at all: its policy sets no expiry, so it "
            f"never expires; it is decided by a member of {deciders}."
        )
    return (
        f"Request {request_id} cannot be expired before {when}: it does not expire before "
        f"then, and until then it is decided by a member of {deciders}."
    )
