"""The sweeper: enforces deadlines while nobody answers, in the server or as one command.

One pass (`sweep(client)`) reads every thread waiting on a request
(`threads.search(status="interrupted")`, page by page) and, for each pending request whose
time has come (its `remind_at`, `escalates_at`, `expires_at`, from the checkpoint):

- expired: starts a run resuming the thread with an expiry of exactly that request,
  `{"type": "expire", "request_id": ...}` keyed by its interrupt id. The review node checks
  the time and the request id itself, rejects it as expired (decided by `system`, audited) and
  announces `approval.expired`;
- escalated: announces `approval.escalated` (the escalation itself needs nothing written: from
  `escalates_at` the policy lets `escalate_to` decide);
- due for a reminder: announces `approval.reminded`.

It also runs on, without input, each thread that waits on no request but should go on
(`pending_requests.run_on_reason`): one whose request an admin's state edit (`update_state`)
changed while it waited, so that the review node raises the request as it now is (a new
`request_id`, announced as `approval.requested`), in every inbox; and one whose last run was
cancelled, died or failed (a database fault, say) after an approval and before the execution,
so that what was approved runs, once. It looks for them among the waiting threads and those
whose last run failed (on a LangGraph server; a checkpoint store keeps no run status); a
failed thread is run on at once, then after longer and longer waits (`FailedRuns`), so an
action that keeps failing is not started on every pass. One thread the sweeper cannot read or
run is logged and skipped: it never stops a pass.

Announcements have stable ids, so every pass may repeat them: each is enqueued once. Several
sweepers at once expire a request once: a thread that is running refuses a second run (409),
and an expiry that arrives after the request was decided finds no request with its id.

The server runs a pass every `SIGNOFF_SWEEP_SECONDS` (default 30) from its lifespan
(`signoff.server.app`); `signoff sweep` runs one pass from anywhere (a scheduled job).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import APIStatusError

from signoff import clock
from signoff.client.pending_requests import metadata_of, requests_of, run_on_reason
from signoff.client.thread_pages import searched_threads
from signoff.governance.deadlines import is_due
from signoff.protocol.interrupts import waiting_interrupts
from signoff.protocol.shapes import EXPIRE
from signoff.settings import environment
from signoff.signals.events import announce
from signoff.signals.metrics import record_escalation

log = logging.getLogger("signoff.client.sweeper")


@dataclass
class SweepReport:
    """What one pass did, by request id."""

    expired: list[str] = field(default_factory=list)
    """Requests whose expiry run was started."""
    escalated: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    shown_again: list[str] = field(default_factory=list)
    """Threads whose changed request was raised again (by thread id)."""
    finished: list[str] = field(default_factory=list)
    """Threads run on to execute what a stopped run left approved (by thread id)."""
    busy: list[str] = field(default_factory=list)
    """Threads left for the next pass: running, or just finished by someone else."""


@dataclass
class FailedRuns:
    """When a thread whose last run failed may be run on again: once at once, then after 1, 2,
    4 ... minutes (at most an hour), so an action that keeps failing (a job the workspace
    refuses) is not started on every pass. Kept by `sweep_forever` across its passes; a thread
    that leaves the failed state is forgotten."""

    next_try: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Thread id → (run-ons started, the monotonic time before which it waits)."""

    def may_run_on(self, thread_id: str) -> bool:
        """Whether the thread's wait since its last run-on is over."""
        return time.monotonic() >= self.next_try.get(thread_id, (0, 0.0))[1]

    def ran_on(self, thread_id: str) -> None:
        """A run-on of the thread was started: it waits longer before the next one."""
        started = self.next_try.get(thread_id, (0, 0.0))[0] + 1
        self.next_try[thread_id] = (
            started,
            time.monotonic() + min(60.0 * 2 ** (started - 1), 3600.0),
        )

    def keep_only(self, failed: set[str]) -> None:
        """Forget the threads that are no longer failed."""
        self.next_try = {k: v for k, v in self.next_try.items() if k in failed}


