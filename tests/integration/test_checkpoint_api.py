"""Requests raised by the Model Serving agent, listed, swept and answered from the checkpoint
store alone (`signoff.checkpoints`), on a real PostgreSQL and the workspace emulator's
identities: `pending_requests` lists each request for who may see it and no one else, the
sweeper expires it at its deadline (the review node marks it expired, audited), an answer
runs once, and the same over HTTP with the real `signoff` command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import uvicorn
from mlflow.types.responses import ResponsesAgentRequest
from starlette.applications import Starlette
from starlette.requests import Request

from emulator.server import RunningEmulator
from signoff.checkpoints import CheckpointApi, as_sdk, langgraph_api_routes, opened_api
from signoff.client.answering import Refused, answer_request
from signoff.client.pending_requests import every_pending_request
from signoff.client.sweeper import sweep
from signoff.clock import now, parse
from signoff.databricks.workspace import workspace_client
from signoff.execution.ledger import read_entries
from signoff.governance.identity import (
    Identity,
    UnknownToken,
    presented_token,
    resolve_token,
)
from signoff.graphs import GRAPHS
from signoff.serving import SignoffAgent
from signoff.settings import DEFAULT_FILE, load_settings
from tests.dev_users import TOKENS
from tests.langgraph_server import free_port
from tests.model_serving_caller import calling_as, serving_environment
from tests.postgres import PostgresCluster

PAYMENT = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
GRAPH = {"approve_reject": GRAPHS["approve_reject"]}


@pytest.fixture(scope="module")
def database(postgres: PostgresCluster) -> str:
    """A fresh database of this module's own: the deployment's checkpoints, store and ledger."""
    return postgres.new_database("checkpoint_api")


@pytest.fixture(scope="module")
def deployment(
    emulator: RunningEmulator, database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Model Serving's environment: the emulator's workspace resolves callers, the checkpoints
    (and the ledger) are in `database`; requests expire 3 s after they are raised, unless a
    test restores the checked-in deadlines (`with_default_deadlines`)."""
    scratch = tmp_path_factory.mktemp("checkpoint_api")
    settings = scratch / "signoff.toml"
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    settings.write_text(text.replace('expire_after = "3d"', 'expire_after = "3s"', 1))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
        for name, value in {
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
            "SIGNOFF_CHECKPOINTER": database,
            "SIGNOFF_LEDGER": str(scratch / "ledger.jsonl"),
            "SIGNOFF_CONFIG": str(settings),
        }.items():
            patch.setenv(name, value)
        workspace_client.cache_clear()
        load_settings.cache_clear()
        with serving_environment(emulator.url):
            yield scratch
    workspace_client.cache_clear()
    load_settings.cache_clear()


