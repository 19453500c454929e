"""Typed shapes of the approval protocol: the request a graph shows and the decision it gets.

How each decision may be written (langchain, Agent Inbox, text) is `grammar.GRAMMAR`.

The request is langchain's `HITLRequest` (`action_requests` + `review_configs`), so Studio,
Agent Inbox adapters and langchain users recognise it, plus signoff's own fields:

- `request_id`: stable for one pending approval, across every re-pause of it.
- `args_digest`: binds an answer to the exact arguments shown, and to the request's policy
  (deciders, escalation, deadlines) and chain; an answer may echo it back, and every decision
  entry on the audit trail records it.
- `stage`, `requested_by`, `decided_by`: which stage is asked, who raised the request (they may
  not decide it) and which groups may (`signoff.governance.policy`).
- `error`: why the previous answer was refused (`None` on the first pause).
- `earlier_decisions`, `chain`: for chains of approvals, what earlier stages decided, and the
  chain's stages as it was raised.
- `version`: the version of this shape (`REQUEST_VERSION`); readers upgrade older requests and
  refuse newer ones (`versions`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, NotRequired, TypedDict, get_args

from signoff.protocol.summaries import (
    inbox_arguments,
    inbox_description,
    one_line,
    summarize,
    with_more,
)

DecisionType = Literal["approve", "edit", "reject", "respond"]
"""The decisions a request may allow an approver, per action."""
DECISION_TYPES: tuple[DecisionType, ...] = get_args(DecisionType)
WITHDRAW: Literal["withdraw"] = "withdraw"
"""Not a decision on the action: the requester (or an admin) takes the whole request back.
Always accepted from them, never from anyone else."""
AnswerType = DecisionType | Literal["withdraw"]
"""What a usable answer may decide: one of the decisions, or a withdrawal."""
EXPIRE: Literal["expire"] = "expire"
"""The type of the answer the sweeper sends once a request's `expires_at` has passed,
`{"type": "expire", "request_id": ...}`: not a person's decision; the node checks the time
and the request id itself and rejects the request as expired, decided by `SYSTEM`."""
Status = Literal["invalid", "executed", "sent", "rejected", "withdrawn", "expired", "refused"]
"""How a single-action request ended (`signoff.review.outcome.Outcome.status`)."""

RequirementOutcome = Literal["auto_approve", "deny", "approve"]
"""What a policy requirement says of the requests it matches: they run without a person,
never run, or wait for the approvals of its quotas (`signoff.governance.requirements`)."""


class QuotaShape(TypedDict):
    """`count` approvals, each by a different person in one of `groups`."""

    groups: list[str]
    count: int


class Need(TypedDict):
    """What a request needs, by the policy requirement that applied when it was raised."""

    id: NotRequired[str]
    """The request as raised: every pause of it (one per vote of a quorum, and again after
    a state edit) and every vote on it carries this id, as each pause has its own
    `request_id`."""

    requirement: str
    """The requirement's name (`strictest` when the policy failed closed)."""

    when: str | None
    """Its condition as written (CEL), `None` for one that matches every request."""

    outcome: RequirementOutcome
    """auto_approve, deny, or approve (by `quotas`)."""

    quotas: list[QuotaShape]
    """For `approve`: every quota must be met, each approval by a different person."""

    rejections: int
    """How many different people must reject it to reject it (1: one veto)."""

    because: str | None
    """Why: the deny reason, or why the policy failed closed; `None` otherwise."""


class Progress(TypedDict):
    """How far a request needing several approvals has come (`signoff.governance.quorum`)."""

    summary: str
    """E.g. `1 of 2: bob approved; waiting for 1 of finance`."""

    approved_by: list[str]
    rejected_by: list[str]
    waiting_for: list[QuotaShape]
    """The approvals still missing, per quota."""

    votes: list[dict[str, Any]]
    """Each answer so far: reviewer, approves, groups, on_behalf_of, escalated."""


SYSTEM = "system"
"""The reviewer of decisions no person made: auto-approvals and expiries."""


