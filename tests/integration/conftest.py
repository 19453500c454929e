"""Shared fixtures: one real `langgraph dev` server per session and SDK helpers around it.

The server runs with auth on, as shipped: every SDK client here is one of the emulator's
development users (`emulator.identity.DEV_USERS`), signed in with their bearer token.
`client` is alice (in `users` only: she raises requests); `Flow.resume` answers as a user the
policy allows, unless a test names one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from databricks.sdk import WorkspaceClient
from langgraph_sdk.client import LangGraphClient

from emulator.app import EmulatorSettings
from emulator.identity import USER_NAME
from emulator.server import RunningEmulator, start_emulator
from signoff.databricks.workspace import workspace_client
from signoff.execution.ledger import read_entries
from tests.dev_users import Clients, decider_for, signed_in_clients
from tests.langgraph_server import LanggraphServer, copy_project
from tests.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL 15 cluster (SSL on, port 5432 on a private loopback address)."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresCluster) -> str:
    """A database of its own for the plain `postgresql://` checkpointer (the Lakebase role
    owns the checkpoint tables in `databricks_postgres`)."""
    with psycopg.connect(postgres.superuser_url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE signoff_checkpoints")
    return postgres.url("signoff_checkpoints")


@pytest.fixture(scope="session")
def emulator(postgres: PostgresCluster) -> Iterator[RunningEmulator]:
    """The local Databricks workspace emulator, served over HTTP for the whole session.

    Its Lakebase instance `signoff-lakebase` resolves to the session's PostgreSQL, where the
    emulator's current user has a role whose password is the emulator's credential token:
    `databricks-langchain`'s Lakebase pool connects exactly as it would in Databricks."""
    running = start_emulator(EmulatorSettings(database_host=postgres.host))
    postgres.add_login_role(USER_NAME, running.emulator.database.token)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def workspace(emulator: RunningEmulator) -> WorkspaceClient:
    """A real `databricks-sdk` client on the emulator, to check what the graphs did."""
    return WorkspaceClient(host=emulator.url, token=emulator.token, auth_type="pat")


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, emulator: RunningEmulator
) -> Iterator[LanggraphServer]:
    """A real `langgraph dev` serving every graph, on a free port, from a temporary copy,
    with `DATABRICKS_HOST` pointing at the session's emulator."""
    workdir = copy_project(tmp_path_factory.mktemp("signoff-server"))
    databricks = {"DATABRICKS_HOST": emulator.url, "DATABRICKS_TOKEN": emulator.token}
    running = LanggraphServer(workdir, env=databricks).start()
    yield running
    running.stop()


@pytest.fixture
async def clients(server: LanggraphServer) -> AsyncIterator[Clients]:
    """Factory: `clients("bob")` is a client of the session's server signed in as bob."""
    async with signed_in_clients(server.url) as client_for:
        yield client_for


@pytest.fixture
def client(clients: Clients) -> LangGraphClient:
    """The session's server, signed in as alice (group `users`: she may raise requests but
    decides none)."""
    return clients("alice")


@pytest.fixture
def admin(clients: Clients) -> LangGraphClient:
    """The session's server, signed in as erin (group `signoff-admins`)."""
    return clients("erin")


def tagged_job_runs(emulator: RunningEmulator, tag: str) -> list[dict[str, Any]]:
    """Job runs in the emulator whose `user_request` parameter carries `tag`."""
    runs = emulator.emulator.state()["runs"]
    return [r for r in runs if tag in str(r["job_parameters"].get("user_request"))]


def tagged_refunds(emulator: RunningEmulator, tag: str) -> list[dict[str, Any]]:
    """Refund rows in the emulator's dataset whose reason carries `tag`."""
    return [r for r in emulator.emulator.state()["refunds"] if tag in str(r.get("reason"))]


class Flow:
    """Drive one thread of one graph: start it, read what it waits for, answer, count effects.

    `tag` is unique per flow: put it in what the agents are asked (a refund reason, a job
    request) so the side effects this flow caused can be told apart in the emulator.
    """

    def __init__(
        self,
        clients: Clients,
        server: LanggraphServer,
        emulator: RunningEmulator,
        graph: str,
    ) -> None:
        self.clients, self.server, self.emulator, self.graph = clients, server, emulator, graph
        self.client = clients("alice")
        self.thread_id = ""
        self.tag = uuid.uuid4().hex

    async def start(self, payload: dict[str, Any], **run: Any) -> dict[str, Any]:
        """Create a tagged thread and run the graph on `payload` until it ends or pauses."""
        thread = await self.client.threads.create(metadata={"test_tag": self.tag})
        self.thread_id = thread["thread_id"]
        return await self.client.runs.wait(
            self.thread_id, run.pop("assistant", self.graph), input=payload, **run
        )

    async def resume(self, answer: Any, as_user: str | None = None, **run: Any) -> dict[str, Any]:
        """Answer the pending interrupt(s) with `answer` (a value or a map by interrupt id), as
        development user `as_user`, by default one the policy allows to decide them."""
        if as_user is None:
            state = await self.client.threads.get_state(self.thread_id)
            pending = state["interrupts"]  # the checkpoint's, which survive a lost thread record
            as_user = decider_for(pending[0]["value"]) if pending else "bob"
        return await self.clients(as_user).runs.wait(
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
        """Every side effect this flow caused: ledger entries of its thread, and the refunds
        and job runs in the emulator that carry its tag."""
        ledger = [e for e in self.ledger() if e["thread_id"] == self.thread_id]
        return ledger + self.refunds() + self.job_runs()

    def ledger(self) -> list[dict[str, Any]]:
        """The server's ledger: its file, or the table beside its PostgreSQL or Lakebase
        checkpoints (a Lakebase instance reached through the emulator, as the server does)."""
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
            patch.setenv("DATABRICKS_HOST", self.emulator.url)
            patch.setenv("DATABRICKS_TOKEN", self.emulator.token)
            workspace_client.cache_clear()
            try:
                setting = self.server.env.get("SIGNOFF_CHECKPOINTER", "")
                return list(read_entries(self.server.ledger, setting=setting))
            finally:
                workspace_client.cache_clear()

    def refunds(self) -> list[dict[str, Any]]:
        """Refund rows written by `main.support.issue_refund` whose reason carries the tag."""
        return tagged_refunds(self.emulator, self.tag)

    def job_runs(self) -> list[dict[str, Any]]:
        """Job runs in the emulator whose `user_request` parameter carries the tag."""
        return tagged_job_runs(self.emulator, self.tag)


@pytest.fixture
def flow(clients: Clients, server: LanggraphServer, emulator: RunningEmulator):
    """Factory: `flow("approve_reject")` returns a fresh `Flow` for that graph, started by
    alice."""
    return lambda graph: Flow(clients, server, emulator, graph)


@pytest.fixture(params=["sqlite", "postgres", "lakebase"])
def checkpointer_setting(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str, emulator
) -> str:
    """A `SIGNOFF_CHECKPOINTER` value for each durable backend under test."""
    return {
        "sqlite": f"sqlite:///{tmp_path / 'checkpoints.sqlite'}",
        "postgres": postgres_url,
        "lakebase": "lakebase://signoff-lakebase",
    }[request.param]
