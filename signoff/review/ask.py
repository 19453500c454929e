"""Pause a graph for a decision and keep pausing until the answer is usable.

`ask_for_decisions` is the only place signoff calls `interrupt()`. Nothing a reviewer sends
is raised out of the node: that would store the bad value as the resume write and replay it on
every later attempt, wedging the thread. Reading an answer is the boundary: any exception
there (an `InvalidAnswer`, or anything else a malformed value provokes) becomes a new pause
with the same request and an `error`, and the next correct answer completes it. What is read
is bounded first (`bounds`). Call it before any side effect: the code before it re-runs on
every resume.

A usable answer from someone the policy refuses (`signoff.governance.policy`: not in the request's
groups, its requester, an earlier stage's approver, an earlier voter, no identity at all) is
refused the same way: the request stays pending, its `error` names who may answer, and
nothing runs. The server's auth refuses such answers before they are written; this is the
second line.

What the request needs was fixed with its policy (`raise_policy`, in the node before the
pause): a requirement that auto-approves or denies, or a live standing grant that covers it,
answers without pausing; a quorum (several approvals) takes one pause per vote. Each vote
returns a `Review` with `partial` set, the graph records its signed entry and asks again, and
the next pause shows the progress (`request["progress"]`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from langgraph.config import get_config, get_store
from langgraph.runtime import get_runtime
from langgraph.store.base import BaseStore
from langgraph.types import interrupt

from signoff.clock import parse
from signoff.governance.audit import AuditEntry
from signoff.governance.deadlines import asked_at, deadlines
from signoff.governance.delegation import Delegation
from signoff.governance.identity import Identity, run_graph_id, run_identity, run_thread_id
from signoff.governance.policy import (
    RequestPolicy,
    decider,
    expiry_refusal,
    request_policy,
    timing_of,
)
from signoff.governance.quorum import (
    APPROVING,
    Vote,
    current_votes,
    is_quorum,
    request_votes,
    shown,
    tally,
)
from signoff.governance.requirements import approvals_needed, request_facts
from signoff.protocol.bounds import cut
from signoff.protocol.grammar import RESPONSE_SCHEMA
from signoff.protocol.parsing import (
    ArgsValidator,
    InvalidAnswer,
    accepted_answers,
    expiry_in,
    parse_answer,
)
from signoff.protocol.shapes import (
    SYSTEM,
    WITHDRAW,
    ActionRequest,
    ApprovalRequest,
    ApproveDecision,
    Chain,
    Conversation,
    Decision,
    DecisionType,
    Need,
    RejectDecision,
    build_request,
)
from signoff.signals.events import announce
from signoff.signals.feedback import Decided, log_decisions, raising_trace
from signoff.signals.metrics import record_decision
from signoff.standing.store import GrantUse, delegations_for, use_grant

_REQUEST_NAMESPACE = uuid.UUID("5f1c7a52-8a8e-4d0b-9a55-51907ff0c0de")


@dataclass(frozen=True)
class Review:
    """A usable answer: the request that was shown, one decision per action, and who decided."""

    request: ApprovalRequest
    decisions: list[Decision]
    reviewer: str
    expired: bool = False
    """The request expired: rejected by `system`, the expiry rule as each decision's message."""
    escalated_to: str | None = None
    """The group the reviewer belongs to that may decide only since the request escalated."""
    groups: list[str] | None = None
    """The deciding groups the reviewer decided as."""
    on_behalf_of: str | None = None
    """Whose right to decide the reviewer used (delegation)."""
    grant: dict[str, str] | None = None
    """The standing grant that approved it (`id`, `granted_by`), if one did."""
    partial: bool = False
    """A vote of a quorum that does not decide the request yet: record it and ask again."""

    @property
    def withdrawn(self) -> bool:
        """Whether the requester (or an admin) withdrew the request instead of a decision."""
        return self.decisions[0]["type"] == WITHDRAW


def current_request_id(key: str = "") -> str:
    """The id of a request raised by the running task: the same on every replay of the task
    (re-pauses, retries after a crash) and different for every other task; `key` tells apart
    several requests of one task (e.g. one per tool call)."""
    configurable = get_config().get("configurable") or {}
    task = f"{configurable.get('thread_id', '')}/{configurable.get('checkpoint_ns', '')}"
    return str(uuid.uuid5(_REQUEST_NAMESPACE, f"{task}/{key}"))


