"""Many workers, one database: a thread paused by one process is resumed by another, and a
worker killed between an approval and the end of its tool call is finished elsewhere without
a second Databricks run. Each worker is a separate `SignoffAgent` process (a Model Serving
replica) on the shared checkpointer."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import tagged_job_runs
from tests.langgraph_server import REPO

WORKER = REPO / "tests" / "serving_worker.py"
RUNS_GET = "/api/2.2/jobs/runs/get"


@pytest.fixture
def worker_env(emulator, checkpointer_setting: str, tmp_path: Path) -> dict[str, str]:
    """The environment every replica shares: workspace, checkpointer, MLflow and ledger."""
    return {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DATABRICKS_HOST": emulator.url,
        "DATABRICKS_TOKEN": emulator.token,
        "SIGNOFF_CHECKPOINTER": checkpointer_setting,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "SIGNOFF_LEDGER": str(tmp_path / "ledger.jsonl"),
    }


def launch(env: dict[str, str], request: dict[str, Any]) -> subprocess.Popen[str]:
    """Start a replica serving `request` on the job agent."""
    return subprocess.Popen(
        [sys.executable, str(WORKER), "databricks_workflow", json.dumps(request)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def serve(env: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
    """Serve one request in a fresh replica process and return its response."""
    process = launch(env, request)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.splitlines()[-1])


def start_request(tag: str) -> dict[str, Any]:
    """A Responses request asking the job agent to start the nightly job."""
    return {"input": [{"role": "user", "content": f"start the nightly job for {tag}"}]}


def approval(thread_id: str) -> dict[str, Any]:
    """The seeds' plain approval of everything the thread waits for."""
    return {"input": [], "custom_inputs": {"thread_id": thread_id, "decision": "approved"}}


@pytest.mark.parametrize("checkpointer_setting", ["postgres", "lakebase"], indirect=True)
def test_one_process_pauses_another_resumes(worker_env, emulator):
    tag = uuid.uuid4().hex
    paused = serve(worker_env, start_request(tag))
    assert paused["custom_outputs"]["is_interrupted"] is True
    thread_id = paused["custom_outputs"]["thread_id"]
    assert tagged_job_runs(emulator, tag) == []

    done = serve(worker_env, approval(thread_id))
    assert done["custom_outputs"]["is_interrupted"] is False
    [run] = tagged_job_runs(emulator, tag)
    assert f"Started run {run['run_id']}" in done["text"]


@pytest.mark.parametrize("checkpointer_setting", ["lakebase"], indirect=True)
def test_worker_killed_mid_tool_call_is_finished_elsewhere_without_a_second_run(
    worker_env, emulator
):
    tag = uuid.uuid4().hex
    thread_id = serve(worker_env, start_request(tag))["custom_outputs"]["thread_id"]

    httpx.post(f"{emulator.url}/emulator/delays", json={"path": RUNS_GET, "seconds": 300})
    try:
        doomed = launch(worker_env, approval(thread_id))
        deadline = time.monotonic() + 120
        while not tagged_job_runs(emulator, tag):  # run_now has run; get_run now hangs
            assert doomed.poll() is None, doomed.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the approved job never started"
            time.sleep(0.2)
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate(timeout=30)
    finally:
        httpx.delete(f"{emulator.url}/emulator/delays")
    [started] = tagged_job_runs(emulator, tag)

    finished = serve(worker_env, approval(thread_id))  # the client retries its approval
    assert finished["custom_outputs"]["is_interrupted"] is False
    assert f"Started run {started['run_id']}" in finished["text"]
    # The retry ran the tool again with the same idempotency token: still one run.
    assert [run["run_id"] for run in tagged_job_runs(emulator, tag)] == [started["run_id"]]
