"""databricks_workflow: the async job agent. It starts, polls and cancels Databricks job runs
and asks Genie, with starting and cancelling paused for approval.

    user turn ──▶ agent ──▶ (review sensitive calls) ──▶ tools ──▶ agent ──▶ END

When a job starts, the turn ends with the run id in the answer and in `job_runs`: the agent
answers without tools after `start_databricks_job`, so it never polls by itself. Later turns
on the same thread poll ("status of run 1001") or cancel ("cancel run 1001").

Input: `{"messages": [{"role": "user", "content": "start the nightly job"}]}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import ToolMessage
from langgraph.graph.state import CompiledStateGraph

from signoff.databricks.graph_factory import built_on_first_use
from signoff.databricks.models import load_chat_model
from signoff.governance.state_edits import served
from signoff.review.reviewed_agent import AgentState, build_reviewed_agent, merge_by_key
from signoff.settings import load_settings
from signoff.tools.databricks_jobs import (
    JobRun,
    poll_databricks_job,
    start_databricks_job,
    terminate_databricks_job,
)
from signoff.tools.genie import query_genie
from signoff.tools.unity_catalog import uc_function_tools


class WorkflowState(AgentState):
    """The conversation plus every job run this thread started or looked at."""

    job_runs: Annotated[dict[str, JobRun], merge_by_key]
    """The latest known state of each run, keyed by run id."""


def record_job_runs(results: list[ToolMessage]) -> dict[str, Any]:
    """Keep the run each job tool reported on (its `JobRun` artifact)."""
    runs = {
        str(message.artifact["run_id"]): message.artifact
        for message in results
        if isinstance(message.artifact, dict) and "run_id" in message.artifact
    }
    return {"job_runs": runs} if runs else {}


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the agent; its UC tools are built from the workspace's function metadata."""
    tools = [
        query_genie,
        start_databricks_job,
        poll_databricks_job,
        terminate_databricks_job,
        *uc_function_tools(),
    ]
    return build_reviewed_agent(
        name="databricks_workflow",
        tools=tools,
        policy=load_settings().review_policy([tool.name for tool in tools]),
        load_model=load_chat_model,
        state_schema=WorkflowState,
        record_results=record_job_runs,
        answer_after=frozenset({start_databricks_job.name}),
    )


graph = built_on_first_use(build)
served_graph = served(graph)
