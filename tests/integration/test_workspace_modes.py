"""The two ways to reach Databricks: the embedded emulator when no workspace is configured,
and the configured workspace (the emulator stays off) when `DATABRICKS_HOST` is set; and the
clear error when neither is possible (installed from the wheel, which has no emulator)."""

from __future__ import annotations

import os
import sys

import pytest

from signoff.databricks.workspace import workspace_client
from tests.integration.test_readme import EXAMPLES, run_example
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


def test_without_databricks_host_the_emulator_serves_the_whole_readme_walkthrough(
    embedded_server,
):
    printed = run_example(EXAMPLES[1], embedded_server.url)
    assert "Started run" in printed and "result CANCELED" in printed
    assert "order_count" in printed
    log = embedded_server.log.read_text()
    assert log.count(EMBEDDED_LINE) == 1
    assert "http://127.0.0.1:" in log.split(EMBEDDED_LINE)[1].splitlines()[0]
    assert "BlockingError" not in log


async def test_with_databricks_host_set_the_emulator_stays_off(server, flow):
    run = flow("databricks_workflow")
    result = await run.start(
        {"messages": [{"role": "user", "content": "how many orders last week"}]}
    )
    assert "order_count" in result["messages"][-1]["content"]
    assert EMBEDDED_LINE not in server.log.read_text()


def test_without_a_workspace_or_the_emulator_package_the_error_says_how_to_fix_it(
    monkeypatch, tmp_path
):
    for name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("SIGNOFF_EMULATOR", raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none.cfg"))
    for module in [m for m in sys.modules if m.partition(".")[0] == "emulator"] + ["emulator"]:
        monkeypatch.setitem(sys.modules, module, None)  # as installed from the wheel
    workspace_client.cache_clear()
    try:
        with pytest.raises(RuntimeError) as raised:
            workspace_client()
    finally:
        workspace_client.cache_clear()
    message = str(raised.value)
    assert message.startswith("No Databricks workspace is configured")
    assert "the local workspace emulator is not installed" in message
    assert "source checkout" in message
    assert "Set DATABRICKS_HOST" in message and "DATABRICKS_CONFIG_PROFILE" in message
    assert "DATABRICKS_HOST" not in os.environ and "DATABRICKS_TOKEN" not in os.environ
