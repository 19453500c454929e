"""review_tool_calls: an agent whose sensitive tool calls pause for approve/edit/reject/respond.

Model: `ChatDatabricks` (offline: the emulator's rule-based development model). Tools: the
Unity Catalog functions in `signoff.toml` (`main.support.issue_refund` is sensitive,
`main.support.lookup_order` is safe) and `query_genie` (safe). Each sensitive call in one model
message is its own interrupt; see `signoff.review.reviewed_agent` for the flow and each decision.

Input: `{"messages": [{"role": "user", "content": "refund 25 on order 17 because damaged"}]}`.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from signoff.databricks.graph_factory import built_on_first_use
from signoff.databricks.models import load_chat_model
from signoff.governance.state_edits import served
from signoff.review.reviewed_agent import build_reviewed_agent
from signoff.settings import load_settings
from signoff.tools.genie import query_genie
from signoff.tools.unity_catalog import uc_function_tools


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the agent; its UC tools are built from the workspace's function metadata."""
    tools = [query_genie, *uc_function_tools()]
    return build_reviewed_agent(
        name="review_tool_calls",
        tools=tools,
        policy=load_settings().review_policy([tool.name for tool in tools]),
        load_model=load_chat_model,
    )


graph = built_on_first_use(build)
served_graph = served(graph)
