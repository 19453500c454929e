"""Shared state in the deployment's database: two processes over one PostgreSQL deliver each
webhook event exactly once to a real receiver, lose none when one is killed mid-send, and
execute each ledger key once; with PostgreSQL or Lakebase checkpoints no local file is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psycopg
import pytest

from emulator.server import RunningEmulator
from signoff.databricks.workspace import workspace_client
from signoff.execution.ledger import execute, read_entries
from signoff.signals.webhooks import DeliveryReport, deliver_due, event_id, notify
from tests.langgraph_server import REPO
from tests.outbox_worker import THREAD_ID, in_thread
from tests.postgres import PostgresCluster
from tests.webhook_receiver import WebhookReceiver

EVENTS = 200
KEYS = 200
STALL_AT = 5
"""The request of process `a` that the receiver never answers: `a` is killed while sending it."""
TIMEOUT_SECONDS = 5
"""Each delivery's timeout; with a 1 s margin, a killed process's claim is due after 6 s."""


class StallingReceiver(WebhookReceiver):
    """A receiver for two delivery processes posting to `<url>/a` and `<url>/b`: it answers
    neither until both have posted (so both deliver at once), and never answers the
    `STALL_AT`-th request of `a` (neither records it: it was never delivered)."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()
        self.stalled_id = ""
        self._released = threading.Event()
        self._senders: list[str] = []

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        super().__exit__(*exc)

    def _answer(self, request: BaseHTTPRequestHandler, body: bytes) -> int:
        sender = request.path.rsplit("/", 1)[-1]
        with self._changed:
            self._senders.append(sender)
            self._changed.notify_all()
            self._changed.wait_for(lambda: {"a", "b"} <= set(self._senders), timeout=60)
            stalls = sender == "a" and self._senders.count("a") == STALL_AT
        if stalls:
            self.stalled_id = json.loads(body)["id"]
            self.stalled.set()
            self._released.wait()
            return 500
        return super()._answer(request, body)


@pytest.fixture
def database(postgres: PostgresCluster) -> str:
    """A fresh database on the session's PostgreSQL: the checkpointer setting of one test."""
    return postgres.new_database("shared")


