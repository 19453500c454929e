"""Graph factories for graphs whose construction talks to the workspace.

The agents' Unity Catalog tools are built from function metadata fetched over HTTP, and the
Databricks client libraries they use take seconds to import, so those graphs are not compiled
at import time (the server would start slowly, and not at all without a workspace) nor on the
server's event loop (a blocking call there stalls every run). `built_on_first_use` turns a
builder into the async zero-argument factory `langgraph.json` can point at: the server
registers it at start without calling it, and the first request that needs the graph builds
it, once, in a worker thread; later requests reuse the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from functools import cache

from langgraph.graph.state import CompiledStateGraph


def built_on_first_use(
    build: Callable[[], CompiledStateGraph],
) -> Callable[[], Awaitable[CompiledStateGraph]]:
    """An async factory that runs `build` once, off the event loop, and caches the graph."""
    build_once = cache(build)
    lock = threading.Lock()

    def built() -> CompiledStateGraph:
        with lock:  # requests that arrive during the first build wait for it, not build again
            return build_once()

    async def graph() -> CompiledStateGraph:
        return await asyncio.to_thread(built)

    graph.__doc__ = build.__doc__
    return graph