@pytest.fixture
def with_default_deadlines(deployment: Path) -> Iterator[None]:
    """The checked-in deadlines (3 days to expire) for the requests raised meanwhile."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SIGNOFF_CONFIG")
        load_settings.cache_clear()
        yield
    load_settings.cache_clear()


@pytest.fixture(scope="module")
def agent(deployment: Path, database: str) -> Iterator[SignoffAgent]:
    """The Model Serving agent of `approve_reject` on the database."""
    with SignoffAgent(GRAPHS["approve_reject"], database) as agent:
        yield agent


@pytest.fixture
async def api(deployment: Path, database: str) -> AsyncIterator[CheckpointApi]:
    async with opened_api(database, GRAPH) as api:
        yield api


def person(name: str) -> Identity:
    """Development user `name`, as the workspace resolves their token."""
    return resolve_token(TOKENS[name])


def raise_payment(agent: SignoffAgent) -> tuple[str, dict[str, Any]]:
    """alice asks the Model Serving agent for the 5,000 payment: its thread and request."""
    calling_as("alice")
    request = ResponsesAgentRequest(input=[], custom_inputs={"input": PAYMENT})
    outputs = agent.predict(request).custom_outputs or {}
    state = agent.open().get_state({"configurable": {"thread_id": outputs["thread_id"]}})
    [interrupt] = state.interrupts
    return outputs["thread_id"], cast(dict[str, Any], interrupt.value)


def executions(thread_id: str) -> list[Any]:
    """The ledger entries of `thread_id`."""
    return [entry for entry in read_entries() if entry["thread_id"] == thread_id]


async def listed(api: CheckpointApi, who: Identity | None) -> list[str]:
    """The threads whose requests `pending_requests` lists for `who` (`None`: the system)."""
    client = api.client(who, system=who is None)
    return [request.thread_id for request in await every_pending_request(as_sdk(client))]


async def test_a_request_is_listed_for_who_may_see_it_and_expires_at_its_deadline(
    agent: SignoffAgent, api: CheckpointApi
):
    thread_id, request = raise_payment(agent)
    bob, frank = person("bob"), person("frank")

    assert thread_id in await listed(api, bob)
    assert thread_id in await listed(api, None)
    assert thread_id not in await listed(api, frank)
    [pending] = [
        p for p in await every_pending_request(as_sdk(api.client(bob))) if p.thread_id == thread_id
    ]
    assert (pending.graph, pending.request_id) == ("approve_reject", request["request_id"])

    deadline = parse(request["expires_at"])
    assert deadline is not None
    while now() <= deadline:  # the review node checks the time itself
        await asyncio.sleep(0.2)
    system = as_sdk(api.client(None, system=True))
    report = await sweep(system, at=deadline + timedelta(seconds=1))
    await api.join_runs()

    assert request["request_id"] in report.expired
    state = await api.client(person("alice")).threads.get_state(thread_id)  # her request
    values = state["values"]
    assert values["status"] == "expired"
    assert [(e["decision"], e["reviewer"]) for e in values["audit"]] == [("reject", "system")]
    assert thread_id not in await listed(api, None)
    assert executions(thread_id) == []


async def test_a_request_is_answered_once(
    agent: SignoffAgent, api: CheckpointApi, with_default_deadlines: None
):
    thread_id, _ = raise_payment(agent)
    bob = as_sdk(api.client(person("bob")))

    with pytest.raises(Refused, match="There is no thread") as hidden:
        await answer_request(as_sdk(api.client(person("frank"))), thread_id, {"type": "approve"})
    assert hidden.value.status == 404
    answered = await answer_request(bob, thread_id, {"type": "approve"})

    assert cast(dict[str, Any], answered.after["values"])["status"] == "executed"
    assert len(executions(thread_id)) == 1
    with pytest.raises(Refused) as again:
        await answer_request(bob, thread_id, {"type": "approve"})
    assert again.value.status == 409
    assert len(executions(thread_id)) == 1
    assert thread_id not in await listed(api, None)


async def authenticate(request: Request) -> Identity:
    """The test deployment's sign-in: a bearer token the workspace resolves."""
    token = presented_token(request.headers.get("authorization"), request.headers.get("x-api-key"))
    if token is None:
        raise UnknownToken("no token was presented")
    return await asyncio.to_thread(resolve_token, token)


@pytest.fixture
def served(api: CheckpointApi) -> Iterator[str]:
    """The routes served by uvicorn on a free port; their URL."""
    port = free_port()
    app = Starlette(routes=langgraph_api_routes(api, authenticate))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def signoff(url: str, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `signoff` command line as development user `user` against `url`."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "signoff.client.cli", "--url", url, *args],
        env={**os.environ, "SIGNOFF_TOKEN": TOKENS[user], "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_line_lists_and_approves_over_http(
    agent: SignoffAgent, served: str, with_default_deadlines: None
):
    thread_id, _ = raise_payment(agent)

    listed_for_bob = await signoff(served, "bob", "pending")
    assert listed_for_bob.returncode == 0, listed_for_bob.stdout + listed_for_bob.stderr
    assert thread_id[:8] in listed_for_bob.stdout
    listed_for_frank = await signoff(served, "frank", "pending")
    assert thread_id[:8] not in listed_for_frank.stdout
    refused = await signoff(served, "alice", "approve", thread_id)
    assert refused.returncode == 1 and "managers" in refused.stdout

    approved = await signoff(served, "bob", "approve", thread_id, "--comment", "INV-7 ok")

    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert len(executions(thread_id)) == 1
    again = await signoff(served, "bob", "approve", thread_id)
    assert again.returncode == 1 and "waits for no decision" in again.stdout
    assert len(executions(thread_id)) == 1
