"""The run API of a LangGraph server, in process, behind signoff's auth: what the stateful
property test of the side doors drives (`tests/unit/test_side_doors.py`).

`LocalServer` keeps threads as `langgraph dev` does: a record whose metadata names the graph
and assistant that last ran it (a run rebinds it, as the server's does), checkpoints in one
in-memory saver, a thread deleted when a stateless run ends. Every call a client makes is
admitted by the functions the server's auth calls (`signoff.server.admission`,
`signoff.governance.visibility`) and state edits go through the state API's audited editor
(`signoff.governance.state_edits`), so the rules under test are the product's own. `LocalClient` is
the server's in-process client as signoff's sweeper and readers use it (no auth, the handful of
calls they make), so the real sweeper and the real readers run against the same threads.

What only the real server proves (HTTP, its own records and ids, the handlers' wiring) is
proven through it (`tests/integration/test_side_doors.py`).
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from signoff.governance.identity import Identity
from signoff.governance.policy import admin_refusal
from signoff.governance.state_edits import edited_by
from signoff.governance.visibility import (
    OWNER,
    VIEWERS,
    may_see,
    not_visible,
    user_principal,
    viewers_of,
)
from signoff.server.admission import (
    Refusal,
    RunRequest,
    ThreadFacts,
    run_refusal,
    thread_create_refusal,
)
from tests.in_process import as_user


@dataclass(frozen=True)
class Assistant:
    """An assistant: the graph it runs and the context its runs get."""

    assistant_id: str
    graph: str
    context: Any = None


@dataclass
class ThreadRecord:
    """The server's record of a thread: its metadata and when it last changed."""

    metadata: dict[str, Any]
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class LocalServer:
    """Threads of `graphs`, run by `assistants`, each call admitted as the server admits it."""

    def __init__(self, graphs: dict[str, CompiledStateGraph], assistants: list[Assistant]):
        self.saver = InMemorySaver()
        self.graphs = {
            name: g.copy(update={"checkpointer": self.saver}) for name, g in graphs.items()
        }
        self.assistants = {assistant.assistant_id: assistant for assistant in assistants}
        self.threads: dict[str, ThreadRecord] = {}

    # What clients call, each admitted by signoff's rules.

    def create_thread(self, identity: Identity) -> str:
        """`threads.create`: a new thread, its creator's."""
        if refusal := thread_create_refusal(identity, {}, copying=False):
            raise refusal
        thread_id = str(uuid.uuid4())
        self.threads[thread_id] = ThreadRecord(_owned_by(identity))
        return thread_id

    def run(
        self,
        identity: Identity,
        thread_id: str | None,
        assistant_id: str,
        *,
        stop_before: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """`runs.wait`: admitted by `run_refusal`, then run to its end or pause. `kwargs` are
        the run's (`input`, `command`, `temporary`, `interrupt_before`, ...); `stop_before`
        stops the run before those nodes as a cancellation between steps would (the server's
        cancel, not a client's parameter)."""
        assistant = self.assistants[assistant_id]
        run = RunRequest(thread_id, assistant_id, assistant.graph, kwargs=kwargs)
        if refusal := run_refusal(identity, run, self.facts(thread_id) if thread_id else None):
            raise refusal
        if thread_id is None or thread_id not in self.threads:
            thread_id = thread_id or str(uuid.uuid4())
            self.threads[thread_id] = ThreadRecord(_owned_by(identity))
        return self._execute(identity, thread_id, assistant, kwargs, stop_before)

    def update_state(
        self, identity: Identity, thread_id: str, values: Any, as_node: str | None = None
    ) -> None:
        """`threads.update_state`: admins only; audited by the state API's editor."""
        if refusal := admin_refusal(identity, "edit thread state or metadata"):
            raise Refusal(403, refusal)
        facts = self._visible(identity, thread_id)
        graph = self.graphs[str(facts.graph_id)]
        editor = edited_by(graph, identity.user)
        try:
            asyncio.run(editor.aupdate_state(_config(thread_id), values, as_node=as_node))
        except ValueError as error:  # the server's 400
            raise Refusal(400, str(error)) from None
        self._touch(thread_id)

    def copy(self, identity: Identity, thread_id: str) -> str:
        """`threads.copy`: admins only."""
        if refusal := thread_create_refusal(identity, None, copying=True):
            raise refusal
        self._visible(identity, thread_id)
        copy_id = str(uuid.uuid4())
        _copy_checkpoints(self.saver, thread_id, copy_id)
        self.threads[copy_id] = ThreadRecord(dict(self.threads[thread_id].metadata))
        return copy_id

    def get_state(self, identity: Identity, thread_id: str) -> ThreadFacts:
        """`threads.get_state`: only who may see the thread."""
        return self._visible(identity, thread_id)

    def search(self, identity: Identity, status: str | None = None) -> list[str]:
        """`threads.search`: the threads `identity` may see (`interrupted`: with work left)."""
        found = []
        for thread_id in self.threads:
            facts = self.facts(thread_id)
            if facts is None or not may_see(identity, facts.viewers):
                continue
            if status is None or (status == "interrupted") == bool(self._next(thread_id)):
                found.append(thread_id)
        return found

    # What the server itself does.

    def facts(self, thread_id: str) -> ThreadFacts | None:
        """What the server holds of `thread_id`, as `signoff.server.auth` reads it."""
        record = self.threads.get(thread_id)
        if record is None:
            return None
        graph = self.graphs.get(str(record.metadata.get("graph_id")))
        if graph is None:
            return ThreadFacts(thread_id, record.metadata, started=False)
        snapshot = graph.get_state(_config(thread_id))
        return ThreadFacts(
            thread_id=thread_id,
            metadata=record.metadata,
            started=snapshot.created_at is not None,
            values=snapshot.values,
            interrupts=[{"id": i.id, "value": i.value} for i in snapshot.interrupts],
        )

    def run_as_server(self, thread_id: str, **kwargs: Any) -> None:
        """A run the server starts itself (the sweeper's): no identity, no auth."""
        record = self.threads[thread_id]
        assistant = self.assistants[str(record.metadata["assistant_id"])]
        self._execute(None, thread_id, assistant, kwargs, None)

    def history(self, thread_id: str, limit: int) -> list[dict[str, Any]]:
        """`threads.get_history` as the server returns it (newest first)."""
        graph = self.graphs[str(self.threads[thread_id].metadata["graph_id"])]
        return [
            {
                "values": snapshot.values,
                "next": list(snapshot.next),
                "metadata": dict(snapshot.metadata or {}),
                "interrupts": [{"id": i.id, "value": i.value} for i in snapshot.interrupts],
                "tasks": [
                    {
                        "name": t.name,
                        "interrupts": [{"id": i.id, "value": i.value} for i in t.interrupts],
                    }
                    for t in snapshot.tasks
                ],
            }
            for snapshot in list(graph.get_state_history(_config(thread_id), limit=limit))
        ]

    def record(self, thread_id: str) -> dict[str, Any]:
        """The thread as `threads.search` returns it."""
        record, facts = self.threads[thread_id], self.facts(thread_id)
        assert facts is not None
        return {
            "thread_id": thread_id,
            "metadata": record.metadata,
            "updated_at": record.updated_at.isoformat(),
            "status": "interrupted" if self._next(thread_id) else "idle",
            "values": facts.values,
            "interrupts": {i["id"]: [i] for i in facts.interrupts},
        }

    def _execute(
        self,
        identity: Identity | None,
        thread_id: str,
        assistant: Assistant,
        kwargs: dict[str, Any],
        stop_before: list[str] | None,
    ) -> dict[str, Any]:
        record = self.threads[thread_id]
        record.metadata |= {"graph_id": assistant.graph, "assistant_id": assistant.assistant_id}
        command = kwargs.get("command")
        payload = Command(**command) if command else kwargs.get("input")
        graph = self.graphs[assistant.graph]
        config = as_user(_config(thread_id), identity)
        stop = stop_before or kwargs.get("interrupt_before")
        result = graph.invoke(payload, config, context=assistant.context, interrupt_before=stop)
        self._touch(thread_id)
        if kwargs.get("temporary"):
            del self.threads[thread_id]
        return result

    def _next(self, thread_id: str) -> tuple[str, ...]:
        graph = self.graphs.get(str(self.threads[thread_id].metadata.get("graph_id")))
        return tuple(graph.get_state(_config(thread_id)).next) if graph else ()

    def _visible(self, identity: Identity, thread_id: str) -> ThreadFacts:
        facts = self.facts(thread_id)
        if facts is None or not may_see(identity, facts.viewers):
            raise Refusal(404, not_visible(thread_id, identity))
        return facts

    def _touch(self, thread_id: str) -> None:
        record = self.threads.get(thread_id)
        if record is not None:
            record.updated_at = datetime.now(UTC)
            facts = self.facts(thread_id)
            assert facts is not None
            record.metadata[VIEWERS] = sorted(
                viewers_of(record.metadata, facts.values, facts.interrupts)
            )


class LocalClient:
    """The server's in-process `langgraph-sdk` client, as signoff's sweeper and readers call
    it: `threads.search`, `threads.get_history` and `runs.create`, with no auth."""

    def __init__(self, server: LocalServer) -> None:
        self.threads = _Threads(server)
        self.runs = _Runs(server)


@dataclass
class _Threads:
    server: LocalServer

    async def search(
        self, *, limit: int = 10, offset: int = 0, status: str | None = None, **_: Any
    ) -> list[dict[str, Any]]:
        records = [self.server.record(thread_id) for thread_id in list(self.server.threads)]
        records = [r for r in records if status is None or r["status"] == status]
        records.sort(key=lambda r: r["updated_at"], reverse=True)
        return records[offset : offset + limit]

    async def get_history(self, thread_id: str, limit: int = 10) -> list[dict[str, Any]]:
        return self.server.history(thread_id, limit)


@dataclass
class _Runs:
    server: LocalServer

    async def create(
        self, thread_id: str, assistant_id: str, *, multitask_strategy: str = "reject", **run: Any
    ) -> dict[str, Any]:
        self.server.run_as_server(thread_id, **run)
        return {"thread_id": thread_id}


def _copy_checkpoints(saver: InMemorySaver, source: str, target: str) -> None:
    """Every checkpoint, write and blob of thread `source`, as thread `target`'s (what the
    server's copy does; the in-memory saver has no `copy_thread`)."""
    saver.storage[target] = copy.deepcopy(saver.storage[source])
    for (thread, *rest), value in list(saver.writes.items()):
        if thread == source:
            saver.writes[(target, *rest)] = copy.deepcopy(value)
    for (thread, *rest), blob in list(saver.blobs.items()):
        if thread == source:
            saver.blobs[(target, *rest)] = copy.deepcopy(blob)


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _owned_by(identity: Identity) -> dict[str, Any]:
    return {OWNER: identity.user, VIEWERS: [user_principal(identity.user)]}
