"""Upgrades keep pending requests: threads paused by the previous release resume under this code.

`previous_release` checks out `PREVIOUS_RELEASE` in a throwaway worktree, and one thread of
every graph is paused there, by that release's code: on its `langgraph dev` server with a
SQLite checkpointer, and in process (`tests/upgrade_pause.py`) on PostgreSQL. This code then
reads each pending request (listed, with its summary, upgraded to `REQUEST_VERSION`), approves
it as a user the policy allows (through this release's server and langgraph-sdk, or in process
with the identity a server passes, `configurable.langgraph_auth_user`), and checks that the
action ran exactly once and the audit trail verifies.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command
from langgraph_sdk.client import LangGraphClient

from signoff.client.answering import answer_request
from signoff.client.pending_requests import every_pending_request, requests_of
from signoff.databricks.checkpointer import async_checkpointer
from signoff.databricks.workspace import workspace_client
from signoff.execution.ledger import read_entries
from signoff.governance.audit import audit_key, verify_thread
from signoff.graphs import GRAPHS
from signoff.protocol.interrupts import approval_interrupts, pending_actions
from signoff.protocol.shapes import REQUEST_VERSION
from signoff.settings import load_settings
from tests.dev_users import decider_for, signed_in_clients
from tests.in_process import dev_identity
from tests.integration.conftest import tagged_job_runs, tagged_refunds
from tests.langgraph_server import OFFLINE_ENV, REPO, LanggraphServer, copy_project

PREVIOUS_RELEASE = "d0ee74c3ee6722113c600e4d55fc67c7dd1ad7cf"
"""The release before this one, whose paused threads this code must resume. Move it to the
last commit of each release as the next one starts (and keep `tests/upgrade_pause.py`
importing only what that commit has)."""

PAUSE_SCRIPT = REPO / "tests" / "upgrade_pause.py"
REQUESTER = "alice"


def user(text: str) -> dict[str, Any]:
    """Graph input carrying one user message."""
    return {"messages": [{"role": "user", "content": text}]}


def inputs(tag: str) -> dict[str, Any]:
    """What each graph is started with under the previous release: each pauses for a person."""
    return {
        "approve_reject": {"operation": {"kind": "payment", "amount": 5000, "target": tag}},
        "edit_state": {"brief": {"to": ["ops@example.com"], "topic": tag, "details": "Fixed."}},
        "review_tool_calls": user(f"refund 25 on order 17 because damaged {tag}"),
        "multi_stage_approval": {
            "action": {"name": "deploy_release", "args": {"version": tag, "env": "prod"}}
        },
        "databricks_workflow": user(f"start the nightly job for {tag}"),
    }


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A detached worktree of `PREVIOUS_RELEASE`, removed afterwards."""
    known = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        capture_output=True,
    )
    if known.returncode != 0:
        pytest.fail(
            f"The previous release {PREVIOUS_RELEASE} is not in this clone (a shallow clone?). "
            f"Fetch it: `git fetch --unshallow` or `git fetch origin {PREVIOUS_RELEASE}`."
        )
    worktree = tmp_path_factory.mktemp("previous-release") / "signoff"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), PREVIOUS_RELEASE],
        check=True,
        capture_output=True,
    )
    try:
        yield worktree
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
            check=True,
            capture_output=True,
        )


