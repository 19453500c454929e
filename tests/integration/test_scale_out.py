"""Many workers, one database: a thread paused by one process is resumed by another; a worker
killed between a side effect and the checkpoint that records it is finished elsewhere without
doing it twice (a Databricks run, a ledger entry, a refund); and two workers never run one
thread at the same moment. Each worker is a separate `SignoffAgent` process (a Model Serving
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

from signoff.execution.ledger import read_entries
from tests.integration.conftest import tagged_job_runs, tagged_refunds
from tests.langgraph_server import REPO

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


def launch(
    env: dict[str, str], request: dict[str, Any], graph: str = "databricks_workflow"
) -> subprocess.Popen[str]:
    """Start a replica serving `request` on `graph`."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.serving_worker", graph, json.dumps(request)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def serve(
    env: dict[str, str],
    request: dict[str, Any],
    graph: str = "databricks_workflow",
    *,
    patience: float = 0,
) -> dict[str, Any]:
    """Serve one request in a fresh replica process and return its response. With `patience`,
    send it again while the thread's lease is held, as the refusal asks: after a replica is
    killed, the database may take a moment to notice its session is gone."""
    deadline = time.monotonic() + patience
    while True:
        process = launch(env, request, graph)
        out, err = process.communicate(timeout=180)
        reply = json.loads(out.splitlines()[-1]) if out.strip() else {}
        busy = "being run by another replica" in reply.get("error", "")
        if process.returncode == 0 or not busy or time.monotonic() > deadline:
            assert process.returncode == 0, f"{out[-1000:]}\n{err[-3000:]}"
            return reply
        time.sleep(1)


def launch_held_in_job_start(
    env: dict[str, str], emulator: Any, thread_id: str, tag: str
) -> subprocess.Popen[str]:
    """Launch a replica approving the thread's job start and wait until `run_now` has run:
    with `runs/get` delayed in the emulator, the replica is then held inside the tool call."""
    replica = launch(env, approval(thread_id))
    deadline = time.monotonic() + 120
    while not tagged_job_runs(emulator, tag):
        assert replica.poll() is None, replica.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the approved job never started"
        time.sleep(0.2)
    return replica


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
        doomed = launch_held_in_job_start(worker_env, emulator, thread_id, tag)
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate(timeout=30)
    finally:
        httpx.delete(f"{emulator.url}/emulator/delays")
    [started] = tagged_job_runs(emulator, tag)

    finished = serve(worker_env, approval(thread_id), patience=30)  # the client retries
    assert finished["custom_outputs"]["is_interrupted"] is False
    assert f"Started run {started['run_id']}" in finished["text"]
    # The retry ran the tool again with the same idempotency token: still one run.
    assert [run["run_id"] for run in tagged_job_runs(emulator, tag)] == [started["run_id"]]


def kill_after_side_effect(
    env: dict[str, str], request: dict[str, Any], graph: str, effect: str, marker: Path
) -> None:
    """Serve `request` in a replica that stalls right after `effect`, and SIGKILL it there:
    the side effect has happened, the checkpoint that records it has not."""
    stalling = {**env, "SIGNOFF_TEST_STALL_AFTER": effect, "SIGNOFF_TEST_STALL_MARKER": str(marker)}
    doomed = launch(stalling, request, graph)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert doomed.poll() is None, doomed.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"the {effect} never happened"
        time.sleep(0.1)
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=30)


def ledger_entries(env: dict[str, str], thread_id: str) -> list[dict[str, Any]]:
    """The ledger entries a thread caused, in the ledger the replicas share (a table beside
    the checkpoints on PostgreSQL and Lakebase)."""
    entries = read_entries(Path(env["SIGNOFF_LEDGER"]), setting=env["SIGNOFF_CHECKPOINTER"])
    return [e for e in entries if e["thread_id"] == thread_id]


LEDGER_GRAPHS = {
    "approve_reject": ({"operation": {"amount": 5000, "target": "acct-9"}}, 1),
    "edit_state": ({"brief": {"to": ["ops@example.com"], "topic": "the outage"}}, 1),
    "multi_stage_approval": ({"action": {"name": "rotate_keys"}}, 2),
}


@pytest.mark.parametrize("checkpointer_setting", ["postgres"], indirect=True)
@pytest.mark.parametrize("graph", sorted(LEDGER_GRAPHS))
def test_worker_killed_after_a_ledger_execution_never_doubles_it(worker_env, graph, tmp_path):
    graph_input, stages = LEDGER_GRAPHS[graph]
    paused = serve(worker_env, {"input": [], "custom_inputs": {"input": graph_input}}, graph)
    thread_id = paused["custom_outputs"]["thread_id"]
    for _ in range(stages - 1):  # the earlier stages of a chain approve normally
        assert serve(worker_env, approval(thread_id), graph)["custom_outputs"]["is_interrupted"]

    kill_after_side_effect(worker_env, approval(thread_id), graph, "ledger", tmp_path / "done")
    [entry] = ledger_entries(worker_env, thread_id)

    finished = serve(worker_env, approval(thread_id), graph, patience=30)  # the client retries
    assert finished["custom_outputs"]["is_interrupted"] is False
    assert entry["id"] in finished["text"]  # the retry reports the execution that happened
    assert ledger_entries(worker_env, thread_id) == [entry]


@pytest.mark.parametrize("checkpointer_setting", ["lakebase"], indirect=True)
def test_worker_killed_after_a_refund_never_doubles_it(worker_env, emulator, tmp_path):
    tag = uuid.uuid4().hex
    text = f"refund 2 on order 22 because damaged {tag}"  # order 17 runs out in a full session
    ask = {"input": [{"role": "user", "content": text}]}
    thread_id = serve(worker_env, ask, "review_tool_calls")["custom_outputs"]["thread_id"]

    kill_after_side_effect(
        worker_env, approval(thread_id), "review_tool_calls", "refund", tmp_path / "done"
    )
    [refund] = tagged_refunds(emulator, tag)

    finished = serve(worker_env, approval(thread_id), "review_tool_calls", patience=30)
    assert finished["custom_outputs"]["is_interrupted"] is False
    assert f"R-{refund['refund_id']}" in finished["text"]
    assert tagged_refunds(emulator, tag) == [refund]


@pytest.mark.parametrize("checkpointer_setting", ["lakebase", "sqlite"], indirect=True)
def test_two_replicas_never_run_one_thread_at_once(worker_env, emulator):
    tag = uuid.uuid4().hex
    thread_id = serve(worker_env, start_request(tag))["custom_outputs"]["thread_id"]

    httpx.post(f"{emulator.url}/emulator/delays", json={"path": RUNS_GET, "seconds": 300})
    try:
        first = launch_held_in_job_start(worker_env, emulator, thread_id, tag)
        second = launch(worker_env, approval(thread_id))
        out, err = second.communicate(timeout=180)
        assert second.returncode == 3, err[-3000:]
        refusal = json.loads(out.splitlines()[-1])["error"]
        assert f"Thread {thread_id!r} is being run by another replica" in refusal
        assert "Send it again when that run has finished" in refusal
    finally:
        httpx.delete(f"{emulator.url}/emulator/delays")
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err[-3000:]
    [run] = tagged_job_runs(emulator, tag)
    assert f"Started run {run['run_id']}" in json.loads(out.splitlines()[-1])["text"]
