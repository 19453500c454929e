"""What the server holds of a thread, read for its auth, and the index of who may see it.

`thread_facts(client, thread_id)` reads a thread's record and latest checkpoint through the
server's in-process client (which skips the auth handlers) as `admission.ThreadFacts`.

`ViewersIndex` keeps each thread's viewers (`signoff.visibility`) in its metadata, where the
server's auth filters can match them: `threads.search` filters by metadata only. The state is
the truth and the metadata its index: `refresh` writes one thread's viewers when they changed,
and `catch_up` does it for every thread updated since the last catch-up (threads come newest
first, so a catch-up reads only what changed, plus a margin for updates committed late). Every
search as a signed-in user catches up first, so a request raised a moment ago is found by
whoever may decide it; several processes sharing one database all converge, since each
write only sets what the state implies.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

from signoff.admission import Refusal, ThreadFacts
from signoff.thread_pages import searched_threads
from signoff.visibility import VIEWERS, viewers_of

log = logging.getLogger("signoff.visibility")

LATE_COMMIT_SECONDS = 10.0
"""How far before the last catch-up the next one reads again (updates committed late)."""


async def thread_facts(client: LangGraphClient, thread_id: str) -> ThreadFacts | None:
    """The thread's record and latest checkpoint (`None`: no such thread). A thread the
    server cannot read is a `Refusal` (409) naming it, not an error of the caller's request."""
    try:
        thread = await client.threads.get(thread_id)
        state = await client.threads.get_state(thread_id)
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
        started=state.get("checkpoint") is not None,
        values=state.get("values"),
        next=tuple(state.get("next") or ()),
        interrupts=[dict(interrupt) for interrupt in state.get("interrupts") or []],
    )


class ViewersIndex:
    """Thread metadata kept in step with who may see each thread (see the module docstring)."""

    def __init__(self) -> None:
        self._caught_up_to = -math.inf
        self._lock = asyncio.Lock()

    async def refresh(
        self,
        client: LangGraphClient,
        thread_id: str,
        metadata: Mapping[str, Any],
        viewers: frozenset[str],
    ) -> None:
        """Write `viewers` into the thread's metadata, unless it holds them already."""
        if metadata.get(VIEWERS) == sorted(viewers):
            return
        try:
            await client.threads.update(thread_id, metadata={VIEWERS: sorted(viewers)})
        except httpx.HTTPStatusError as error:  # deleted meanwhile: nothing to index
            log.info("Viewers of thread %s not indexed: %s", thread_id, error)

    async def catch_up(self, client: LangGraphClient) -> None:
        """Index every thread updated since the last catch-up (less `LATE_COMMIT_SECONDS`)."""
        async with self._lock:
            started = time.time()
            since = self._caught_up_to - LATE_COMMIT_SECONDS
            fields = ["thread_id", "metadata", "values", "interrupts", "updated_at"]
            newest_first = {"sort_by": "updated_at", "sort_order": "desc"}
            async for thread in searched_threads(client, select=fields, **newest_first):
                if _timestamp(thread.get("updated_at")) < since:
                    break
                await self._index(client, thread)
            self._caught_up_to = started

    async def _index(self, client: LangGraphClient, thread: dict[str, Any]) -> None:
        interrupts = [i for items in (thread.get("interrupts") or {}).values() for i in items]
        metadata = thread.get("metadata") or {}
        viewers = viewers_of(metadata, thread.get("values"), interrupts)
        await self.refresh(client, str(thread["thread_id"]), metadata, viewers)


def _timestamp(value: Any) -> float:
    """A server timestamp (ISO text or datetime) in seconds since the epoch; 0 if unreadable."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return 0.0
    return moment.timestamp()
