"""What the server holds of a thread, read for its auth, and the index of who may see it.

`thread_facts(client, thread_id)` reads a thread's record (and, for a record a crash left
without state, its latest checkpoint) through the server's in-process client, which skips
the auth handlers, as `admission.ThreadFacts`.

`ViewersIndex` keeps each thread's viewers (`signoff.governance.visibility`) in its metadata, where
the server's auth filters can match them: `threads.search` filters by metadata only. The state is
the truth and the metadata its index: `catch_up` writes the viewers of every thread whose
state changed since the last catch-up, where they changed (by `state_updated_at`, which runs
and state edits move and metadata writes do not, newest first: a catch-up reads only what
changed, plus a margin for updates committed late; a thread whose run is in flight is indexed
once the run has ended, so no write races a run). Every search
as a signed-in user catches up first, so a request raised a moment ago is found by whoever
may decide it; several processes sharing one database all converge, since each write only
sets what the state implies.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

from signoff.client.pending_requests import metadata_of
from signoff.client.thread_pages import searched_threads
from signoff.clock import parse
from signoff.governance.visibility import VIEWERS, viewers_of
from signoff.protocol.interrupts import waiting_interrupts
from signoff.server.admission import Refusal, ThreadFacts

log = logging.getLogger("signoff.server.thread_facts")

LATE_COMMIT_SECONDS = 5.0
"""How far before the last catch-up the next one reads again (updates committed late)."""


async def thread_facts(
    client: LangGraphClient, thread_id: str, *, from_checkpoint: bool = False
) -> ThreadFacts | None:
    """What the server holds of `thread_id` (`None`: no such thread). Read from its record,
    which the server writes from the checkpoint at the end of every run and state edit; a
    record without state that is not running (one re-created after a crash lost it), or
    any record when `from_checkpoint`, is completed from the latest checkpoint. A thread the
    server cannot read is a `Refusal` (409) naming it, not an error of the caller's
    request."""
    try:
        thread = await client.threads.get(thread_id)
        values, interrupts = thread.get("values"), waiting_interrupts(dict(thread))
        if from_checkpoint or not values and thread.get("status") != "busy":
            state = await client.threads.get_state(thread_id)
            checkpoint_values = state.get("values")
            values = checkpoint_values if isinstance(checkpoint_values, dict) else None
            interrupts = [dict(interrupt) for interrupt in state.get("interrupts") or []]
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        if status in (404, 422):  # 422: not even a thread id
            return None
        log.warning("Thread %s cannot be read (%s): %s", thread_id, status, error)
        raise Refusal(
            409,
            f"Thread {thread_id} cannot be read right now (HTTP {status}); nothing was "
            "applied. An admin can repair it with update_state or delete it.",
        ) from None
    return ThreadFacts(
        thread_id=thread_id,
        metadata=thread.get("metadata") or {},
        started=bool(values),
        values=values,
        interrupts=[dict(interrupt) for interrupt in interrupts],
        busy=thread.get("status") == "busy",
    )


class ViewersIndex:
    """Thread metadata kept in step with who may see each thread (see the module docstring)."""

    def __init__(self) -> None:
        self._caught_up_to = -math.inf
        self._lock = asyncio.Lock()

    async def catch_up(self, client: LangGraphClient) -> None:
        """Index every thread updated since the last catch-up (less `LATE_COMMIT_SECONDS`)."""
        async with self._lock:
            started = time.time()
            since = self._caught_up_to - LATE_COMMIT_SECONDS
            fields = ["thread_id", "metadata", "values", "interrupts", "state_updated_at", "status"]
            newest_first = {"sort_by": "state_updated_at", "sort_order": "desc"}
            async for thread in searched_threads(client, select=fields, **newest_first):
                if _timestamp(thread.get("state_updated_at")) < since:
                    break
                if thread.get("status") != "busy":  # indexed when its run has ended
                    await self._index(client, thread)
            self._caught_up_to = started

    async def _index(self, client: LangGraphClient, thread: dict[str, Any]) -> None:
        """Write the thread's viewers into its metadata, unless it holds them already."""
        metadata = metadata_of(thread)
        viewers = sorted(viewers_of(metadata, thread.get("values"), waiting_interrupts(thread)))
        if metadata.get(VIEWERS) == viewers:
            return
        thread_id = str(thread["thread_id"])
        try:
            await client.threads.update(thread_id, metadata={VIEWERS: viewers})
        except httpx.HTTPStatusError as error:  # deleted meanwhile: nothing to index
            log.info("Viewers of thread %s not indexed: %s", thread_id, error)


def _timestamp(value: Any) -> float:
    """A server timestamp (ISO text or datetime) in seconds since the epoch; 0 if unreadable."""
    moment = parse(value)
    return 0.0 if moment is None else moment.timestamp()
