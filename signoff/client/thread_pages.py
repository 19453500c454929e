"""Every thread a `threads.search` finds, page by page: the API returns at most 1000 at once.

The sweeper, the metrics, the command line, the inbox and the auth's visibility index all read
threads this way, so one unreadable thread never fails them: a page the server cannot send
(an error status) is read again one thread at a time, and the threads that still fail are
skipped and logged. (Input is bounded where it enters, so no thread stored today is
unreadable; this keeps a thread stored before, or by a bug, from taking every list down.)
`thread_ids_starting` finds the threads whose id starts with some text (the command line
takes the start of an id wherever it takes one).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

log = logging.getLogger("signoff.client.thread_pages")

PAGE = 1000
"""The largest page `threads.search` returns."""


async def searched_threads(client: LangGraphClient, **search: Any) -> AsyncIterator[dict[str, Any]]:
    """The threads `client.threads.search(**search)` finds, through every page; threads the
    server cannot send are skipped (and logged)."""
    offset = 0
    while True:
        page: list[dict[str, Any]]
        try:
            found = await client.threads.search(limit=PAGE, offset=offset, **search)
            page = [dict(thread) for thread in found]
            more = len(page) == PAGE
        except httpx.HTTPStatusError as error:
            if error.response.status_code < 500:
                raise
            page, more = await _readable(client, offset, search)
        for thread in page:
            yield thread
        if not more:
            return
        offset += PAGE


async def _readable(
    client: LangGraphClient, offset: int, search: dict[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    """The threads of the page at `offset` the server can send, read one at a time, and
    whether the search goes on past the page."""
    readable: list[dict[str, Any]] = []
    for position in range(offset, offset + PAGE):
        try:
            found = await client.threads.search(limit=1, offset=position, **search)
        except httpx.HTTPStatusError as error:
            log.warning(
                "Skipping the thread at position %s of a thread search: the server cannot "
                "send it (HTTP %s)",
                position,
                error.response.status_code,
            )
            continue
        if not found:
            return readable, False
        readable += [dict(thread) for thread in found]
    return readable, True


async def thread_ids_starting(client: LangGraphClient, digits: str) -> list[str]:
    """The ids of the threads `client` may see (the server's auth filters its searches) whose
    hex digits, dashes aside, start with `digits` (lower case), in order."""
    found = searched_threads(client, select=["thread_id"])
    ids = {str(thread["thread_id"]) async for thread in found}
    return sorted(i for i in ids if i.replace("-", "").lower().startswith(digits))
