"""Jobs API 2.2 (and 2.1): bundled jobs, run-now with idempotency, runs on the emulator clock.

A run is PENDING for `pending_seconds`, RUNNING for `running_seconds`, then TERMINATED with
result SUCCESS; cancelling a PENDING or RUNNING run makes it TERMINATED / CANCELED, cancelling
a finished run changes nothing (as on Databricks). Unknown job or run ids are answered like
Databricks does: 400 INVALID_PARAMETER_VALUE "Job 999 does not exist." (databricks-sdk turns
that into `ResourceDoesNotExist` for `jobs.get` / `jobs.get_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulator.clock import Clock
from emulator.errors import ApiError, invalid_parameter, json_body, require_int
from emulator.identity import USER_NAME

API_VERSIONS = ("2.1", "2.2")
MAX_IDEMPOTENCY_TOKEN_LENGTH = 64


@dataclass(frozen=True)
class JobSpec:
    """A bundled job definition."""

    job_id: int
    name: str
    description: str
    tags: dict[str, str]
    parameters: dict[str, str] = field(default_factory=dict)
    """Job parameter definitions: name → default."""
    runnable: bool = True
    """False: the developer user lacks run permission (run-now answers 403)."""

    def as_json(self, created_time: int) -> dict[str, Any]:
        """The job as `jobs/get` returns it."""
        return {
            "job_id": self.job_id,
            "creator_user_name": USER_NAME,
            "run_as_user_name": USER_NAME,
            "created_time": created_time,
            "settings": {
                "name": self.name,
                "description": self.description,
                "tags": self.tags,
                "parameters": [
                    {"name": name, "default": default} for name, default in self.parameters.items()
                ],
                "max_concurrent_runs": 10,
                "format": "MULTI_TASK",
                "tasks": [
                    {
                        "task_key": "main",
                        "notebook_task": {
                            "notebook_path": f"/Workspace/Shared/signoff/{self.name}"
                        },
                    }
                ],
            },
        }


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        job_id=101,
        name="nightly_etl",
        description="The nightly job: reloads orders and refunds into the warehouse.",
        tags={"alias": "the nightly job", "schedule": "nightly"},
        parameters={"user_request": "", "mode": "incremental"},
    ),
    JobSpec(
        job_id=102,
        name="weekly_report",
        description="Builds the weekly sales report.",
        tags={"schedule": "weekly"},
    ),
    JobSpec(
        job_id=13,
        name="payroll_export",
        description="Exports payroll to the bank. Only the payroll team may run it.",
        tags={"team": "payroll"},
        runnable=False,
    ),
)


@dataclass
class Run:
    """One run of a job; its state follows from the clock."""

    run_id: int
    job: JobSpec
    parameters: dict[str, str]
    started: float
    ends: float
    """When the run finishes by itself (start + pending + running seconds)."""
    running_from: float
    cancelled_at: float | None = None

    def is_active(self, now: float) -> bool:
        """PENDING or RUNNING at `now`."""
        return self.cancelled_at is None and now < self.ends

    def state(self, now: float) -> dict[str, Any]:
        """The classic `state` object: life_cycle_state, result_state, state_message."""
        if self.cancelled_at is not None:
            return {
                "life_cycle_state": "TERMINATED",
                "result_state": "CANCELED",
                "state_message": f"Run cancelled by {USER_NAME}.",
                "user_cancelled_or_timedout": True,
            }
        if now < self.running_from:
            return {"life_cycle_state": "PENDING", "state_message": "Waiting for cluster"}
        if now < self.ends:
            return {"life_cycle_state": "RUNNING", "state_message": "In run"}
        return {
            "life_cycle_state": "TERMINATED",
            "result_state": "SUCCESS",
            "state_message": "",
            "user_cancelled_or_timedout": False,
        }

    def as_json(self, now: float, host: str) -> dict[str, Any]:
        """The run as `jobs/runs/get` returns it."""
        state = self.state(now)
        finished = state["life_cycle_state"] == "TERMINATED"
        end = self.cancelled_at if self.cancelled_at is not None else self.ends
        status: dict[str, Any] = {"state": state["life_cycle_state"]}
        if finished:
            cancelled = state["result_state"] == "CANCELED"
            status["termination_details"] = {
                "code": "USER_CANCELED" if cancelled else "SUCCESS",
                "type": "SUCCESS",
                "message": state["state_message"],
            }
        return {
            "job_id": self.job.job_id,
            "run_id": self.run_id,
            "number_in_job": self.run_id,
            "original_attempt_run_id": self.run_id,
            "attempt_number": 0,
            "run_name": self.job.name,
            "run_page_url": f"{host}/#job/{self.job.job_id}/run/{self.run_id}",
            "run_type": "JOB_RUN",
            "trigger": "ONE_TIME",
            "creator_user_name": USER_NAME,
            "start_time": int(self.started * 1000),
            "end_time": int(end * 1000) if finished else 0,
            "job_parameters": self._job_parameters(),
            "state": state,
            "status": status,
        }

    def _job_parameters(self) -> list[dict[str, str]]:
        defined = [
            {"name": name, "default": default, "value": self.parameters.get(name, default)}
            for name, default in self.job.parameters.items()
        ]
        extra = [
            {"name": name, "value": value}
            for name, value in self.parameters.items()
            if name not in self.job.parameters
        ]
        return defined + extra


class Jobs:
    """The jobs and runs of the emulated workspace."""

    def __init__(
        self, clock: Clock, *, pending_seconds: float, running_seconds: float, first_run_id: int
    ) -> None:
        self.clock = clock
        self.pending_seconds = pending_seconds
        self.running_seconds = running_seconds
        self.jobs = {job.job_id: job for job in JOBS}
        self.runs: dict[int, Run] = {}
        self._created_time = clock.now_ms()
        self._next_run_id = first_run_id
        self._runs_by_token: dict[str, int] = {}

    def job(self, job_id: int) -> JobSpec:
        """The job, or 400 INVALID_PARAMETER_VALUE as Databricks answers."""
        if job_id not in self.jobs:
            raise invalid_parameter(f"Job {job_id} does not exist.")
        return self.jobs[job_id]

    def run(self, run_id: int) -> Run:
        """The run, or 400 INVALID_PARAMETER_VALUE as Databricks answers."""
        if run_id not in self.runs:
            raise invalid_parameter(f"Run {run_id} does not exist.")
        return self.runs[run_id]

    def run_now(
        self, job_id: int, parameters: dict[str, str], idempotency_token: str | None
    ) -> Run:
        """Start a run, or return the run already started with `idempotency_token`."""
        job = self.job(job_id)
        if not job.runnable:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"User {USER_NAME} does not have Manage Run permissions on job {job_id}.",
            )
        if idempotency_token in self._runs_by_token:
            return self.runs[self._runs_by_token[idempotency_token]]
        now = self.clock.now()
        run = Run(
            run_id=self._next_run_id,
            job=job,
            parameters=parameters,
            started=now,
            running_from=now + self.pending_seconds,
            ends=now + self.pending_seconds + self.running_seconds,
        )
        self._next_run_id += 1
        self.runs[run.run_id] = run
        if idempotency_token is not None:
            self._runs_by_token[idempotency_token] = run.run_id
        return run

    def cancel(self, run_id: int) -> None:
        """Cancel a PENDING or RUNNING run; a finished run is left as it is."""
        run = self.run(run_id)
        now = self.clock.now()
        if run.is_active(now):
            run.cancelled_at = now

    def routes(self) -> list[Route]:
        """The Jobs API routes, under every supported API version."""
        handlers = [
            ("jobs/get", self._get, "GET"),
            ("jobs/list", self._list, "GET"),
            ("jobs/run-now", self._run_now, "POST"),
            ("jobs/runs/get", self._get_run, "GET"),
            ("jobs/runs/list", self._list_runs, "GET"),
            ("jobs/runs/cancel", self._cancel_run, "POST"),
        ]
        return [
            Route(f"/api/{version}/{path}", handler, methods=[method])
            for version in API_VERSIONS
            for path, handler, method in handlers
        ]

    async def _get(self, request: Request) -> JSONResponse:
        job = self.job(require_int(request.query_params.get("job_id"), "job_id"))
        return JSONResponse(job.as_json(self._created_time))

    async def _list(self, request: Request) -> JSONResponse:
        jobs = sorted(self.jobs.values(), key=lambda job: job.job_id)
        if name := request.query_params.get("name"):
            jobs = [job for job in jobs if job.name.lower() == name.lower()]
        page, more = _page(request, [job.as_json(self._created_time) for job in jobs], 100)
        return JSONResponse({"jobs": page, "has_more": bool(more), **more})

    async def _run_now(self, request: Request) -> JSONResponse:
        body = await json_body(request)
        parameters = body.get("job_parameters") or {}
        if not isinstance(parameters, dict) or not all(
            isinstance(value, str) for value in parameters.values()
        ):
            raise invalid_parameter("job_parameters must map parameter names to string values.")
        token = body.get("idempotency_token")
        if token is not None and len(str(token)) > MAX_IDEMPOTENCY_TOKEN_LENGTH:
            raise invalid_parameter(
                f"idempotency_token must be at most {MAX_IDEMPOTENCY_TOKEN_LENGTH} characters."
            )
        run = self.run_now(
            require_int(body.get("job_id"), "job_id"),
            parameters,
            None if token is None else str(token),
        )
        return JSONResponse({"run_id": run.run_id, "number_in_job": run.run_id})

    async def _get_run(self, request: Request) -> JSONResponse:
        run = self.run(require_int(request.query_params.get("run_id"), "run_id"))
        return JSONResponse(run.as_json(self.clock.now(), _host(request)))

    async def _list_runs(self, request: Request) -> JSONResponse:
        now = self.clock.now()
        runs = sorted(self.runs.values(), key=lambda run: (run.started, run.run_id), reverse=True)
        query = request.query_params
        if "job_id" in query:
            job = self.job(require_int(query["job_id"], "job_id"))
            runs = [run for run in runs if run.job is job]
        if query.get("active_only") == "true":
            runs = [run for run in runs if run.is_active(now)]
        if query.get("completed_only") == "true":
            runs = [run for run in runs if not run.is_active(now)]
        host = _host(request)
        page, more = _page(request, [run.as_json(now, host) for run in runs], 25)
        return JSONResponse({"runs": page, "has_more": bool(more), **more})

    async def _cancel_run(self, request: Request) -> JSONResponse:
        body = await json_body(request)
        self.cancel(require_int(body.get("run_id"), "run_id"))
        return JSONResponse({})


def _host(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _page(
    request: Request, items: list[dict[str, Any]], max_limit: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One page of `items` by `limit` and `page_token`/`offset`, and the next page's token."""
    query = request.query_params
    limit = require_int(query.get("limit", "20"), "limit") or max_limit
    if not 0 < limit <= max_limit:
        raise invalid_parameter(f"limit must be between 1 and {max_limit}.")
    start = require_int(query.get("page_token") or query.get("offset") or "0", "page_token")
    end = start + limit
    return items[start:end], ({"next_page_token": str(end)} if end < len(items) else {})