@pytest.fixture
def deployment(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process and the workers on one PostgreSQL; any SQLite outbox or ledger file would
    land in `tmp_path`."""
    env = {
        "SIGNOFF_CHECKPOINTER": database,
        "SIGNOFF_OUTBOX": str(tmp_path / "outbox.sqlite"),
        "SIGNOFF_LEDGER": str(tmp_path / "ledger.jsonl"),
        "SIGNOFF_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "SIGNOFF_TEST_LEASE_MARGIN_SECONDS": "1",
        "SIGNOFF_TEST_START": str(tmp_path / "start"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {"PATH": os.environ["PATH"], **env}


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    """The worker processes a test starts, killed after it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.communicate(timeout=30)


def start_worker(
    workers: list[subprocess.Popen[str]], env: dict[str, str], *args: str
) -> subprocess.Popen[str]:
    """Start `python -m tests.outbox_worker <args>` and wait until its database is open."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.outbox_worker", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "ready\n", process.communicate(timeout=30)[1][-3000:]
    return process


def outbox_rows(database: str) -> dict[str, dict[str, object]]:
    """Every event in the outbox table, by id."""
    with psycopg.connect(database) as connection:
        connection.row_factory = psycopg.rows.dict_row
        rows = connection.execute("SELECT * FROM signoff_outbox").fetchall()
    return {str(row["id"]): row for row in rows}


def test_two_processes_deliver_each_event_once_and_a_killed_one_loses_none(
    deployment, database, workers, tmp_path
):
    with StallingReceiver() as receiver:
        a = start_worker(
            workers, {**deployment, "SIGNOFF_WEBHOOK_URL": receiver.url + "/a"}, "deliver"
        )
        start_worker(workers, {**deployment, "SIGNOFF_WEBHOOK_URL": receiver.url + "/b"}, "deliver")
        os.environ["SIGNOFF_WEBHOOK_URL"] = receiver.url
        ids = [notify("approval.requested", {"request_id": f"req-{n}"}) for n in range(EVENTS)]
        assert ids == [event_id("approval.requested", f"req-{n}") for n in range(EVENTS)]

        assert receiver.stalled.wait(timeout=60), "process a never sent its stalled request"
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        received = receiver.wait_for(EVENTS, timeout=60)

        delivered = [request.headers["X-Signoff-Event-Id"] for request in received]
        assert sorted(delivered) == sorted(ids)  # every event, each once
        senders = {request.headers["X-Signoff-Event-Id"]: request.path for request in received}
        assert senders[receiver.stalled_id].endswith("/b")  # after a's lease ran out
        assert {path.rsplit("/", 1)[-1] for path in senders.values()} == {"a", "b"}
        rows = outbox_rows(database)
        assert all(row["delivered_at"] is not None for row in rows.values())
        assert rows[receiver.stalled_id]["attempts"] == 2
        assert {row["attempts"] for id_, row in rows.items() if id_ != receiver.stalled_id} == {1}
        assert deliver_due() == DeliveryReport()  # nothing is left to send
        assert len(receiver.requests) == EVENTS
    assert not (tmp_path / "outbox.sqlite").exists()


def test_two_processes_executing_the_same_keys_write_each_once(
    deployment, database, workers, tmp_path
):
    first = start_worker(workers, deployment, "execute", str(KEYS))
    second = start_worker(workers, deployment, "execute", str(KEYS))
    (tmp_path / "start").touch()
    finished = [process.communicate(timeout=60) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], finished
    outputs = [json.loads(out) for out, _ in finished]

    entries = read_entries()
    assert [entry["key"] for entry in entries] == [f"key-{n}" for n in range(KEYS)]
    assert len(entries) == KEYS and len({entry["key"] for entry in entries}) == KEYS
    assert outputs[0] == outputs[1] == {entry["key"]: entry["id"] for entry in entries}
    assert all(entry["thread_id"] == THREAD_ID for entry in entries)
    assert in_thread(lambda: execute("payment", {"n": 3}, "key-3"))["id"] == outputs[0]["key-3"]
    with pytest.raises(ValueError, match="executed before with other arguments"):
        in_thread(lambda: execute("payment", {"n": 4}, "key-3"))
    assert len(read_entries()) == KEYS
    assert not (tmp_path / "ledger.jsonl").exists()


def test_on_lakebase_the_outbox_and_the_ledger_are_tables_of_the_instance(
    emulator: RunningEmulator, postgres: PostgresCluster, tmp_path, monkeypatch
):
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    monkeypatch.setenv("DATABRICKS_HOST", emulator.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", emulator.token)
    monkeypatch.setenv("SIGNOFF_CHECKPOINTER", "lakebase://signoff-lakebase")
    monkeypatch.setenv("SIGNOFF_OUTBOX", str(tmp_path / "outbox.sqlite"))
    monkeypatch.setenv("SIGNOFF_LEDGER", str(tmp_path / "ledger.jsonl"))
    workspace_client.cache_clear()
    request_id, key = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        with WebhookReceiver() as receiver:
            monkeypatch.setenv("SIGNOFF_WEBHOOK_URL", receiver.url)
            id_ = notify("approval.requested", {"request_id": request_id})
            deliver_due()
            receiver.wait_until(lambda request: request.headers["X-Signoff-Event-Id"] == id_)
        entry = in_thread(lambda: execute("payment", {"amount": 5}, key))
        assert entry in read_entries()
    finally:
        workspace_client.cache_clear()

    with psycopg.connect(postgres.url(postgres.lakebase_database)) as connection:
        (delivered_at,) = connection.execute(
            "SELECT delivered_at FROM signoff_outbox WHERE id = %s", [id_]
        ).fetchone() or (None,)
        (line,) = connection.execute(
            "SELECT entry FROM signoff_ledger WHERE key = %s", [key]
        ).fetchone() or ("{}",)
    assert delivered_at is not None and json.loads(line) == entry
    assert not (tmp_path / "outbox.sqlite").exists() and not (tmp_path / "ledger.jsonl").exists()
