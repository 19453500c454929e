"""Databricks job tools: start the configured job (sensitive), poll a run, cancel a run
(sensitive).

`start_databricks_job` returns the run id at once and never waits for the run. Its
`idempotency_token` is derived from the thread id and the tool-call id, so replaying or
repeating an approval can never start a second run. Results carry a `JobRun` artifact so
graphs can keep the runs they started in state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langchain_core.tools import InjectedToolCallId, ToolException, tool
from pydantic import BaseModel, Field

from signoff.databricks.workspace import databricks_errors, workspace_client
from signoff.execution.idempotency import idempotency_key
from signoff.settings import load_settings

if TYPE_CHECKING:
    from databricks.sdk.service.jobs import Run

CANCELLABLE = frozenset({"PENDING", "QUEUED", "RUNNING", "BLOCKED", "WAITING_FOR_RETRY"})
"""Life-cycle states in which a run has not finished, so cancelling it means something."""


class JobRun(TypedDict):
    """What the agent keeps about one job run."""

    run_id: int
    job_id: int | None  # none for a one-time run (`runs/submit`), which belongs to no job
    run_page_url: str | None
    life_cycle_state: str | None
    result_state: str | None
    state_message: str | None


class StartJobArgs(BaseModel):
    """Arguments of `start_databricks_job`; validated again when a reviewer edits them."""

    user_request: str = Field(
        min_length=1, max_length=4000, description="What the user asked for, passed to the job."
    )
    parameters: dict[str, str] | None = Field(
        default=None, description="Extra job parameters, name to value."
    )
    tool_call_id: Annotated[str, InjectedToolCallId]


@tool(args_schema=StartJobArgs, response_format="content_and_artifact")
def start_databricks_job(
    user_request: str, tool_call_id: str, parameters: dict[str, str] | None = None
) -> tuple[str, JobRun]:
    """Start the configured Databricks job for a long-running request. Requires approval."""
    job_id = load_settings().job_id
    with databricks_errors(f"start job {job_id}"):
        client = workspace_client()
        started = client.jobs.run_now(
            job_id=job_id,
            job_parameters={**(parameters or {}), "user_request": user_request},
            idempotency_token=idempotency_key(tool_call_id),
        )
    try:
        with databricks_errors(f"read run {started.run_id}"):
            run = _describe(started.run_id, client.jobs.get_run(started.run_id))
    except ToolException as error:  # the run has started: never report it as a failure
        run = JobRun(
            run_id=started.run_id,
            job_id=job_id,
            run_page_url=None,
            life_cycle_state=None,
            result_state=None,
            state_message=str(error),
        )
    return (
        f"Started run {run['run_id']} of job {job_id} ({run['life_cycle_state']}): "
        f"{run['run_page_url']}",
        run,
    )


@tool(response_format="content_and_artifact")
def poll_databricks_job(run_id: int) -> tuple[str, JobRun]:
    """Report the current state of a Databricks job run (read-only)."""
    with databricks_errors(f"get the status of run {run_id}"):
        run = _describe(run_id, workspace_client().jobs.get_run(run_id))
    return _status_line(run), run


@tool(response_format="content_and_artifact")
def terminate_databricks_job(run_id: int) -> tuple[str, JobRun]:
    """Cancel a pending, queued or running Databricks job run. Requires approval."""
    with databricks_errors(f"cancel run {run_id}"):
        client = workspace_client()
        run = _describe(run_id, client.jobs.get_run(run_id))
        if run["life_cycle_state"] not in CANCELLABLE:
            return (
                f"Run {run_id} was not cancelled: it is already finished. {_status_line(run)}",
                run,
            )
        client.jobs.cancel_run(run_id)
        run = _describe(run_id, client.jobs.get_run(run_id))
    return f"Cancellation requested for run {run_id}. {_status_line(run)}", run


def _describe(run_id: int, run: Run) -> JobRun:
    """`run`, fetched by `run_id`, as a `JobRun` (the SDK types every `Run` field optional)."""
    state: Any = run.state
    return JobRun(
        run_id=run_id,
        job_id=run.job_id,
        run_page_url=run.run_page_url,
        life_cycle_state=state.life_cycle_state.value if state and state.life_cycle_state else None,
        result_state=state.result_state.value if state and state.result_state else None,
        state_message=state.state_message if state else None,
    )


def _status_line(run: JobRun) -> str:
    result = f", result {run['result_state']}" if run["result_state"] else ""
    message = f" ({run['state_message']})" if run["state_message"] else ""
    return (
        f"Run {run['run_id']} of job {run['job_id']} is {run['life_cycle_state']}{result}"
        f"{message}: {run['run_page_url']}"
    )
