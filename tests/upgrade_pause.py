"""Pause threads under the previous release, for `tests/integration/test_upgrades.py`.

Run with the previous release's checkout as the working directory and as `PYTHONPATH`, so
that `signoff` is that release's code: `python -P tests/upgrade_pause.py <spec.json>`. The
spec names the checkpointers (`SIGNOFF_CHECKPOINTER` values), the user the runs are started
as (a server user object, `configurable.langgraph_auth_user`) and, per checkpointer, the
threads to start: `{graph: {"thread_id", "input"}}`. Each thread runs until it pauses; the
script fails unless each one waits on a request.

It imports only what every release since the request version has: `signoff.graphs.GRAPHS`
and `signoff.databricks.checkpointer.async_checkpointer`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from signoff.databricks.checkpointer import async_checkpointer
from signoff.graphs import GRAPHS


async def pause(setting: str, user: dict[str, Any], threads: dict[str, Any]) -> None:
    """Run each of `threads` on the checkpointer `setting` as `user` until it pauses."""
    async with async_checkpointer(setting) as saver:
        for graph, thread in threads.items():
            compiled = GRAPHS[graph]().copy(update={"checkpointer": saver})
            config = {
                "configurable": {
                    "thread_id": thread["thread_id"],
                    "graph_id": graph,
                    "langgraph_auth_user": user,
                }
            }
            await compiled.ainvoke(thread["input"], config)
            state = await compiled.aget_state(config)
            if not state.interrupts:
                raise SystemExit(f"{graph} did not pause under the previous release: {state}")


async def main(spec: dict[str, Any]) -> None:
    """Pause every thread of `spec` on its checkpointer."""
    for setting, threads in spec["threads"].items():
        await pause(setting, spec["user"], threads)


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
