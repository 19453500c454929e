"""The graphs of signoff, by name: the one registry of them.

`langgraph.json` points the server at each module's `served_graph` (a test keeps it listing
exactly these names and modules); Model Serving (`deploy/serving_entry.py`) and the deploy
script take the graph to serve from here. `GRAPHS[name]()` compiles a graph: the agents fetch
their Unity Catalog tools from the workspace then, so nothing is built at import.
"""

from __future__ import annotations

from collections.abc import Callable

from langgraph.graph.state import CompiledStateGraph

from signoff.graphs import (
    approve_reject,
    databricks_workflow,
    edit_state,
    multi_stage_approval,
    review_tool_calls,
)

GRAPHS: dict[str, Callable[[], CompiledStateGraph]] = {
    "approve_reject": approve_reject.build,
    "edit_state": edit_state.build,
    "review_tool_calls": review_tool_calls.build,
    "multi_stage_approval": multi_stage_approval.build,
    "databricks_workflow": databricks_workflow.build,
}
"""Graph name → its builder (the module `graphs.<name>`)."""


def graph_builder(name: str) -> Callable[[], CompiledStateGraph]:
    """The builder of graph `name`; `ValueError` naming the graphs for any other name."""
    if name not in GRAPHS:
        raise ValueError(f"Unknown graph {name!r}; choose one of {', '.join(GRAPHS)}.")
    return GRAPHS[name]
