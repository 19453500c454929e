"""The Databricks tools in-process, through the real databricks-sdk over HTTP to the emulator:
idempotent starts, cancellation rules, and a clear message for every failure."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.tools import ToolException

from signoff.databricks.workspace import uses_real_workspace, workspace_client
from signoff.settings import load_settings
from signoff.tools.databricks_jobs import (
    poll_databricks_job,
    start_databricks_job,
    terminate_databricks_job,
)
from signoff.tools.genie import query_genie
from tests.langgraph_server import free_port


@pytest.fixture
def on_emulator(emulator, monkeypatch, tmp_path):
    """Point the tools' workspace client (and settings) at the session's emulator."""
    monkeypatch.setenv("DATABRICKS_HOST", emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    workspace_client.cache_clear()
    load_settings.cache_clear()
    yield
    workspace_client.cache_clear()
    load_settings.cache_clear()


def start(request: str, call_id: str, thread_id: str, **parameters: str):
    """Invoke start_databricks_job as the graph does: a tool call inside a thread's config."""
    call = {
        "name": "start_databricks_job",
        "id": call_id,
        "type": "tool_call",
        "args": {"user_request": request, "parameters": parameters or None},
    }
    return start_databricks_job.invoke(call, {"configurable": {"thread_id": thread_id}})


def runs_for(workspace, tag):
    """Runs of the nightly job whose user_request carries `tag`, via the real runs list."""
    runs = [workspace.jobs.get_run(r.run_id) for r in workspace.jobs.list_runs(job_id=101)]
    return [
        r
        for r in runs
        if any(p.name == "user_request" and tag in (p.value or "") for p in r.job_parameters)
    ]


def use_settings(monkeypatch, tmp_path, **databricks):
    """Use a settings file like signoff.toml but with `databricks` values replaced."""
    values = {
        "job_id": 101,
        "genie_space_id": "01f0c0ffee5160ff",
        "model_endpoint": "signoff-dev-model",
        **databricks,
    }
    lines = ["[databricks]", *(f"{k} = {v!r}" for k, v in values.items())]
    path = tmp_path / "signoff.toml"
    path.write_text("\n".join(lines).replace("'", '"'))
    monkeypatch.setenv("SIGNOFF_CONFIG", str(path))
    load_settings.cache_clear()


@pytest.mark.usefixtures("on_emulator")
def test_start_returns_run_id_at_once_and_passes_parameters(workspace):
    tag = uuid.uuid4().hex
    message = start(f"nightly {tag}", "call-1", "thread-a", mode="full")
    run = message.artifact
    assert message.content.startswith(f"Started run {run['run_id']} of job 101 (PENDING)")
    assert run["run_page_url"].endswith(f"/#job/101/run/{run['run_id']}")
    [seen] = runs_for(workspace, tag)
    assert {p.name: p.value for p in seen.job_parameters}["mode"] == "full"


@pytest.mark.usefixtures("on_emulator")
def test_replayed_approval_never_starts_a_second_run(workspace):
    tag = uuid.uuid4().hex
    first = start(f"nightly {tag}", "call-1", "thread-b").artifact
    replay = start(f"nightly {tag}", "call-1", "thread-b").artifact
    assert replay["run_id"] == first["run_id"]
    assert len(runs_for(workspace, tag)) == 1
    other_call = start(f"nightly {tag}", "call-2", "thread-b").artifact
    other_thread = start(f"nightly {tag}", "call-1", "thread-c").artifact
    assert len({first["run_id"], other_call["run_id"], other_thread["run_id"]}) == 3


@pytest.mark.usefixtures("on_emulator")
def test_poll_and_cancel_follow_the_run_life_cycle(emulator):
    run_id = start("nightly", "call-1", uuid.uuid4().hex).artifact["run_id"]
    assert "is PENDING" in poll_databricks_job.invoke({"run_id": run_id})
    cancelled = terminate_databricks_job.invoke({"run_id": run_id})
    assert cancelled.startswith(f"Cancellation requested for run {run_id}.")
    assert "TERMINATED, result CANCELED" in cancelled
    again = terminate_databricks_job.invoke({"run_id": run_id})
    assert again.startswith(f"Run {run_id} was not cancelled: it is already finished.")


@pytest.mark.usefixtures("on_emulator")
def test_genie_answers_with_sql_and_a_table():
    answer = query_genie.invoke({"question": "how many orders last week"})
    assert "SQL: SELECT COUNT(*)" in answer
    assert "| order_count |" in answer.replace("   ", " ").replace("  ", " ")


@pytest.mark.usefixtures("on_emulator")
@pytest.mark.parametrize(
    ("invoke", "message"),
    [
        (
            lambda: poll_databricks_job.invoke({"run_id": 999999}),
            "Could not get the status of run 999999: not found. Run 999999 does not exist.",
        ),
        (
            lambda: terminate_databricks_job.invoke({"run_id": 999999}),
            "Could not cancel run 999999: not found. Run 999999 does not exist.",
        ),
    ],
    ids=["poll missing run", "cancel missing run"],
)
def test_missing_run_is_named(invoke, message):
    with pytest.raises(ToolException, match=message):
        invoke()


@pytest.mark.usefixtures("on_emulator")
def test_unknown_job_is_named(monkeypatch, tmp_path):
    use_settings(monkeypatch, tmp_path, job_id=999)
    with pytest.raises(ToolException, match=r"Could not start job 999: .*Job 999 does not exist"):
        start("nightly", "call-1", "thread-d")


@pytest.mark.usefixtures("on_emulator")
def test_permission_denied_is_named(monkeypatch, tmp_path):
    use_settings(monkeypatch, tmp_path, job_id=13)
    with pytest.raises(ToolException, match="Could not start job 13: permission denied"):
        start("payroll", "call-1", "thread-e")


@pytest.mark.usefixtures("on_emulator")
def test_unknown_genie_space_is_named(monkeypatch, tmp_path):
    use_settings(monkeypatch, tmp_path, genie_space_id="no-such-space")
    with pytest.raises(ToolException, match="Could not ask Genie space no-such-space"):
        query_genie.invoke({"question": "how many orders last week"})


def test_unreachable_workspace_is_named(monkeypatch):
    host = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("DATABRICKS_HOST", host)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-test")
    monkeypatch.setenv("SIGNOFF_DATABRICKS_RETRY_SECONDS", "1")
    workspace_client.cache_clear()
    try:
        with pytest.raises(
            ToolException, match=f"the Databricks workspace at {host} is unreachable"
        ):
            poll_databricks_job.invoke({"run_id": 1})
    finally:
        workspace_client.cache_clear()


def test_no_workspace_and_emulator_off_is_a_clear_error(monkeypatch, tmp_path):
    for name in (
        "DATABRICKS_HOST",
        "DATABRICKS_CONFIG_PROFILE",
        "DATABRICKS_MODEL_SERVING_HOST_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none.cfg"))
    monkeypatch.setenv("SIGNOFF_EMULATOR", "off")
    workspace_client.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="SIGNOFF_EMULATOR=off forbids the local emulator"):
            workspace_client()
    finally:
        workspace_client.cache_clear()


def test_model_serving_host_variable_counts_as_a_real_workspace(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none.cfg"))
    assert not uses_real_workspace()
    monkeypatch.setenv("DATABRICKS_MODEL_SERVING_HOST_URL", "https://example.cloud.databricks.com")
    assert uses_real_workspace()
