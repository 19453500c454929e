"""edit_state: prepare a draft message, let a person approve, edit or reject it, then send it.

    draft_message ──▶ review_draft ──approve / edit──▶ send ──▶ END
          │                 └──reject / withdraw──▶ END (status "rejected" / "withdrawn")
          └──invalid brief──▶ END (status "invalid", with the validation error)

Input: `{"brief": {"to": ["ops@example.com"], "topic": "the Friday outage", "details": "..."}}`.
Edits are validated (`MessageDraft`) and their diff is audited. Members of the `edit_state`
rule's groups (managers) decide, never the requester. An admin may also change `draft` with
`update_state` while paused: the state API audits that edit with their name, the draft is
validated again, and the changed draft is only approved by an answer that names the new
request (its `request_id` or `args_digest`), so nobody approves a draft they were not shown.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NotRequired, TypedDict, cast

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field, ValidationError, field_validator

from signoff.execution.approved import execute_once
from signoff.governance.deadlines import DeadlineOverrides
from signoff.governance.state_edits import served
from signoff.protocol.parsing import describe_error
from signoff.protocol.shapes import ActionRequest, DecisionType, args_to_run
from signoff.review.ask import ask_for_decisions, raise_policy
from signoff.review.outcome import Outcome, record_review, starts_request

ACTION = "send_message"
RULE = "edit_state"
"""The policy rule of this graph's reviews (`signoff.toml` `[policy.deciders]`)."""


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MessageDraft(BaseModel):
    """A message ready to send; validation runs on every edit before anything is sent."""

    to: list[str] = Field(min_length=1, max_length=50, description="Recipient email addresses.")
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000)

    @field_validator("to")
    @classmethod
    def _addresses_are_emails(cls, to: list[str]) -> list[str]:
        bad = [address for address in to if not _EMAIL.match(address)]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return to

    @field_validator("subject", "body")
    @classmethod
    def _no_template_left(cls, text: str) -> str:
        if "{{" in text or "}}" in text:
            raise ValueError("contains an unfilled {{placeholder}}")
        return text


class Brief(BaseModel):
    """What the sender asked for."""

    to: list[str] = Field(min_length=1)
    topic: str = Field(min_length=1)
    details: str = ""


def prepare_draft(brief: Brief) -> MessageDraft:
    """Write a first draft from `brief` (deterministic; a model can replace this step)."""
    details = f"\n\n{brief.details.strip()}" if brief.details.strip() else ""
    body = (
        f"Hello,\n\nWe are writing about {brief.topic.strip()}.{details}\n\nBest regards,\nThe team"
    )
    return MessageDraft(to=brief.to, subject=brief.topic.strip().capitalize(), body=body)


def validate_draft(_name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Approval-protocol validator for edited drafts: returns the normalised draft."""
    return MessageDraft.model_validate(args).model_dump()


DRAFT_SCHEMA = MessageDraft.model_json_schema()
"""What an edit form of the draft is built from (`signoff.server.inbox.forms`)."""


class Input(TypedDict):
    """What a client may send: the brief."""

    brief: dict[str, Any]


class State(Outcome):
    """The brief, the draft as prepared, the draft under review, and what was sent."""

    brief: dict[str, Any]
    prepared_draft: NotRequired[dict[str, Any]]
    draft: NotRequired[dict[str, Any]]
    final: NotRequired[dict[str, Any] | None]


@starts_request
def draft_message(state: State, runtime: Runtime[DeadlineOverrides]) -> dict[str, Any]:
    """Turn the brief into a first draft, and fix the policy of its review."""
    draft = prepare_draft(Brief.model_validate(state["brief"])).model_dump()
    policy = raise_policy(RULE, ActionRequest(name=ACTION, args=draft), "review", runtime.context)
    return {"prepared_draft": draft, "draft": draft, "final": None, "policy": policy}


def route_draft(state: State) -> Literal["review_draft", "__end__"]:
    """Review a prepared draft. An edge, not a `Command`: `update_state` while paused is
    applied as `draft_message`, and this edge then sends the edited draft back to review."""
    return "__end__" if state.get("status") == "invalid" else "review_draft"


def review_draft(state: State) -> Command[Literal["send", "review_draft", "__end__"]]:
    """Show the current draft; a direct state edit that fails validation cannot be approved."""
    draft, prepared = state["draft"], state["prepared_draft"]
    problem = _validation_problem(draft)
    action = ActionRequest(
        name=ACTION,
        args=draft,
        args_schema=DRAFT_SCHEMA,
        description=f"Send {draft.get('subject')!r} to {', '.join(draft.get('to') or [])}."
        + (
            f" The draft in state is not sendable ({problem}): edit or reject it."
            if problem
            else ""
        ),
    )
    allowed: list[DecisionType] = ["edit", "reject"] if problem else ["approve", "edit", "reject"]
    review = ask_for_decisions(
        [action],
        [allowed],
        stage="review",
        rule=RULE,
        requested_by=state["requested_by"],
        policy=state.get("policy"),
        trail=state["audit"],
        validate_args=validate_draft,
        require_reference=draft != prepared,
        summary=f"message {draft.get('subject')!r} to {', '.join(draft.get('to') or [])}",
    )
    update = record_review(review, state["audit"])
    if review.partial:  # a vote of a quorum: the next one is asked for the same draft
        return Command(update=update, goto="review_draft")
    final = args_to_run(review.request["action_requests"][0], review.decisions[0])
    return Command(update={**update, "final": final}, goto="send" if final else "__end__")


def send(state: State) -> dict[str, Any]:
    """Send the approved message, once."""
    # `review_draft` routes here only with arguments to run, so `final` is not `None` (and
    # `execute_once` refuses any arguments that no approval on the trail names).
    final = cast(dict[str, Any], state["final"])
    return execute_once(ACTION, final, state["audit"], status="sent")


def _validation_problem(draft: dict[str, Any]) -> str | None:
    try:
        MessageDraft.model_validate(draft)
    except ValidationError as error:
        return describe_error(error)
    return None


builder = StateGraph(State, context_schema=DeadlineOverrides, input_schema=Input)
builder.add_node(draft_message)
builder.add_node(review_draft)
builder.add_node(send)
builder.add_edge(START, "draft_message")
builder.add_conditional_edges("draft_message", route_draft)
builder.add_edge("send", END)


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the graph."""
    return builder.compile(name="edit_state")


graph = build()
served_graph = served(graph)
