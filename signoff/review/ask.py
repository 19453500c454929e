"""Pause a graph for a decision and keep pausing until the answer is usable.

`ask_for_decisions` is the only place signoff calls `interrupt()`. Nothing a reviewer sends
is raised out of the node: that would store the bad value as the resume write and replay it on
every later attempt, wedging the thread. Reading an answer is the boundary: any exception
there (an `InvalidAnswer`, or anything else a malformed value provokes) becomes a new pause
with the same request and an `error`, and the next correct answer completes it. What is read
is bounded first (`bounds`). Call it before any side effect: the code before it re-runs on
every resume.

A usable answer from someone the policy refuses (`signoff.governance.policy`: not in the request's
groups, its requester, an earlier stage's approver, no identity at all) is refused the same
way: the request stays pending, its `error` names who may answer, and nothing runs. The
server's auth refuses such answers before they are written; this is the second line.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.runtime import get_runtime
from langgraph.types import interrupt

from signoff.governance.deadlines import asked_at, deadlines
from signoff.governance.identity import run_identity, run_thread_id
from signoff.governance.policy import (
    RequestPolicy,
    decision_refusal,
    expiry_refusal,
    request_policy,
    timing_of,
)
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
    Chain,
    Decision,
    DecisionType,
    RejectDecision,
    build_request,
)
from signoff.signals.events import announce
from signoff.signals.metrics import record_decision

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


def ask_for_decisions(
    actions: list[ActionRequest],
    allowed: list[list[DecisionType]],
    *,
    stage: str,
    rule: str,
    requested_by: str,
    policy: RequestPolicy | None = None,
    key: str = "",
    validate_args: ArgsValidator | None = None,
    earlier_decisions: list[dict[str, Any]] | None = None,
    chain: Chain | None = None,
    require_reference: bool = False,
) -> Review:
    """Show `actions` for review and return the first answer that parses.

    `allowed[i]` lists the decisions accepted for `actions[i]`; `rule` names the policy rule
    saying who may decide (a graph, `graph.stage` or a tool name); `policy` is the request's
    policy as the graph fixed it in state before asking (`None`, for a request raised before
    graphs fixed it: the rule's policy now); `requested_by` is who raised the request
    (recorded in state by the run that started it); `chain` the chain of stages it belongs
    to, as first raised. The `request_id` is derived
    from the thread and the running task (so it survives re-pauses of this node and differs for
    every other pause) and `key` (e.g. a tool-call id);
    `validate_args(name, args)` checks edited arguments; `require_reference` accepts only
    answers that name this request (see `parse_answer`).
    """
    config = get_config()
    policy = policy or request_policy(rule, get_runtime().context)
    request = build_request(
        actions,
        allowed,
        request_id=current_request_id(key),
        stage=stage,
        requested_by=requested_by,
        decided_by=policy["decided_by"],
        deadlines=deadlines(asked_at(), timing_of(policy)),
        earlier_decisions=earlier_decisions,
        chain=chain,
    )
    where = {"thread_id": run_thread_id(config), "graph": _graph_of(config)}
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
        if refusal := decision_refusal(identity, request, withdrawing=withdrawing):
            error = refusal
            continue
        assert identity is not None  # the policy refuses every answer without one
        kinds = ", ".join(decision["type"] for decision in decisions)
        words = next((m for d in decisions if isinstance(m := d.get("message"), str) and m), None)
        announce(
            "approval.decided",
            request,
            **where,
            reviewer=identity.user,
            decision=kinds,
            reason=words,
        )
        record_decision(where["graph"], decisions[0]["type"], request["created_at"])
        escalated_to = None
        if not identity.groups & set(request["decided_by"]) and not withdrawing:
            escalated_to = request.get("escalate_to")  # the policy let them in by escalation
        return Review(request, decisions, identity.user, escalated_to=escalated_to)


def _graph_of(config: RunnableConfig) -> str:
    """The graph the running task belongs to: the server's `graph_id`, else the run's name."""
    configurable, metadata = config.get("configurable") or {}, config.get("metadata") or {}
    return str(
        configurable.get("graph_id") or metadata.get("graph_id") or config.get("run_name") or ""
    )


def _refusal(failure: Exception) -> str:
    """Why an answer was refused: its `InvalidAnswer` text, or what reading it provoked."""
    if isinstance(failure, InvalidAnswer):
        return str(failure)
    return f"The answer could not be read ({type(failure).__name__}: {cut(str(failure))})."
