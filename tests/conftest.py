"""Shared fixtures: one real `langgraph dev` server per session and SDK helpers around it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from signoff.ledger import read_entries
from tests.langgraph_server import LanggraphServer, copy_project


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanggraphServer]:
    """A real `langgraph dev` serving every graph, on a free port, from a temporary copy."""
    running = LanggraphServer(copy_project(tmp_path_factory.mktemp("signoff-server"))).start()
    yield running
    running.stop()


@pytest.fixture
async def client(server: LanggraphServer) -> AsyncIterator[LangGraphClient]:
    """An async `langgraph-sdk` client for the session's server."""
    async with get_client(url=server.url) as sdk:
        yield sdk


class Flow:
    """Drive one thread of one graph: start it, read what it waits for, answer, count effects."""

    def __init__(self, client: LangGraphClient, server: LanggraphServer, graph: str) -> None:
        self.client, self.server, self.graph = client, server, graph
        self.thread_id = ""
        self.tag = uuid.uuid4().hex

    async def start(self, payload: dict[str, Any], **run: Any) -> dict[str, Any]:
        """Create a tagged thread and run the graph on `payload` until it ends or pauses."""
        thread = await self.client.threads.create(metadata={"test_tag": self.tag})
        self.thread_id = thread["thread_id"]
        return await self.client.runs.wait(
            self.thread_id, run.pop("assistant", self.graph), input=payload, **run
        )

    async def resume(self, answer: Any, **run: Any) -> dict[str, Any]:
        """Answer the pending interrupt(s) with `answer` (a value or a map by interrupt id)."""
        return await self.client.runs.wait(
            self.thread_id, self.graph, command={"resume": answer}, **run
        )

    async def status(self) -> str:
        """The thread's status: idle, busy, interrupted or error."""
        return (await self.client.threads.get(self.thread_id))["status"]

    async def pending(self) -> list[dict[str, Any]]:
        """Every interrupt the thread waits on, as `{"id", "value", ...}`."""
        thread = await self.client.threads.get(self.thread_id)
        return [item for items in (thread["interrupts"] or {}).values() for item in items]

    async def request(self) -> dict[str, Any]:
        """The value of the single pending interrupt (asserts there is exactly one)."""
        pending = await self.pending()
        assert len(pending) == 1, pending
        return pending[0]["value"]

    async def values(self) -> dict[str, Any]:
        """The thread's current state values."""
        return (await self.client.threads.get_state(self.thread_id))["values"]

    def executions(self) -> list[dict[str, Any]]:
        """Ledger entries (executed side effects) caused by this thread."""
        entries = read_entries(self.server.ledger)
        return [entry for entry in entries if entry["thread_id"] == self.thread_id]


@pytest.fixture
def flow(client: LangGraphClient, server: LanggraphServer):
    """Factory: `flow("approve_reject")` returns a fresh `Flow` for that graph."""
    return lambda graph: Flow(client, server, graph)
