"""approve_reject: one risky operation, run by the policy's leave or by people's approval.

    assess_risk ──low──▶ auto_approve ──▶ execute ──▶ END
         ├──high──▶ review ──approved (every vote its requirement needs)──▶ execute
         │             ├──a vote, more needed──▶ review (shows "1 of 2: ...")
         │             └──reject / withdraw / denied──▶ END (status "rejected" / "withdrawn")
         └──invalid input──▶ END (status "invalid", with the validation error)

Input: `{"operation": {"kind": "payment", "amount": 2500, "target": "acct-9", ...}}`.
What an operation needs is the `approve_reject` rule of `signoff.toml`
(`[[policy.rules.approve_reject]]`): the shipped rule lets payments up to the assistant's
`auto_approve_limit` run without a person (unless their target is in `review_targets`), asks
one manager up to 10,000, and a manager and someone from finance above that. Those two
thresholds are the runtime context (`RiskPolicy`), which only admins may set (on an
assistant); conditions read them as `context.auto_approve_limit`. A standing grant that covers
the operation approves it without pausing. The requester is the user who started the run;
they never decide, but may withdraw the request instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field

from signoff.execution.approved import execute_once
from signoff.governance.audit import SYSTEM, auto_approval_entry
from signoff.governance.deadlines import DeadlineOverrides
from signoff.governance.state_edits import served
from signoff.protocol.shapes import ActionRequest, Need
from signoff.protocol.summaries import amount_text, clip
from signoff.review.ask import ask_for_decisions, current_request_id, raise_policy
from signoff.review.outcome import Outcome, finished, record_review, starts_request
from signoff.settings import LEGACY_REQUIREMENT

RULE = "approve_reject"
"""The policy rule of this graph's requests (`signoff.toml` `[policy.deciders]`)."""


@dataclass(kw_only=True)
class RiskPolicy(DeadlineOverrides):
    """When an operation may run without a person (and, for those that wait, their deadlines)."""

    auto_approve_limit: float = field(
        default=1000.0,
        metadata={"description": "Operations with an amount at or below this auto-approve."},
    )
    review_targets: list[str] = field(
        default_factory=list,
        metadata={"description": "Targets that always need a person, whatever the amount."},
    )


class Risk(TypedDict):
    """The outcome of classifying one operation."""

    level: Literal["low", "high"]
    """low runs without a person; high pauses for approval."""

    rule: str
    """The rule that decided, in words, as recorded in the audit trail."""


def classify(operation: dict[str, Any], policy: RiskPolicy, need: Need) -> Risk:
    """Classify `operation` (with `amount` and `target`) by what the policy says it needs.
    Under a rule written before requirements (`[policy.deciders]`), the context's
    `auto_approve_limit` and `review_targets` classify it, as they always did."""
    if need["requirement"] != LEGACY_REQUIREMENT:
        level: Literal["low", "high"] = "low" if need["outcome"] == "auto_approve" else "high"
        why = need["because"] or (
            f"{need['when']} holds" if need["when"] else "no requirement before it matched"
        )
        return Risk(level=level, rule=f"requirement {need['requirement']!r} of {RULE!r}: {why}")
    amount, target = operation["amount"], operation["target"]
    if target in policy.review_targets:
        return Risk(level="high", rule=f"target {target!r} is in review_targets")
    if amount > policy.auto_approve_limit:
        return Risk(
            level="high",
            rule=f"amount {amount} exceeds auto_approve_limit {policy.auto_approve_limit}",
        )
    return Risk(
        level="low",
        rule=f"amount {amount} is within auto_approve_limit {policy.auto_approve_limit}",
    )


class Operation(BaseModel):
    """An operation that cannot be taken back, with the attributes risk is judged on."""

    kind: str = Field(default="payment", min_length=1)
    amount: float = Field(gt=0)
    target: str = Field(min_length=1)
    currency: str = "USD"
    description: str = ""


class Input(TypedDict):
    """What a client may send: the operation. Who asks is the authenticated caller."""

    operation: dict[str, Any]


class State(Outcome):
    """The operation, its risk, and (from `Outcome`) who asked, the decision and what
    happened."""

    operation: dict[str, Any]
    risk: NotRequired[Risk]


@starts_request
def assess_risk(
    state: State, runtime: Runtime[RiskPolicy]
) -> Command[Literal["auto_approve", "review", "__end__"]]:
    """Validate the operation, classify its risk under the context's policy, and fix the
    policy of the request it may raise."""
    context = runtime.context or RiskPolicy()
    operation = Operation.model_validate(state["operation"]).model_dump()
    action = ActionRequest(name=operation["kind"], args=operation)
    policy = raise_policy(RULE, action, "review", context)
    risk = classify(operation, context, policy["need"])
    update = {"operation": operation, "risk": risk, "policy": policy}
    return Command(update=update, goto="auto_approve" if risk["level"] == "low" else "review")


def auto_approve(state: State) -> dict[str, Any]:
    """Record that the policy, not a person, approved this operation."""
    operation, rule = state["operation"], state["risk"]["rule"]
    need = state["policy"].get("need")
    entry = auto_approval_entry(
        operation["kind"], operation, rule, current_request_id(), state["audit"], need
    )
    return {"decision": "auto_approve", "reviewers": [SYSTEM], "audit": [entry]}


def payment_summary(operation: dict[str, Any]) -> str:
    """The operation in one line, its amount and target never cut: the requester's free text
    (`kind`, `currency`) is cut short first."""
    kind, currency = clip(operation["kind"], 40), clip(operation["currency"], 12)
    amount, target = amount_text(operation["amount"]), clip(operation["target"], 60)
    return f"{kind} of {amount} {currency} to {target}"


def review(state: State) -> Command[Literal["execute", "review", "__end__"]]:
    """Pause until the people the operation's requirement names approve it (one vote per
    pause), someone rejects it, or the policy answers without a person."""
    operation = state["operation"]
    action = ActionRequest(
        name=operation["kind"],
        args=operation,
        description=f"High risk because {state['risk']['rule']}.",
    )
    review = ask_for_decisions(
        [action],
        [["approve", "reject"]],
        stage="review",
        rule=RULE,
        requested_by=state["requested_by"],
        policy=state.get("policy"),
        trail=state["audit"],
        summary=payment_summary(operation),
    )
    update = record_review(review, state["audit"])
    if review.partial:
        return Command(update=update, goto="review")
    return Command(update=update, goto="__end__" if finished(update) else "execute")


def execute(state: State) -> dict[str, Any]:
    """Carry out the approved operation, once, if the signed trail approves it."""
    return execute_once(state["operation"]["kind"], state["operation"], state["audit"])


builder = StateGraph(State, context_schema=RiskPolicy, input_schema=Input)
builder.add_node(assess_risk)
builder.add_node(auto_approve)
builder.add_node(review)
builder.add_node(execute)
builder.add_edge(START, "assess_risk")
builder.add_edge("auto_approve", "execute")
builder.add_edge("execute", END)


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the graph."""
    return builder.compile(name="approve_reject")


graph = build()
served_graph = served(graph)