def raise_policy(
    rule: str,
    action: ActionRequest,
    stage: str,
    context: Any = None,
    key: str = "",
    requester: Identity | None = None,
) -> RequestPolicy:
    """Fix the policy of the request the running node is about to raise for `action` (call it
    in the node before the one that asks, and keep it in state): the requirement of `rule`
    that applies to it (its `need`, with the id of the request as raised: `key` as for
    `current_request_id`), its deadlines, and a standing grant that covers it, whose budget
    this claims, once per request."""
    facts = request_facts(action["name"], action["args"], stage, context, requester)
    policy = request_policy(rule, facts, context)
    need = policy["need"]
    need["id"] = current_request_id(key)
    store = _store()
    failed_closed = need["requirement"] == "strictest"  # a person decides, never a grant
    if (
        store is not None
        and not failed_closed
        and need["outcome"] == "approve"
        and approvals_needed(need) == 1
    ):
        use = use_grant(
            store,
            rule=rule,
            facts=facts,
            need=need,
            request_id=need["id"],
            thread_id=run_thread_id(),
        )
        if use is not None:
            policy["grant"] = dict(use)
    if (trace_id := raising_trace()) is not None:  # the decision is logged on it (feedback)
        policy["trace_id"] = trace_id
    return policy


def ask_for_decisions(
    actions: list[ActionRequest],
    allowed: list[list[DecisionType]],
    *,
    stage: str,
    rule: str,
    requested_by: str,
    policy: RequestPolicy | None = None,
    trail: list[AuditEntry] | None = None,
    key: str = "",
    validate_args: ArgsValidator | None = None,
    earlier_decisions: list[dict[str, Any]] | None = None,
    chain: Chain | None = None,
    require_reference: bool = False,
    summary: str | None = None,
    conversation: Conversation | None = None,
) -> Review:
    """Show `actions` for review and return the first answer that parses.

    `allowed[i]` lists the decisions accepted for `actions[i]`; `rule` names the policy rule
    saying who may decide (a graph, `graph.stage` or a tool name); `policy` is the request's
    policy as the graph fixed it in state before asking (`raise_policy`; `None`, for a request
    raised before graphs fixed it: the rule's policy now); `trail` the thread's audit trail
    (the votes a quorum has had); `requested_by` is who raised the request (recorded in state
    by the run that started it); `chain` the chain of stages it belongs to, as first raised.
    The `request_id` is derived from the thread and the running task (so it survives
    re-pauses of this node and differs for every other pause, including each vote of a
    quorum, whose votes the policy's `need` ties together) and `key` (e.g. a tool-call id);
    `validate_args(name, args)` checks edited arguments; `require_reference` accepts only
    answers that name this request (see `parse_answer`); `summary` is the graph's one line
    for the request (`summaries`); `conversation` what led an agent to a tool call.
    """
    config = get_config()
    policy = policy or request_policy(
        rule, request_facts(actions[0]["name"], actions[0]["args"], stage), _context()
    )
    need = policy.get("need")
    votes = request_votes(trail or [], need) if need else []
    args, counting = current_votes(votes, actions[0]["args"])
    actions = [ActionRequest(**{**actions[0], "args": args}), *actions[1:]]
    first = parse(votes[0].get("raised_at")) if votes else None
    request = build_request(
        actions,
        allowed,
        request_id=current_request_id(key),
        stage=stage,
        requested_by=requested_by,
        decided_by=policy["decided_by"],
        deadlines=deadlines(first or asked_at(), timing_of(policy)),
        earlier_decisions=earlier_decisions,
        chain=chain,
        need=need,
        progress=shown(need, counting) if need and is_quorum(need) else None,
        summary=summary,
        conversation=conversation,
    )
    request["rule"] = policy["rule"]
    if (answered := _answered_by_policy(request, policy)) is not None:
        return answered
    where = {"thread_id": run_thread_id(config), "graph": run_graph_id(config)}
    if not votes:
        announce("approval.requested", request, **where)  # once per request: a stable event id
    error: str | None = None
    while True:
        answer = interrupt(
            ApprovalRequest(**{**request, "error": error}), response_schema=RESPONSE_SCHEMA
        )
        if (expiring := expiry_in(answer)) is not None:
            error = expiry_refusal(request, expiring)
            if error is None:
                reason = (
                    f"expired at {request['expires_at']}: expire_after "
                    f"{policy['expire_after']:g} s of rule {policy['rule']!r}"
                )
                expiry = RejectDecision(type="reject", message=reason)
                announce("approval.expired", request, **where, reviewer=SYSTEM, reason=reason)
                record_decision(where["graph"], "expire", request["created_at"])
                return Review(request, [expiry] * len(actions), SYSTEM, expired=True)
            continue
        try:
            decisions = parse_answer(
                answer, request, validate_args, require_reference=require_reference
            )
        except Exception as failure:  # noqa: BLE001 - the boundary: no answer may raise
            error = f"{_refusal(failure)} {accepted_answers(request)}"
            continue
        identity = run_identity(config)
        withdrawing = decisions[0]["type"] == WITHDRAW
        approving = decisions[0]["type"] in APPROVING
        delegations = _delegations(identity.user) if identity else []
        acting = decider(identity, request, withdrawing, approving, delegations)
        if isinstance(acting, str):
            error = acting
            continue
        kinds = ", ".join(decision["type"] for decision in decisions)
        words = next((m for d in decisions if isinstance(m := d.get("message"), str) and m), None)
        announce(
            "approval.decided",
            request,
            **where,
            reviewer=acting.user,
            decision=kinds,
            reason=words,
        )
        record_decision(where["graph"], decisions[0]["type"], request["created_at"])
        decided = Decided(acting.user, **where, on_behalf_of=acting.on_behalf_of)
        log_decisions(policy.get("trace_id"), request, decisions, decided)
        deciding = sorted(acting.groups & set(request["decided_by"]))
        escalated_to = None
        if not deciding and not withdrawing:
            escalated_to = request.get("escalate_to")  # the policy let them in by escalation
            deciding = [escalated_to] if escalated_to else []
        review = Review(
            request,
            decisions,
            acting.user,
            escalated_to=escalated_to,
            groups=None if withdrawing else deciding,
            on_behalf_of=acting.on_behalf_of,
        )
        return _with_quorum(review, need, counting)


