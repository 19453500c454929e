"""Pending approvals survive server restarts and crashes, with side effects exactly once.

One `langgraph dev` per test, on the durable checkpointer under test, is stopped and started
again on the same working directory. Every graph has a thread waiting for approval across it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph_sdk.errors import NotFoundError

from signoff.databricks.checkpointer import async_checkpointer
from tests.dev_users import signed_in_clients
from tests.integration.conftest import Flow
from tests.langgraph_server import LanggraphServer, copy_project

WAITING = {
    "approve_reject": lambda tag: {"operation": {"amount": 5000, "target": "acct-9"}},
    "edit_state": lambda tag: {"brief": {"to": ["ops@example.com"], "topic": "the outage"}},
    "multi_stage_approval": lambda tag: {"action": {"name": "rotate_keys"}},
    "review_tool_calls": lambda tag: {
        "messages": [{"role": "user", "content": f"refund 5 on order 3 because late {tag}"}]
    },
    "databricks_workflow": lambda tag: {
        "messages": [{"role": "user", "content": f"start the nightly job for {tag}"}]
    },
}
FLUSHED_RECORDS = Path(".langgraph_api") / ".langgraph_ops.pckl"


@pytest.fixture
async def durable_server(
    tmp_path: Path, emulator, checkpointer_setting: str
) -> AsyncIterator[LanggraphServer]:
    """A server on the durable checkpointer under test, with the session's emulator."""
    server = LanggraphServer(
        copy_project(tmp_path / "project"),
        env={
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "SIGNOFF_CHECKPOINTER": checkpointer_setting,
        },
    )
    await asyncio.to_thread(server.start)
    yield server
    server.stop()


async def start_every_graph(server: LanggraphServer, emulator) -> list[Flow]:
    """One thread per graph, each paused for approval."""
    flows = []
    async with signed_in_clients(server.url) as clients:
        for graph, payload in WAITING.items():
            flow = Flow(clients, server, emulator, graph)
            await flow.start(payload(flow.tag))
            assert await flow.status() == "interrupted", graph
            flows.append(flow)
    return flows


async def requests_of(server: LanggraphServer, flows: list[Flow]) -> dict[str, Any]:
    """The pending interrupt values in each flow's checkpointed state, by thread id."""
    async with signed_in_clients(server.url) as clients:
        client = clients("alice")
        return {
            flow.thread_id: [
                i["value"] for i in (await client.threads.get_state(flow.thread_id))["interrupts"]
            ]
            for flow in flows
        }


async def statuses(server: LanggraphServer, flows: list[Flow]) -> set[str]:
    """The dev server's recorded status of each flow's thread."""
    async with signed_in_clients(server.url) as clients:
        client = clients("alice")
        return {(await client.threads.get(flow.thread_id))["status"] for flow in flows}


async def approve_to_the_end(server: LanggraphServer, flows: list[Flow]) -> None:
    """Approve every pause of every flow until nothing is pending; each executes once."""
    async with signed_in_clients(server.url) as clients:
        client = clients("alice")
        for flow in flows:
            flow.clients, flow.client = clients, client
            while (await client.threads.get_state(flow.thread_id))["interrupts"]:
                await flow.resume("approve")
            assert await flow.status() == "idle", flow.graph
            assert len(flow.executions()) == 1, (flow.graph, flow.executions())


async def test_sigterm_restart_keeps_every_pending_approval(durable_server, emulator):
    flows = await start_every_graph(durable_server, emulator)
    before = await requests_of(durable_server, flows)
    assert all(before.values())
    durable_server.stop(signal.SIGTERM)
    await asyncio.to_thread(durable_server.start)
    assert await statuses(durable_server, flows) == {"interrupted"}
    assert await requests_of(durable_server, flows) == before
    assert all(flow.executions() == [] for flow in flows)
    await approve_to_the_end(durable_server, flows)


@pytest.mark.parametrize("checkpointer_setting", ["postgres"], indirect=True)
async def test_sigkill_loses_no_checkpoint(durable_server, emulator, checkpointer_setting):
    """SIGKILL: the dev server's own thread records are flushed to `.langgraph_api/` every
    ~10 s, so threads created since the last flush vanish from its thread list. Their
    checkpoints are all in the durable checkpointer, and re-creating a lost thread id (with
    its `graph_id` metadata) brings its pending approval back."""
    flushed = await start_every_graph(durable_server, emulator)
    await asyncio.to_thread(wait_for_flush, durable_server, time.time())
    unflushed = await start_every_graph(durable_server, emulator)
    before = await requests_of(durable_server, flushed + unflushed)
    durable_server.stop(signal.SIGKILL)

    async with async_checkpointer(checkpointer_setting) as saver:
        for flow in flushed + unflushed:
            assert await pending_writes(saver, flow.thread_id), flow.graph

    await asyncio.to_thread(durable_server.start)
    assert await statuses(durable_server, flushed) == {"interrupted"}
    after = await requests_of(durable_server, flushed)
    async with signed_in_clients(durable_server.url) as clients:
        client = clients("alice")
        for flow in unflushed:
            with pytest.raises(NotFoundError):
                await client.threads.get(flow.thread_id)
            await client.threads.create(
                thread_id=flow.thread_id, metadata={"graph_id": flow.graph}, if_exists="do_nothing"
            )
    after |= await requests_of(durable_server, unflushed)
    assert after == before
    await approve_to_the_end(durable_server, flushed + unflushed)


def wait_for_flush(server: LanggraphServer, since: float, timeout: float = 30) -> None:
    """Block until the dev server has written its thread records after `since`."""
    records = server.workdir / FLUSHED_RECORDS
    deadline = time.monotonic() + timeout
    while not (records.exists() and records.stat().st_mtime > since):
        assert time.monotonic() < deadline, "the dev server never flushed its records"
        time.sleep(0.5)


async def pending_writes(saver: BaseCheckpointSaver, thread_id: str) -> list[Any]:
    """The interrupt writes stored with the thread's latest checkpoint."""
    checkpoint = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
    assert checkpoint is not None, f"no checkpoint for {thread_id}"
    return [write for write in checkpoint.pending_writes or [] if write[1] == "__interrupt__"]
