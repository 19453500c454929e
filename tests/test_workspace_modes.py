"""The two ways to reach Databricks: the embedded emulator when no workspace is configured,
and the configured workspace (the emulator stays off) when `DATABRICKS_HOST` is set."""

from __future__ import annotations

import os

import pytest
from langgraph_sdk import get_client

from tests.langgraph_server import LanggraphServer, copy_project

EMBEDDED_LINE = "No DATABRICKS_HOST set: started the local Databricks workspace emulator at"


@pytest.fixture
def embedded_server(tmp_path, monkeypatch):
    """A `langgraph dev` with no Databricks settings at all, as after `make dev`."""
    for name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)
    server = LanggraphServer(copy_project(tmp_path)).start()
    yield server
    server.stop()


async def test_without_databricks_host_the_emulator_starts_and_serves_the_agent(embedded_server):
    async with get_client(url=embedded_server.url) as client:
        thread = await client.threads.create()
        await client.runs.wait(
            thread["thread_id"],
            "databricks_workflow",
            input={"messages": [{"role": "user", "content": "start the nightly job"}]},
        )
        assert (await client.threads.get(thread["thread_id"]))["status"] == "interrupted"
        result = await client.runs.wait(
            thread["thread_id"], "databricks_workflow", command={"resume": "approve"}
        )
        [run_id] = result["job_runs"]
        assert f"Started run {run_id}" in result["messages"][-1]["content"]
    log = embedded_server.log.read_text()
    assert log.count(EMBEDDED_LINE) == 1
    assert "http://127.0.0.1:" in log.split(EMBEDDED_LINE)[1].splitlines()[0]


async def test_with_databricks_host_set_the_emulator_stays_off(server, flow):
    run = flow("databricks_workflow")
    result = await run.start(
        {"messages": [{"role": "user", "content": "how many orders last week"}]}
    )
    assert "order_count" in result["messages"][-1]["content"]
    assert EMBEDDED_LINE not in server.log.read_text()
