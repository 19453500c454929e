"""The throwaway PostgreSQL cluster (tests/postgres.py), through real connections (no mocks).

One cluster serves the module. The Lakebase tests point the workspace emulator's database
instance at it and let databricks-langchain's own checkpoint savers (databricks-ai-bridge's
Lakebase pools) resolve the host, mint credentials and connect, as in a real workspace.
"""

from __future__ import annotations

import operator
import socket
import uuid
from collections.abc import Iterator
from typing import Annotated, TypedDict

import psycopg
import pytest
from databricks.sdk import WorkspaceClient
from databricks_langchain import AsyncCheckpointSaver, CheckpointSaver
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from psycopg_pool import AsyncConnectionPool

from emulator.app import EmulatorSettings
from emulator.identity import USER_NAME
from emulator.server import RunningEmulator, start_emulator
from tests import postgres
from tests.postgres import PostgresCluster

INSTANCE = "signoff-lakebase"
FIRST_TOKEN = "lakebase-first-token"
# The Lakebase pools reuse a minted token for `token_cache_duration_seconds` (15 minutes by
# default) for every new connection. Real Lakebase tokens stay valid for an hour, but here a
# rotation revokes the old password at once, so the pools must ask for the current token on
# every connection to reconnect after a rotation without the test waiting.
LAKEBASE_POOL = {"token_cache_duration_seconds": 0}


class Counter(TypedDict):
    """A tiny graph state: the numbers seen so far."""

    seen: Annotated[list[int], operator.add]


def counter_graph(checkpointer: BaseCheckpointSaver) -> CompiledStateGraph:
    """A one-node graph: each run appends its input, then how many numbers it had then."""
    graph = StateGraph(Counter)
    graph.add_node("count", lambda state: {"seen": [len(state["seen"])]})
    graph.add_edge(START, "count")
    return graph.compile(checkpointer=checkpointer)


def thread() -> RunnableConfig:
    """A config for a new thread."""
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


def role_connect(
    cluster: PostgresCluster, password: str, *, user: str = USER_NAME, sslmode: str = "require"
) -> psycopg.Connection:
    """Connect to the Lakebase database as `user`, like the Lakebase pools do by default."""
    return psycopg.connect(
        host=cluster.host,
        port=cluster.port,
        dbname=cluster.lakebase_database,
        user=user,
        password=password,
        sslmode=sslmode,
        autocommit=True,
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with PostgresCluster() as running:
        yield running


@pytest.fixture(scope="module")
def emulator(cluster: PostgresCluster) -> Iterator[RunningEmulator]:
    settings = EmulatorSettings(database_host=cluster.host, database_token=FIRST_TOKEN)
    with start_emulator(settings) as running:
        cluster.add_login_role(USER_NAME, FIRST_TOKEN)
        yield running


@pytest.fixture(scope="module")
def workspace(emulator: RunningEmulator) -> WorkspaceClient:
    return WorkspaceClient(host=emulator.url, token=emulator.token, auth_type="pat")


def test_superuser_connects_over_tcp_with_ssl_on(cluster: PostgresCluster):
    assert cluster.superuser_url == f"postgresql://postgres@{cluster.host}:5432/postgres"
    assert cluster.host.startswith("127.0.0.") and cluster.host != "127.0.0.1"
    with psycopg.connect(cluster.superuser_url) as conn:
        assert conn.execute("SHOW ssl").fetchone() == ("on",)
        assert conn.execute("SHOW port").fetchone() == ("5432",)
    with psycopg.connect(cluster.url(cluster.lakebase_database)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("databricks_postgres",)


def test_login_role_needs_ssl_and_its_password(cluster: PostgresCluster):
    name = f"reviewer-{uuid.uuid4().hex[:8]}@signoff.local"
    cluster.add_login_role(name, "s3cret")
    with role_connect(cluster, "s3cret", user=name) as conn:
        ssl = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert ssl == (True,)
        conn.execute("CREATE TABLE approvals (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO approvals VALUES (1, 'ok')")
        assert conn.execute("SELECT current_user, note FROM approvals").fetchone() == (name, "ok")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        role_connect(cluster, "s3cret", user=name, sslmode="disable")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        role_connect(cluster, "wrong", user=name)


async def test_async_checkpoint_saver_on_lakebase(cluster: PostgresCluster, workspace):
    async with AsyncCheckpointSaver(
        instance_name=INSTANCE, workspace_client=workspace, **LAKEBASE_POOL
    ) as saver:
        await saver.setup()
        graph, config = counter_graph(saver), thread()
        await graph.ainvoke({"seen": [7]}, config)
        await graph.ainvoke({"seen": [8]}, config)
        assert (await graph.aget_state(config)).values == {"seen": [7, 1, 8, 3]}


def test_sync_checkpoint_saver_on_lakebase(workspace):
    with CheckpointSaver(
        instance_name=INSTANCE, workspace_client=workspace, **LAKEBASE_POOL
    ) as saver:
        saver.setup()
        graph, config = counter_graph(saver), thread()
        graph.invoke({"seen": [5]}, config)
        assert graph.get_state(config).values == {"seen": [5, 1]}


async def test_token_rotation_reconnects_with_the_new_token(
    cluster: PostgresCluster, emulator: RunningEmulator, workspace
):
    async with AsyncCheckpointSaver(
        instance_name=INSTANCE,
        workspace_client=workspace,
        # Without a check, the pool hands out the terminated connection once and that call fails.
        check=AsyncConnectionPool.check_connection,
        **LAKEBASE_POOL,
    ) as saver:
        await saver.setup()
        graph, before = counter_graph(saver), thread()
        await graph.ainvoke({"seen": [1]}, before)
        old_token = emulator.emulator.database.token

        new_token = emulator.emulator.database.rotate()
        cluster.set_password(USER_NAME, new_token)
        assert cluster.terminate_connections(USER_NAME) >= 1

        # Every pooled session is gone and so is the old password: these run on new sessions.
        assert (await graph.aget_state(before)).values == {"seen": [1, 1]}
        after = thread()
        await graph.ainvoke({"seen": [2]}, after)
        assert (await graph.aget_state(after)).values == {"seen": [2, 1]}
    with role_connect(cluster, new_token) as conn:
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] >= 2
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        role_connect(cluster, old_token)


def test_stop_stops_the_server_and_removes_its_directory():
    cluster = PostgresCluster().start()
    directory, address = cluster.directory, (cluster.host, cluster.port)
    with socket.create_connection(address, timeout=5):
        pass
    cluster.stop()
    cluster.stop()
    assert not directory.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5)


def test_missing_binaries_say_how_to_install_them(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres, "DEBIAN_BINARIES", tmp_path)
    with pytest.raises(RuntimeError, match="apt-get install -y postgresql"):
        PostgresCluster().start()


def test_failed_start_shows_the_server_log_and_cleans_up(monkeypatch, cluster: PostgresCluster):
    monkeypatch.setattr(postgres, "free_loopback_host", lambda: cluster.host)  # already taken
    failed = PostgresCluster()
    with pytest.raises(RuntimeError, match="(?s)server log.*could not bind"):
        failed.start()
    assert not failed.directory.exists()
