"""The raw baseline of the server benchmark: a minimal hand-written approval graph.

`bench.server` copies this file into a temporary project whose `langgraph.json` serves only
this graph, under the same `langgraph dev` and checkpointer as signoff. It takes the same input
as `approve_reject` (`{"operation": {...}}`), pauses with `interrupt()`, and on `"approve"`
appends one line to the ledger file (`SIGNOFF_LEDGER`) in the shape `signoff.execution.ledger`
writes, so executions are counted the same way. Nothing else: no validation, risk rules or audit.
It imports only langgraph, so it runs from any project directory.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict):
    """The operation and what became of it."""

    operation: dict[str, Any]
    status: NotRequired[str]


def review(state: State) -> dict[str, Any]:
    """Pause until a person answers; anything but "approve" rejects."""
    answer = interrupt({"action_requests": [{"name": "payment", "args": state["operation"]}]})
    return {"status": "approved" if answer == "approve" else "rejected"}


def execute(state: State) -> dict[str, Any]:
    """Append the operation to the ledger, as signoff's graphs do."""
    entry = {
        "id": uuid.uuid4().hex,
        "kind": "payment",
        "details": state["operation"],
        "thread_id": (get_config().get("configurable") or {}).get("thread_id"),
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    with open(os.environ.get("SIGNOFF_LEDGER", "ledger.jsonl"), "a", encoding="utf-8") as file:
        file.write(json.dumps(entry, sort_keys=True) + "\n")
    return {"status": "executed"}


def after_review(state: State) -> Literal["execute", "__end__"]:
    """Run the operation only when it was approved."""
    return "execute" if state.get("status") == "approved" else END


builder = StateGraph(State)
builder.add_node(review)
builder.add_node(execute)
builder.add_edge(START, "review")
builder.add_conditional_edges("review", after_review, ["execute", END])
builder.add_edge("execute", END)
graph = builder.compile(name="raw_approval")
