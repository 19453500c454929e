"""Every thread a `threads.search` finds, page by page: the API returns at most 1000 at once.

The sweeper, the metrics and the command line all read the pending requests this way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langgraph_sdk.client import LangGraphClient

PAGE = 1000
"""The largest page `threads.search` returns."""


async def searched_threads(client: LangGraphClient, **search: Any) -> AsyncIterator[dict[str, Any]]:
    """The threads `client.threads.search(**search)` finds, through every page."""
    offset = 0
    while True:
        page = await client.threads.search(limit=PAGE, offset=offset, **search)
        for thread in page:
            yield thread
        if len(page) < PAGE:
            return
        offset += PAGE
