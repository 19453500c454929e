"""multi_stage_approval: an ordered chain of approvers; the action runs once all approve.

    plan_chain ──▶ review_stage ──approve, more stages──▶ review_stage
        │               ├──approve, last stage──▶ execute ──▶ END
        │               └──reject / withdraw at any stage──▶ END (`rejected_at` names it)
        └──invalid input──▶ END (status "invalid", with the validation error)

Input: `{"action": {"name": "deploy_release", "args": {...}, "description": "..."}}`.
The chain (default `manager` then `security`) comes from the runtime context and is fixed
into state when the thread starts, so changing an assistant never reshuffles a pending chain.
Each stage is its own pause and shows the decisions of the stages before it. Stage `s` is
decided by the groups of rule `multi_stage_approval.s` in `signoff.toml` (default: manager →
managers, security → security); nobody decides two stages, and the requester decides none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field

from signoff.approval import ActionRequest, ask_for_decisions
from signoff.audit import AuditEntry
from signoff.deadlines import DeadlineOverrides
from signoff.execution import chain_refusal, execute_once, refused
from signoff.outcome import InvalidInput, Outcome, finished, record_review, starts_request
from signoff.state_api import served


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
    """The action, its chain, the chain's decisions so far, and (from `Outcome`) the result."""

    action: dict[str, Any]
    stages: NotRequired[list[str]]
    chain_decisions: NotRequired[list[AuditEntry]]
    """This action's stage decisions, oldest first (`audit` keeps the whole thread's)."""
    rejected_at: NotRequired[str | None]


@starts_request
def plan_chain(
    state: State, runtime: Runtime[ApprovalChain]
) -> Command[Literal["review_stage", "__end__"]]:
    """Validate the action and fix the chain of stages for this thread."""
    stages = (runtime.context or ApprovalChain()).stages
    action = Action.model_validate(state["action"]).model_dump()
    if not stages or len(set(stages)) != len(stages):
        raise InvalidInput(f"stages must be a non-empty list of distinct names, got {stages!r}")
    update = {
        "action": action,
        "stages": stages,
        "chain_decisions": [],
        "rejected_at": None,
    }
    return Command(update=update, goto="review_stage")


def review_stage(state: State) -> Command[Literal["review_stage", "execute", "__end__"]]:
    """Ask the next stage in the chain, showing what the earlier stages decided."""
    action, earlier = state["action"], state["chain_decisions"]
    stage = state["stages"][len(earlier)]
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
        earlier_decisions=list(earlier),
    )
    update = record_review(review, state["audit"])
    update["chain_decisions"] = [*earlier, *update["audit"]]
    if finished(update):
        return Command(update={**update, "rejected_at": stage}, goto=END)
    last = len(earlier) + 1 == len(state["stages"])
    return Command(update=update, goto="execute" if last else "review_stage")


def execute(state: State) -> dict[str, Any]:
    """Run the action the whole chain approved (each stage by someone else), once."""
    action, chain, trail = state["action"], state["chain_decisions"], state["audit"]
    if reason := chain_refusal(state["stages"], chain, trail):
        return refused(reason)
    return execute_once(action["name"], action["args"], trail)


builder = StateGraph(State, context_schema=ApprovalChain, input_schema=Input)
builder.add_node(plan_chain)
builder.add_node(review_stage)
builder.add_node(execute)
builder.add_edge(START, "plan_chain")
builder.add_edge("execute", END)


def build() -> CompiledStateGraph:
    """Compile the graph."""
    return builder.compile(name="multi_stage_approval")


graph = build()
served_graph = served(graph)