class ActionRequest(TypedDict):
    """One action awaiting review: what would run, with which arguments, and why."""

    name: str
    """The action or tool name, e.g. `"send_payment"`."""

    args: dict[str, Any]
    """The exact arguments that would run if approved."""

    description: NotRequired[str]
    """A human-readable account of what approving would do."""

    args_schema: NotRequired[dict[str, Any]]
    """JSON Schema of `args`, where the action may be edited: what the web inbox builds its
    edit form from. The review node validates edits with the same model."""

    arguments: NotRequired[dict[str, Any]]
    """The same arguments under the key Agent Inbox reads (its HITL adapter shows and edits
    `arguments`), numbers as text so that it renders them (`summaries.inbox_arguments`); set
    by `build_request`, never read back."""


class ReviewConfig(TypedDict):
    """Which decisions the reviewer may make on one action."""

    action_name: str
    """The `name` of the action this config applies to."""

    allowed_decisions: list[DecisionType]
    """The decision types accepted for that action."""


class Chain(TypedDict):
    """The chain of stages a request belongs to, as the chain was first raised."""

    id: str
    """The chain's id: the same for each stage's request."""

    stages: list[str]
    """Every stage that must approve, in order."""


class Conversation(TypedDict):
    """What led a model to a tool call, shown beside the call (each cut to
    `CONVERSATION_CHARACTERS`)."""

    user: str | None
    """The last message of the person the agent answered."""

    assistant: str | None
    """The text the model wrote with the call, if any."""


CONVERSATION_CHARACTERS = 2000
"""The most of each message a request shows."""


REQUEST_VERSION = 2
"""The version of the `ApprovalRequest` shape this code raises. A request without `version` is
version 1, the shape before versions; `versions.upgraded` reads every version up to this one.
Raise it with every change to the shape that a reader must know of, and add the step that
upgrades the version before (`versions`)."""


class ApprovalRequest(TypedDict):
    """The value of every signoff interrupt."""

    version: int
    """The version of this shape (`REQUEST_VERSION` when raised). Readers read a request
    through `versions.upgraded`, which upgrades an older one and refuses a newer one."""

    action_requests: list[ActionRequest]
    """The actions under review, in order; answers must come in the same order."""

    review_configs: list[ReviewConfig]
    """One per action request, at the same position."""

    request_id: str
    """Id of this pause: unchanged when the node pauses again after a bad answer, new for every
    other pause (another stage, another request on the thread, a state edit). An answer may
    carry it, and must then match."""

    args_digest: str
    """SHA-256 of this request's id, stage and actions. An answer carrying it must match, so
    an answer given to one pause can never approve another."""

    stage: str
    """The approval stage being asked, e.g. `"review"`, `"manager"`, `"security"`."""

    requested_by: str
    """The authenticated user who started the run that raised this request; they may not
    decide it (four-eyes), but may withdraw it."""

    decided_by: list[str]
    """The groups whose members may decide this request (`signoff.toml` `[policy]`)."""

    error: str | None
    """Why the previous answer was refused and what is accepted; `None` on a first pause."""

    created_at: str
    """When the request was raised (ISO 8601, UTC); its deadlines count from here."""

    remind_at: NotRequired[str]
    """When the deciders are reminded (`approval.reminded`), if its policy says."""

    escalates_at: NotRequired[str]
    """From when members of `escalate_to` may decide it too (`approval.escalated`)."""

    escalate_to: NotRequired[str]
    """The group escalation adds to `decided_by`."""

    expires_at: NotRequired[str]
    """When it is rejected as expired, decided by `system`, if nobody decided it first."""

    earlier_decisions: NotRequired[list[dict[str, Any]]]
    """Audit entries of earlier stages of the same chain, oldest first."""

    chain: NotRequired[Chain]
    """The chain this stage belongs to: every stage of it must approve the same arguments."""

    rule: NotRequired[str]
    """The policy rule it falls under: a graph, `graph.stage` of a chain, or a tool (what a
    standing grant names)."""

    need: NotRequired[Need]
    """Whose approvals it needs (the policy requirement that applied when it was raised)."""

    progress: NotRequired[Progress]
    """The approvals given so far, when it needs more than one."""

    summary: NotRequired[str]
    """One line its graph made of what approving does, e.g. `payment of 980,000 USD to
    acct-offshore-7`: shown first in every list (`summaries.summary_of` reads requests raised
    without one). Also the start of each action's `description` as Agent Inbox sees it."""

    conversation: NotRequired[Conversation]
    """For an agent's tool call: the conversation that led to it."""