async def sweep(
    client: LangGraphClient, at: datetime | None = None, failed_runs: FailedRuns | None = None
) -> SweepReport:
    """One pass over every pending request (see the module docstring); `failed_runs` paces
    the run-ons of threads whose last run failed (one pass alone runs each on once)."""
    at = at or clock.now()
    report = SweepReport()
    failed_runs = failed_runs or FailedRuns()
    fields = ["thread_id", "metadata", "interrupts"]  # all a pass reads of a thread
    failed: set[str] = set()
    for status in ("interrupted", "error"):
        async for thread in searched_threads(client, status=status, select=fields):
            if status == "error":
                failed.add(thread["thread_id"])
                if not failed_runs.may_run_on(thread["thread_id"]):
                    continue
            try:
                if await _sweep_thread(client, thread, at, report) and status == "error":
                    failed_runs.ran_on(thread["thread_id"])
            except Exception:  # noqa: BLE001 - one thread never stops the pass
                log.exception(
                    "Sweeping thread %s failed; it is left for the next pass",
                    thread.get("thread_id"),
                )
    failed_runs.keep_only(failed)
    return report


async def _sweep_thread(
    client: LangGraphClient, thread: dict[str, Any], at: datetime, report: SweepReport
) -> bool:
    """Remind, escalate and expire the requests of one thread, or run it on; whether it was
    run on."""
    thread_id, metadata = thread["thread_id"], metadata_of(thread)
    graph = str(metadata.get("graph_id", ""))
    expiries: dict[str, dict[str, str]] = {}
    for request in requests_of(thread, waiting_interrupts(thread)):
        where = {"thread_id": thread_id, "graph": graph}
        if is_due(request.request, "expires_at", at):
            expiries[request.interrupt_id] = {"type": EXPIRE, "request_id": request.request_id}
            continue
        if is_due(request.request, "escalates_at", at):
            await asyncio.to_thread(announce, "approval.escalated", request.request, **where)
            record_escalation(graph, request.request_id)
            report.escalated.append(request.request_id)
        if is_due(request.request, "remind_at", at):
            await asyncio.to_thread(announce, "approval.reminded", request.request, **where)
            report.reminded.append(request.request_id)
    assistant = str(metadata.get("assistant_id") or graph)  # its context: its deadlines
    if expiries:
        if await _start(client, thread_id, assistant, command={"resume": expiries}):
            report.expired += [expiry["request_id"] for expiry in expiries.values()]
        else:
            report.busy.append(thread_id)
    elif (
        not thread.get("interrupts")
        and (why := await run_on_reason(client, thread_id))
        and await _start(client, thread_id, assistant, input=None)
    ):
        (report.shown_again if why == "show again" else report.finished).append(thread_id)
        return True
    return False


async def sweep_forever(client: LangGraphClient, stop: asyncio.Event) -> None:
    """Sweep every `SIGNOFF_SWEEP_SECONDS` until `stop` is set; a failed pass is logged and
    the next one runs as usual."""
    interval = environment().sweep_seconds
    failed_runs = FailedRuns()
    while not stop.is_set():
        try:
            report = await sweep(client, failed_runs=failed_runs)
            if report.expired:
                log.info("Expiring requests %s", ", ".join(report.expired))
        except Exception:  # noqa: BLE001 - the loop outlives any one pass
            log.exception("Sweeping pending requests failed; trying again in %s s", interval)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            continue


async def _start(client: LangGraphClient, thread_id: str, assistant: str, **run: Any) -> bool:
    """Start a run on `thread_id` (an expiry, or showing a changed request again) on the
    assistant that runs it (whose context set the deadlines), without waiting for it: a sweep
    never queues behind a run. `False` when the thread is busy (another sweeper, or a person
    just in time); an expiry that arrives after its request was decided changes nothing."""
    try:
        await client.runs.create(thread_id, assistant, multitask_strategy="reject", **run)
    except (APIStatusError, httpx.HTTPStatusError) as error:  # the SDK raises either
        status = getattr(error.response, "status_code", None)
        if status in (404, 409, 422):
            log.info("Thread %s not run now (%s): left for the next pass", thread_id, status)
            return False
        raise
    return True
