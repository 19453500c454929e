"""Graph factories for graphs whose construction talks to the workspace.

The agents' Unity Catalog tools are built from function metadata fetched over HTTP, so those
graphs cannot be compiled at import time (the server would not start without a workspace)
nor on the server's event loop (a blocking call there stalls every run). `built_on_first_use`
turns a builder into the async zero-argument factory `langgraph.json` can point at: it builds
once, in a worker thread, and reuses the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache

from langgraph.graph.state import CompiledStateGraph


def built_on_first_use(
    build: Callable[[], CompiledStateGraph],
) -> Callable[[], Awaitable[CompiledStateGraph]]:
    """An async factory that runs `build` once, off the event loop, and caches the graph."""
    build_once = cache(build)

    async def graph() -> CompiledStateGraph:
        return await asyncio.to_thread(build_once)

    graph.__doc__ = build.__doc__
    return graph
