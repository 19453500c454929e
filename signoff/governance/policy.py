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

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from signoff.governance.deadlines import is_due, policy_for
from signoff.governance.identity import Identity
from signoff.protocol.parsing import expiry_in, withdrawal_in
from signoff.settings import DeadlinePolicy, load_settings

HOW_TO_SIGN_IN = (
    "Send `Authorization: Bearer <token>`: a Databricks token of the workspace (offline: one of "
    "the README's development users, e.g. dapi-dev-alice)."
)
"""What every refusal for a missing identity tells the caller to do."""


def deciders_for(rule: str) -> list[str]:
    """The groups whose members may decide requests under `rule` (Unity Catalog tools match
    as `catalog.schema.fn` or `catalog__schema__fn`); the `default` rule otherwise."""
    deciders = load_settings().deciders
    for name in (rule, rule.replace("__", ".")):
        if name in deciders:
            return sorted(deciders[name])
    return sorted(deciders["default"])


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


def request_policy(rule: str, context: Any = None) -> RequestPolicy:
    """The policy of a request under `rule` now: `signoff.toml` and the assistant's
    `context` (its deadline overrides)."""
    timing = policy_for(rule, context)
    return RequestPolicy(
        rule=rule,
        decided_by=deciders_for(rule),
        remind_after=timing.remind_after,
        escalate_after=timing.escalate_after,
        escalate_to=timing.escalate_to,
        expire_after=timing.expire_after,
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
    identity: Identity | None, request: Mapping[str, Any], *, withdrawing: bool = False
) -> str | None:
    """Why `identity` may not answer `request` (an `ApprovalRequest`), or `None` if it may.
    `withdrawing`: the answer withdraws the request instead of deciding it."""
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
            return None
        return (
            f"{identity.user} may not withdraw this request: only {requester}, who raised it, "
            f"or a member of {', '.join(admin_groups())} may. It may be decided by {who}."
        )
    stage = request.get("stage", "review")
    if not identity.groups & set(groups):
        mine = ", ".join(sorted(identity.groups)) or "no groups"
        return (
            f"{identity.user} may not decide stage {stage!r}: it needs {who} (their groups: "
            f"{mine}), other than {requester}."
        )
    if identity.user == requester:
        return (
            f"{identity.user} raised this request, so cannot decide it (four-eyes): "
            f"{who} other than them must. The requester may withdraw it instead."
        )
    for earlier in request.get("earlier_decisions") or []:
        if earlier.get("reviewer") == identity.user:
            return (
                f"{identity.user} already decided stage {earlier.get('stage')!r} of this chain, "
                f"so cannot decide stage {stage!r} too (four-eyes): {who} who decided no "
                "other stage must."
            )
    return None


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
    identity: Identity | None, pending: dict[str, dict[str, Any]], resume: Any
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
        if refusal := decision_refusal(identity, pending[interrupt_id], withdrawing=withdrawing):
            return refusal
    return None


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