def _answered_by_policy(request: ApprovalRequest, policy: RequestPolicy) -> Review | None:
    """The review the policy gives without a person: a requirement that auto-approves or
    denies, or the standing grant that covers the request (unless its grantor decided an
    earlier stage of the chain); `None` when a person decides."""
    need, count = policy.get("need"), len(request["action_requests"])
    if need and need["outcome"] == "auto_approve":
        why = f"requirement {need['requirement']!r} of rule {policy['rule']!r}"
        return Review(request, [ApproveDecision(type="approve", message=why)] * count, SYSTEM)
    if need and need["outcome"] == "deny":
        why = (
            f"Denied by requirement {need['requirement']!r} of rule {policy['rule']!r}: "
            f"{need['because']}"
        )
        return Review(request, [RejectDecision(type="reject", message=why)] * count, SYSTEM)
    earlier = {
        person
        for entry in request.get("earlier_decisions") or []
        for person in (entry.get("reviewer"), entry.get("on_behalf_of"))
    }
    if (
        policy.get("grant")
        and policy["grant"].get("granted_by") not in earlier  # nobody decides two stages
        and (use := _still_granted(policy, request)) is not None
    ):
        decision = ApproveDecision(type="approve", message=use["comment"])
        grant = {"id": use["grant_id"], "granted_by": use["granted_by"]}
        return Review(
            request, [decision] * count, use["granted_by"], groups=use["groups"], grant=grant
        )
    return None


def _still_granted(policy: RequestPolicy, request: ApprovalRequest) -> GrantUse | None:
    """The use of a standing grant `policy` was raised with, checked again in the store (its
    claim is kept per request, so this consumes nothing more): state says a grant approved
    it, and only the store proves it."""
    store = _store()
    if store is None:
        return None
    action = request["action_requests"][0]
    return use_grant(
        store,
        rule=policy["rule"],
        facts=request_facts(
            action["name"],
            action["args"],
            request["stage"],
            requester=Identity(request["requested_by"], frozenset()),
        ),
        need=request["need"],
        request_id=request["need"].get("id", request["request_id"]),
        thread_id=run_thread_id(),
    )


def _with_quorum(review: Review, need: Need | None, votes: list[Vote]) -> Review:
    """`review` as a vote of its request's quorum: `partial` unless it decides the request
    (completes the approvals, or brings the rejections to what rejects it)."""
    if need is None or not is_quorum(need) or review.withdrawn:
        return review
    cast = Vote(
        review.reviewer,
        approves=review.decisions[0]["type"] in APPROVING,
        groups=frozenset(review.groups or ()),
        on_behalf_of=review.on_behalf_of,
        escalated=review.escalated_to is not None,
    )
    if review.decisions[0]["type"] == "edit":
        votes = []  # an edit resets the approvals: they approved other arguments
    counts = tally(need, [*votes, cast])
    if counts.complete and cast.approves:
        return review
    if counts.rejected and not cast.approves:
        return review
    return replace(review, partial=True)


def _store() -> BaseStore | None:
    """The deployment's store, where standing grants and delegations live; `None` without one."""
    try:
        return get_store()
    except (RuntimeError, KeyError):  # outside a graph, or run without a runtime
        return None


def _context() -> Any:
    """The running graph's context (an assistant's), `None` outside a runtime."""
    runtime = get_runtime()
    return runtime.context if runtime is not None else None


def _delegations(user: str) -> list[Delegation]:
    """The delegations that may let `user` decide on someone's behalf."""
    store = _store()
    return delegations_for(store, user) if store is not None else []


def _refusal(failure: Exception) -> str:
    """Why an answer was refused: its `InvalidAnswer` text, or what reading it provoked."""
    if isinstance(failure, InvalidAnswer):
        return str(failure)
    return f"The answer could not be read ({type(failure).__name__}: {cut(str(failure))})."
