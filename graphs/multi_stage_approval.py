"""multi_stage_approval: an ordered chain of approvers; the action runs once all approve.

    plan_chain ──▶ review_stage ──approve, a stage still to approve──▶ review_stage
        │               ├──approve, every stage approved──▶ execute ──▶ END
        │               └──reject / withdraw at any stage──▶ END (`rejected_at` names it)
        └──invalid input──▶ END (status "invalid", with the validation error)

Input: `{"action": {"name": "deploy_release", "args": {...}, "description": "..."}}`.
The chain (default `manager` then `security`) comes from the runtime context and is fixed
into state when the thread starts, with each stage's policy, so changing an assistant never
reshuffles a pending chain. Each stage is its own pause and shows the approvals before it.
Stage `s` is decided by the groups of rule `multi_stage_approval.s` in `signoff.toml` (default:
manager → managers, security → security); nobody decides two stages, and the requester
decides none. Every stage of the chain as it was raised must approve exactly the arguments
that run. An admin's `update_state` written as `plan_chain` (audited) sends the chain back to
review: a stage that approved other arguments is asked again, and stages cut from the chain
after it was raised are asked all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field

from signoff.execution.approved import (
    chain_refusal,
    execute_once,
    refused,
    stage_approvals,
    stages_as_raised,
)
from signoff.governance.audit import AuditEntry
from signoff.governance.deadlines import DeadlineOverrides
from signoff.governance.policy import RequestPolicy
from signoff.governance.quorum import request_votes
from signoff.governance.state_edits import served
from signoff.protocol.shapes import ActionRequest, Chain
from signoff.review.ask import ask_for_decisions, current_request_id, raise_policy
from signoff.review.outcome import InvalidInput, Outcome, finished, record_review, starts_request


@dataclass(kw_only=True)
class ApprovalChain(DeadlineOverrides):
    """Who must approve, in order (and how long each stage may wait)."""

    stages: list[str] = field(
        default_factory=lambda: ["manager", "security"],
        metadata={"description": "Approval stages in order; every one must approve."},
    )


class Action(BaseModel):
    """The action awaiting the chain's approval."""

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    description: str = ""


class Input(TypedDict):
    """What a client may send: the action. Who asks is the authenticated caller."""

    action: dict[str, Any]


class State(Outcome):
    """The action, its chain and each stage's policy, and (from `Outcome`) the result."""

    action: dict[str, Any]
    stages: NotRequired[list[str]]
    chain_id: NotRequired[str]
    """The chain's id: its stages' requests and decisions carry it (`Chain`)."""
    policies: NotRequired[dict[str, RequestPolicy]]
    """Stage → the policy its request is raised with, fixed when the chain is planned."""
    rejected_at: NotRequired[str | None]


@starts_request
def plan_chain(state: State, runtime: Runtime[ApprovalChain]) -> dict[str, Any]:
    """Validate the action and fix the chain of stages, and each stage's policy."""
    context = runtime.context or ApprovalChain()
    stages = context.stages
    action = Action.model_validate(state["action"]).model_dump()
    if not stages or len(set(stages)) != len(stages):
        raise InvalidInput(f"stages must be a non-empty list of distinct names, got {stages!r}")
    request = ActionRequest(name=action["name"], args=action["args"])
    return {
        "action": action,
        "stages": stages,
        "chain_id": current_request_id(),
        "policies": {
            stage: raise_policy(f"multi_stage_approval.{stage}", request, stage, context, key=stage)
            for stage in stages
        },
        "rejected_at": None,
    }


def route_chain(state: State) -> Literal["review_stage", "__end__"]:
    """Review a planned chain. An edge, not a `Command`: `update_state` written as
    `plan_chain` is followed by this edge too, so an edited chain goes back to review."""
    return "__end__" if state.get("status") == "invalid" else "review_stage"


def review_stage(state: State) -> Command[Literal["review_stage", "execute", "__end__"]]:
    """Ask the first stage that has not approved the action as it is now, showing the
    approvals of the stages before it."""
    action, chain, trail = state["action"], chain_of(state), state["audit"]
    stages = stages_as_raised(trail, chain)
    approved = stage_approvals(trail, chain, action["name"], action["args"])
    waiting = [stage for stage in stages if stage not in approved]
    if not waiting:  # every stage approved already (an admin ran the thread on from here)
        return Command(goto="execute")
    stage = waiting[0]
    review = ask_for_decisions(
        [
            ActionRequest(
                name=action["name"],
                args=action["args"],
                description=action["description"] or f"Run {action['name']}.",
            )
        ],
        [["approve", "reject"]],
        stage=stage,
        rule=f"multi_stage_approval.{stage}",
        requested_by=state["requested_by"],
        policy=state.get("policies", {}).get(stage),
        trail=trail,
        earlier_decisions=[
            dict(vote) for s in stages if s in approved for vote in _votes_of(trail, approved[s])
        ],
        chain=Chain(id=chain["id"], stages=stages),  # as raised, whatever state says now
    )
    update = record_review(review, trail)
    if finished(update):
        return Command(update={**update, "rejected_at": stage}, goto="__end__")
    now_approved = stage_approvals(
        [*trail, *update["audit"]], chain, action["name"], action["args"]
    )
    done = all(stage in now_approved for stage in stages)
    return Command(update=update, goto="execute" if done else "review_stage")


def execute(state: State) -> dict[str, Any]:
    """Run the action every stage of the chain approved (each a different person), once."""
    action, trail = state["action"], state["audit"]
    if reason := chain_refusal(trail, chain_of(state), action["name"], action["args"]):
        return refused(reason)
    return execute_once(action["name"], action["args"], trail)


def _votes_of(trail: list[AuditEntry], approval: AuditEntry) -> list[AuditEntry]:
    """The votes that made `approval`'s stage approve: its request's approvals of the same
    arguments (itself, for a stage one person decides)."""
    need = approval.get("need")
    votes = request_votes(trail, need) if need else []
    same = [vote for vote in votes if vote.get("args_after") == approval["args_after"]]
    return same or [approval]


def chain_of(state: State) -> Chain:
    """The thread's chain: its id (none for a chain planned before chains had one, whose
    stages are then all asked again) and its stages."""
    return Chain(id=state.get("chain_id", ""), stages=state["stages"])


builder = StateGraph(State, context_schema=ApprovalChain, input_schema=Input)
builder.add_node(plan_chain)
builder.add_node(review_stage)
builder.add_node(execute)
builder.add_edge(START, "plan_chain")
builder.add_conditional_edges("plan_chain", route_chain)
builder.add_edge("execute", END)


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the graph."""
    return builder.compile(name="multi_stage_approval")


graph = build()
served_graph = served(graph)
