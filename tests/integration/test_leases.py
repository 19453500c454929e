"""Per-thread leases fence other processes, and only for the thread they hold.

Another process is simulated the way the database or the kernel sees one: a second
PostgreSQL session, or a second Python process on the SQLite lock file.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from signoff.databricks.checkpointer import checkpointer
from signoff.serving.lease import ThreadBusy, _lock_number, leases_for

PROBE = """
import sys
from pathlib import Path
from signoff.serving.lease import RangeLocks, ThreadBusy
try:
    with RangeLocks(Path(sys.argv[1])).hold(sys.argv[2]):
        print("free")
except ThreadBusy:
    print("busy")
"""


def other_process_sees(database: Path, thread_id: str) -> str:
    """Whether another process finds `thread_id` free or busy on `database`'s lock file."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(database), thread_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_sqlite_lease_survives_other_leases_of_the_same_process(tmp_path: Path) -> None:
    database = tmp_path / "checkpoints.sqlite"
    with checkpointer(f"sqlite:///{database}") as saver:
        leases = leases_for(saver)
        with leases.hold("thread-a"):
            assert other_process_sees(database, "thread-a") == "busy"
            with leases.hold("thread-b"):
                pass  # another request of this replica starts and ends
            assert other_process_sees(database, "thread-a") == "busy"
            assert other_process_sees(database, "thread-b") == "free"
        assert other_process_sees(database, "thread-a") == "free"
        leases.close()


def test_postgres_leases_leave_the_checkpoint_pool_alone(postgres_url: str) -> None:
    threads = [str(uuid.uuid4()) for _ in range(8)]  # more than the pool's 4 connections
    with checkpointer(postgres_url) as saver:
        leases = leases_for(saver)
        holds = [leases.hold(thread_id) for thread_id in threads]
        for hold in holds:
            hold.__enter__()
        config = {"configurable": {"thread_id": threads[0], "checkpoint_ns": ""}}
        assert saver.get_tuple(config) is None  # checkpoints still get a connection
        with psycopg.connect(postgres_url, autocommit=True) as other:
            taken = other.execute(
                "SELECT pg_try_advisory_lock(%s)", (_lock_number(threads[0]),)
            ).fetchone()[0]
            assert taken is False
        replica = leases_for(saver)  # another replica's leases: a session of their own
        with (
            pytest.raises(ThreadBusy, match="being run by another replica"),
            replica.hold(threads[0]),
        ):
            pass
        replica.close()
        for hold in holds:
            hold.__exit__(None, None, None)
        with psycopg.connect(postgres_url, autocommit=True) as other:
            number = _lock_number(threads[0])
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (number,)).fetchone()[0]
        leases.close()