class ApproveDecision(TypedDict):
    """Run the action with the arguments shown."""

    type: Literal["approve"]
    message: NotRequired[str]
    """The approver's comment, when given (recorded in the audit entry)."""


class EditDecision(TypedDict):
    """Run the action with other arguments."""

    type: Literal["edit"]
    args: dict[str, Any]
    """The validated replacement arguments."""


class RejectDecision(TypedDict):
    """Do not run the action."""

    type: Literal["reject"]
    message: NotRequired[str]
    """The reviewer's reason, when given."""


class RespondDecision(TypedDict):
    """Do not run the action; its result is the reviewer's text."""

    type: Literal["respond"]
    message: str
    """The text returned as the action's result."""


class WithdrawDecision(TypedDict):
    """The requester (or an admin) took the whole request back; nothing runs."""

    type: Literal["withdraw"]
    message: NotRequired[str]
    """Why, when given."""


Decision = ApproveDecision | EditDecision | RejectDecision | RespondDecision | WithdrawDecision
"""One normalised answer for one action, whichever format it arrived in (`grammar`): a union
tagged by `type`, as langchain's `HumanInTheLoopMiddleware` types its decisions."""


def args_to_run(action: ActionRequest, decision: Decision) -> dict[str, Any] | None:
    """The arguments `action` runs with under `decision`; `None` when it does not run."""
    if decision["type"] == "approve":
        return action["args"]
    if decision["type"] == "edit":
        return decision["args"]
    return None


DIGESTED_TERMS = (
    "decided_by",
    "created_at",
    "remind_at",
    "escalates_at",
    "escalate_to",
    "expires_at",
    "chain",
    "need",
)
"""The request fields its digest binds besides the actions: its policy and its chain."""


def args_digest(
    actions: list[ActionRequest],
    request_id: str = "",
    stage: str = "",
    terms: dict[str, Any] | None = None,
) -> str:
    """A SHA-256 hex digest binding the actions' names and arguments (key-order independent)
    to the pause that shows them and to its `terms` (`DIGESTED_TERMS` of the request)."""
    canonical = json.dumps(
        {
            "request_id": request_id,
            "stage": stage,
            "actions": [{"name": a["name"], "args": a["args"]} for a in actions],
            **(terms or {}),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_request(
    actions: list[ActionRequest],
    allowed: list[list[DecisionType]],
    *,
    request_id: str,
    stage: str,
    requested_by: str,
    decided_by: list[str],
    deadlines: dict[str, str],
    earlier_decisions: list[dict[str, Any]] | None = None,
    chain: Chain | None = None,
    need: Need | None = None,
    progress: Progress | None = None,
    summary: str | None = None,
    conversation: Conversation | None = None,
) -> ApprovalRequest:
    """Assemble the interrupt value for `actions`, with `allowed[i]` the decisions for action i
    and `deadlines` its `created_at` and deadline fields (`signoff.governance.deadlines`);
    `summary` is the graph's line for it (by default, one made from its first action)."""
    summaries = [
        one_line(summary) if summary and n == 0 else summarize(action["name"], action["args"])
        for n, action in enumerate(actions)
    ]
    summary = with_more(summaries[0], len(actions))
    request = ApprovalRequest(
        version=REQUEST_VERSION,
        action_requests=[
            ActionRequest(
                **{
                    **action,
                    "description": inbox_description(line, action.get("description", "")),
                },
                arguments=inbox_arguments(action["args"]),
            )
            for action, line in zip(actions, summaries, strict=True)
        ],
        review_configs=[
            ReviewConfig(action_name=action["name"], allowed_decisions=list(decisions))
            for action, decisions in zip(actions, allowed, strict=True)
        ],
        request_id=request_id,
        args_digest="",
        stage=stage,
        requested_by=requested_by,
        decided_by=decided_by,
        error=None,
        **deadlines,  # type: ignore[typeddict-item]
    )
    if earlier_decisions is not None:
        request["earlier_decisions"] = earlier_decisions
    if chain is not None:
        request["chain"] = chain
    if need is not None:
        request["need"] = need
    if progress is not None:
        request["progress"] = progress
    request["summary"] = summary
    if conversation is not None:
        request["conversation"] = conversation
    fields: dict[str, Any] = dict(request)
    terms = {term: fields[term] for term in DIGESTED_TERMS if term in fields}
    request["args_digest"] = args_digest(actions, request_id, stage, terms)
    return request