@pytest.fixture(scope="module")
def on_emulator(emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment both releases run the graphs in: the agents' workspace and model on
    the emulator, one ledger and one audit key."""
    files = tmp_path_factory.mktemp("upgrade-env")
    env = {
        "DATABRICKS_HOST": emulator.url,
        "DATABRICKS_TOKEN": emulator.token,
        "MLFLOW_TRACKING_URI": f"sqlite:///{files / 'mlflow.db'}",
        "SIGNOFF_LEDGER": str(files / "ledger.jsonl"),
        "SIGNOFF_AUDIT_KEY": audit_key().decode(),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        workspace_client.cache_clear()
        load_settings.cache_clear()
        yield env
    workspace_client.cache_clear()
    load_settings.cache_clear()


def pause_under_previous_release(
    worktree: Path, env: dict[str, str], threads: dict[str, dict[str, Any]], spec_file: Path
) -> None:
    """Run `tests/upgrade_pause.py` as the previous release's code, pausing `threads`
    (checkpointer setting → graph → thread)."""
    spec = {"user": dev_identity(REQUESTER).as_auth_user(), "threads": threads}
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    environment = {**os.environ, **OFFLINE_ENV, **env, "PYTHONPATH": str(worktree)}
    environment.pop("SIGNOFF_CHECKPOINTER", None)
    done = subprocess.run(
        [sys.executable, "-P", str(PAUSE_SCRIPT), str(spec_file)],
        cwd=worktree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"pausing under {PREVIOUS_RELEASE} failed:\n{done.stderr[-4000:]}"


@pytest.fixture(scope="module")
def paused(
    previous_release: Path,
    on_emulator: dict[str, str],
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """One thread of every graph paused in process by the previous release on PostgreSQL:
    `{"setting", "tag", "threads": {graph: thread_id}}`."""
    tag = uuid.uuid4().hex
    threads = {graph: str(uuid.uuid4()) for graph in GRAPHS}
    starts = {
        graph: {"thread_id": threads[graph], "input": payload}
        for graph, payload in inputs(tag).items()
    }
    spec_file = tmp_path_factory.mktemp("upgrade-spec") / "spec.json"
    pause_under_previous_release(previous_release, on_emulator, {postgres_url: starts}, spec_file)
    return {"setting": postgres_url, "tag": tag, "threads": threads}


def executions(emulator, graph: str, thread_id: str, tag: str) -> list[dict[str, Any]]:
    """What `graph`'s thread did: ledger entries, refunds or job runs."""
    if graph == "review_tool_calls":
        return tagged_refunds(emulator, tag)
    if graph == "databricks_workflow":
        return tagged_job_runs(emulator, tag)
    return [entry for entry in read_entries() if entry["thread_id"] == thread_id]


def approval(request: dict[str, Any]) -> dict[str, Any]:
    """An approval of `request` naming it and echoing its digest as it was shown."""
    return {
        "decisions": [{"type": "approve"}],
        "request_id": request["request_id"],
        "args_digest": request["args_digest"],
    }


def assert_done_once(emulator, graph: str, thread_id: str, tag: str, values: Any, answers: int):
    """The thread ran its action once, after `answers` approvals on a trail that verifies."""
    assert len(executions(emulator, graph, thread_id, tag)) == 1, graph
    assert verify_thread(values, thread_id) is None, graph
    assert [entry["decision"] for entry in values["audit"]] == ["approve"] * answers, graph


async def test_threads_paused_in_process_resume_once(paused, emulator, monkeypatch):
    """Every graph, on PostgreSQL, resumed in process as a server runs a graph (its ledger
    in the same database, as a deployment's)."""
    monkeypatch.setenv("SIGNOFF_CHECKPOINTER", paused["setting"])
    async with async_checkpointer(paused["setting"]) as saver:
        for graph, thread_id in paused["threads"].items():
            compiled = GRAPHS[graph]().copy(update={"checkpointer": saver})
            config = {"configurable": {"thread_id": thread_id, "graph_id": graph}}
            state = await compiled.aget_state(config)
            [old] = state.interrupts
            assert "version" not in old.value, "the previous release raised no version"
            record = {"thread_id": thread_id, "metadata": {"graph_id": graph}}
            [pending] = requests_of(record, [{"id": old.id, "value": old.value}])
            assert pending.request["version"] == REQUEST_VERSION
            assert pending.summary and pending.request_id == old.value["request_id"]
            assert {action["summary"] for action in pending_actions(state.interrupts)} == {
                pending.summary
            }
            assert executions(emulator, graph, thread_id, paused["tag"]) == []
            answers = 0
            while state.interrupts:
                [waiting] = state.interrupts
                if answers:  # a later stage, raised under this code
                    assert waiting.value["version"] == REQUEST_VERSION
                approver = dev_identity(decider_for(waiting.value)).as_auth_user()
                await compiled.ainvoke(
                    Command(resume={waiting.id: approval(waiting.value)}),
                    {"configurable": {**config["configurable"], "langgraph_auth_user": approver}},
                )
                answers += 1
                state = await compiled.aget_state(config)
                assert answers <= 3, f"{graph} keeps asking: {state.interrupts}"
            assert_done_once(emulator, graph, thread_id, paused["tag"], state.values, answers)


async def test_threads_paused_on_the_previous_server_resume_on_this_one(
    previous_release, on_emulator, emulator, tmp_path
):
    """Every graph on `langgraph dev`: the previous release's server pauses them on a SQLite
    file; this release's server, on the same file and thread records, lists and answers them
    through langgraph-sdk as the inbox and the CLI do."""
    env = {**on_emulator, "SIGNOFF_CHECKPOINTER": f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"}
    tag = uuid.uuid4().hex
    old = LanggraphServer(previous_release, env={**env, "PYTHONPATH": str(previous_release)})
    await asyncio.to_thread(old.start)
    threads: dict[str, str] = {}
    try:
        async with signed_in_clients(old.url) as clients:
            for graph, payload in inputs(tag).items():
                thread = await clients(REQUESTER).threads.create(metadata={"test_tag": tag})
                threads[graph] = thread["thread_id"]
                await clients(REQUESTER).runs.wait(thread["thread_id"], graph, input=payload)
    finally:
        old.stop()
    current = LanggraphServer(copy_project(tmp_path / "current"), env=env)
    shutil.copytree(previous_release / ".langgraph_api", current.workdir / ".langgraph_api")
    await asyncio.to_thread(current.start)
    try:
        async with signed_in_clients(current.url) as clients:
            listed = {p.thread_id: p for p in await every_pending_request(clients(REQUESTER))}
            assert set(listed) == set(threads.values())
            for graph, thread_id in threads.items():
                pending = listed[thread_id]
                [stored] = (await clients(REQUESTER).threads.get_state(thread_id))["interrupts"]
                assert "version" not in stored["value"], "the previous release raised no version"
                assert pending.graph == graph and pending.summary
                assert pending.request["version"] == REQUEST_VERSION
                assert executions(emulator, graph, thread_id, tag) == []
                answers = 0
                while waiting := await _waiting(clients(REQUESTER), thread_id):
                    decider = clients(decider_for(waiting))
                    await answer_request(decider, thread_id, approval(waiting))
                    answers += 1
                    assert answers <= 3, f"{graph} keeps asking: {waiting}"
                values = (await clients(REQUESTER).threads.get_state(thread_id))["values"]
                assert_done_once(emulator, graph, thread_id, tag, values, answers)
    finally:
        current.stop()


async def _waiting(client: LangGraphClient, thread_id: str) -> dict[str, Any] | None:
    """The one request `thread_id` waits on, as signoff reads it; `None` when it waits on none."""
    state = await client.threads.get_state(thread_id)
    requests = [i["value"] for i in approval_interrupts(state.get("interrupts") or [])]
    assert len(requests) <= 1, requests
    return requests[0] if requests else None
