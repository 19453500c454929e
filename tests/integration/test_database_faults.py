"""Faults on the database under a live server: dropped connections and a PostgreSQL restart.

One `langgraph dev` keeps its checkpoints (and so its ledger) in a PostgreSQL cluster of this
module's own, so stopping it disturbs nothing else of the session. Payments and a two-stage
chain wait for approval. While they wait, the server's database sessions are terminated
(`pg_terminate_backend`) or the cluster is stopped and started; then all of them are approved
at once and the fault strikes again each time the database is running one of the approvals'
statements. The test answers as a client would: an answer that fails is sent again once the
thread is no longer running.

Then every request was still listed and the same, each approved action is in the ledger
exactly once, and the same server process (same pid) starts and answers a new request.
Replicas' leases (`signoff.serving.lease`) are taken again on a fresh connection after theirs
is dropped.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import APIStatusError

from signoff.client.pending_requests import every_pending_request, run_on_reason
from signoff.client.sweeper import sweep
from signoff.databricks.checkpointer import checkpointer
from signoff.execution.ledger import LedgerEntry, read_entries
from signoff.serving.lease import ThreadBusy, leases_for
from tests.dev_users import Clients, decider_for, signed_in_clients
from tests.integration.conftest import Flow
from tests.langgraph_server import LanggraphServer, copy_project
from tests.postgres import PostgresCluster, find_binaries

DATABASE = "signoff_faults"
PAYMENT = {"operation": {"amount": 5000, "target": "acct-9"}}
CHAIN = {"action": {"name": "rotate_keys"}}
APPROVE = {"decisions": [{"type": "approve"}]}
SETTLE_SECONDS = 60.0
"""How long a thread may stay running, or its state unreadable, after a fault."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this module's own, which the tests stop and start."""
    with PostgresCluster() as running:
        with psycopg.connect(running.superuser_url, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        yield running


@pytest.fixture(scope="module")
def db_server(
    tmp_path_factory: pytest.TempPathFactory, emulator, cluster: PostgresCluster
) -> Iterator[LanggraphServer]:
    """A server whose checkpoints (and so its ledger) are in `cluster`."""
    server = LanggraphServer(
        copy_project(tmp_path_factory.mktemp("db-faults")),
        env={
            "DATABRICKS_HOST": emulator.url,
            "DATABRICKS_TOKEN": emulator.token,
            "SIGNOFF_CHECKPOINTER": cluster.url(DATABASE),
        },
    ).start()
    yield server
    server.stop()


def terminate_sessions(cluster: PostgresCluster) -> None:
    """Terminate every session on the server's database."""
    with psycopg.connect(cluster.superuser_url, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [DATABASE],
        )


def restart_cluster(cluster: PostgresCluster) -> None:
    """Stop the cluster (fast: open sessions are ended), then start it on the same data."""
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, log = cluster.directory / "data", cluster.directory / "postgres.log"
    pg_ctl = [*as_postgres, str(find_binaries() / "pg_ctl"), "-D", str(data), "-w"]
    subprocess.run([*pg_ctl, "-m", "fast", "stop"], check=True, capture_output=True)
    subprocess.run([*pg_ctl, "-l", str(log), "start"], check=True, capture_output=True)


def a_statement_runs(cluster: PostgresCluster, within: float = 10.0) -> bool:
    """Wait until a session on the server's database is running a statement (`True`), or
    `within` seconds pass without one (`False`: nothing is in flight any more)."""
    deadline = time.monotonic() + within
    with psycopg.connect(cluster.superuser_url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            if connection.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
                " AND pid <> pg_backend_pid()",
                [DATABASE],
            ).fetchone():
                return True
            time.sleep(0.002)
    return False


def executions(flow: Flow, cluster: PostgresCluster) -> list[LedgerEntry]:
    """The entries of `flow`'s thread in the ledger of the server's deployment."""
    entries = read_entries(flow.server.ledger, setting=cluster.url(DATABASE))
    return [entry for entry in entries if entry["thread_id"] == flow.thread_id]


@dataclass
class Answering:
    """What answering took: answers sent, those that failed (and why), and threads run on
    after a failure left their approval recorded and its action not run."""

    sent: int = 0
    failures: list[str] = field(default_factory=list)
    run_on: int = 0


async def outcome(run: Any) -> str | None:
    """`None` when the run `run` awaits ended well, else why not (as a client sees it)."""
    try:
        result = await run
    except (APIStatusError, httpx.HTTPStatusError) as error:
        return f"HTTP {error.response.status_code}: {error.response.text[:200]}"
    except httpx.TransportError as error:
        return f"transport: {error!r}"
    if isinstance(result, dict) and "__error__" in result:
        return f"run failed: {result['__error__']}"
    return None


async def settled(client: LangGraphClient, flow: Flow) -> list[dict[str, Any]]:
    """Wait until `flow`'s thread is not running and its state can be read; the interrupts
    it waits on then."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        try:
            if (await client.threads.get(flow.thread_id))["status"] != "busy":
                return (await client.threads.get_state(flow.thread_id))["interrupts"]
        except (APIStatusError, httpx.HTTPError):
            pass
        assert time.monotonic() < deadline, f"{flow.graph} {flow.thread_id} never settled"
        await asyncio.sleep(0.2)


async def approve_until_done(clients: Clients, flow: Flow, answering: Answering) -> None:
    """Approve every stage of `flow` as a client would: send the answer, and after a failure
    send it again once the thread has settled, if it still waits. A failure that left the
    approval recorded and its action not run leaves nothing to answer: the sweeper (as an admin
    runs `signoff sweep`) finds the thread among those whose run failed and runs it on
    (`run_on_reason` "finish"), which runs what was approved once."""
    client = clients("alice")
    while True:
        if pending := await settled(client, flow):
            decider = clients(decider_for(pending[0]["value"]))
            answering.sent += 1
            resume = {"resume": APPROVE}
            run = decider.runs.wait(flow.thread_id, flow.graph, command=resume, raise_error=False)
        elif await run_on_reason(client, flow.thread_id) == "finish":
            answering.run_on += 1
            assert flow.thread_id in (await sweep(clients("erin"))).finished, flow.graph
            continue
        else:
            return
        if (why := await outcome(run)) is not None:
            answering.failures.append(f"{flow.graph}: {why}")


async def pause(clients: Clients, server: LanggraphServer, emulator, graph: str, payload) -> Flow:
    """Start `graph` on `payload` until it waits for approval."""
    flow = Flow(clients, server, emulator, graph)
    await flow.start(payload)
    assert await flow.status() == "interrupted", graph
    return flow


async def fault_under_load(
    db_server: LanggraphServer,
    emulator,
    cluster: PostgresCluster,
    fault: Callable[[], object],
    faults_in_flight: int,
) -> dict[str, Any]:
    """Pause payments and a chain, fault while they wait, then approve them all at once and
    fault `faults_in_flight` times, each while a statement of theirs runs; returns what it
    saw."""
    assert db_server.process is not None
    pid = db_server.process.pid
    async with signed_in_clients(db_server.url) as clients:
        alice = clients("alice")
        waiting = [("approve_reject", PAYMENT)] * 3 + [("multi_stage_approval", CHAIN)]
        flows = [await pause(clients, db_server, emulator, *graph) for graph in waiting]
        requests = {flow.thread_id: await flow.request() for flow in flows}

        began = time.monotonic()
        await asyncio.to_thread(fault)
        await settled(alice, flows[0])
        recovered_waiting = time.monotonic() - began
        listed = {pending.thread_id for pending in await every_pending_request(alice)}
        for flow in flows:  # nothing pending was lost: listed, the same, nothing run
            assert flow.thread_id in listed, flow.graph
            assert await flow.request() == requests[flow.thread_id]
            assert executions(flow, cluster) == []

        answering = Answering()
        answers = [
            asyncio.create_task(approve_until_done(clients, flow, answering)) for flow in flows
        ]
        began, faults = time.monotonic(), 0
        while faults < faults_in_flight and await asyncio.to_thread(a_statement_runs, cluster):
            await asyncio.to_thread(fault)
            faults += 1
        await asyncio.gather(*answers)
        answered_in = time.monotonic() - began

        for flow in flows:  # every approval applied, each approved action ran exactly once
            assert await flow.status() == "idle", (flow.graph, answering)
            assert await flow.pending() == []
            assert (await flow.values())["status"] == "executed", flow.graph
            assert len(executions(flow, cluster)) == 1, (flow.graph, answering)

        after = await pause(clients, db_server, emulator, "approve_reject", PAYMENT)
        await approve_until_done(clients, after, Answering())
        assert len(executions(after, cluster)) == 1
    assert db_server.process.poll() is None
    assert db_server.process.pid == pid  # recovered without a restart
    return {
        "recovered_while_waiting_s": round(recovered_waiting, 2),
        "faults_mid_statement": faults,
        "answered_in_s": round(answered_in, 2),
        "answers_sent": answering.sent,
        "failed": answering.failures,
        "run_on": answering.run_on,
    }


async def test_dropped_connections_lose_nothing_and_run_nothing_twice(db_server, emulator, cluster):
    seen = await fault_under_load(
        db_server, emulator, cluster, lambda: terminate_sessions(cluster), 8
    )
    print("pg_terminate_backend:", seen)


async def test_a_postgres_restart_loses_nothing_and_runs_nothing_twice(
    db_server, emulator, cluster
):
    seen = await fault_under_load(db_server, emulator, cluster, lambda: restart_cluster(cluster), 2)
    print("restart:", seen)


def test_leases_are_taken_again_after_their_connection_drops(cluster, caplog):
    """The database releases a dropped session's advisory locks, so a lease held across the
    drop is lost (logged; the side effects' idempotency keys still hold); the replica goes on
    taking and fencing leases on a fresh connection, without a restart."""
    with checkpointer(cluster.url(DATABASE)) as saver:
        replica, other = leases_for(saver), leases_for(saver)
        with replica.hold("thread-1"):
            with pytest.raises(ThreadBusy), other.hold("thread-1"):
                pass
            terminate_sessions(cluster)
            with other.hold("thread-1"):  # the lease went with its session
                pass
        assert "The lease on thread 'thread-1' was lost" in caplog.text
        with replica.hold("thread-2"), pytest.raises(ThreadBusy), other.hold("thread-2"):
            pass
        with other.hold("thread-2"):
            pass
        replica.close()
        other.close()
