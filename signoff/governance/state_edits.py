"""The graphs as the server serves them: every state edit through the state API is audited.

`update_state` is for admins only (`signoff.server.auth` refuses everyone else before it runs). Each
edit it makes is recorded on the thread's signed trail as a `state_edit` entry naming the
admin, the keys written and their values before and after: `served(graph)` is the factory
`langgraph.json` points at, and for the state API (`access_context == "threads.update"`) it
hands the server a copy of the graph whose `abulk_update_state` appends that entry to every
update. An edit that writes `audit` itself breaks the chain, so execution refuses to run
anything on it; an `audit` value that is not a list of entries (objects with an entry's
fields) is refused outright (400), so that no reader of the trail ever meets one. Every edit
is bounded like any other value a client sends (`signoff.protocol.bounds`). Clearing a pending
request (`values: null`) is refused: withdraw it instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.types import StateUpdate
from langgraph_sdk.runtime import ServerRuntime

from signoff.governance.audit import ENTRY_FIELDS, audit_key, state_edit_entry
from signoff.governance.identity import identity_of, run_thread_id
from signoff.protocol.bounds import check_bounds

EDITOR = "signoff_state_editor"
"""Configurable key carrying the admin who edits (set by `served`, never by a client)."""

GraphSource = CompiledStateGraph | Callable[[], Awaitable[CompiledStateGraph]]


def served(source: GraphSource) -> Callable[[ServerRuntime], Awaitable[CompiledStateGraph]]:
    """The server's factory for `source` (a compiled graph, or an async factory of one)."""

    async def graph(runtime: ServerRuntime) -> CompiledStateGraph:
        compiled = source if isinstance(source, Pregel) else await source()
        if runtime.access_context != "threads.update":
            return compiled
        identity = identity_of(runtime.user)
        return edited_by(compiled, identity.user if identity else "the server (in-process call)")

    return graph


def edited_by(compiled: CompiledStateGraph, editor: str) -> CompiledStateGraph:
    """`compiled`, whose state edits are audited as made by `editor`."""
    attrs = {k: v for k, v in compiled.__dict__.items() if k != "__orig_class__"}
    return StateEditsAudited(**attrs).with_config(configurable={EDITOR: editor})


class StateEditsAudited(CompiledStateGraph):
    """A compiled graph whose state updates each carry a signed `state_edit` audit entry."""

    async def abulk_update_state(
        self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
    ) -> RunnableConfig:
        """Apply the updates, each with an audit entry naming the editor."""
        await asyncio.to_thread(audit_key)  # read the key file off the event loop, once
        editor = str(((self.config or {}).get("configurable") or {}).get(EDITOR))
        thread_id = run_thread_id(config)
        state = await self.aget_state(config)
        values, trail = dict(state.values), list(state.values.get("audit") or [])
        audited = []
        for superstep in supersteps:
            step = []
            for update in superstep:
                edit = _checked_edit(update.values)
                before = {key: values.get(key) for key in edit}
                entry = state_edit_entry(editor, before, edit, update.as_node, trail, thread_id)
                written = {**edit, "audit": [*edit.get("audit", []), entry]}
                step.append(StateUpdate(written, update.as_node, update.task_id))
                values |= edit
                trail = [*trail, *edit.get("audit", []), entry]
            audited.append(step)
        return await super().abulk_update_state(config, audited)


def _checked_edit(values: object) -> dict[str, Any]:
    """`values`, an edit; `ValueError` (the server's 400) for one that is not an object of
    state keys within bounds, or whose `audit` is not a list of entries."""
    if not isinstance(values, dict):
        raise ValueError(
            "A state edit must write an object of state keys. To close a pending "
            'request, its requester or an admin withdraws it by answering "withdraw".'
        )
    check_bounds(values, "state edit")
    audit = values.get("audit", [])
    if not isinstance(audit, list) or not all(
        isinstance(entry, dict) and entry.keys() >= ENTRY_FIELDS for entry in audit
    ):
        raise ValueError(
            "A state edit of `audit` must write a list of audit entries (objects with "
            f"{', '.join(sorted(ENTRY_FIELDS))}); anything else would break every reader of "
            "the trail. Entries not signed by the server are kept but run nothing."
        )
    return values
