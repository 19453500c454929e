"""Per-thread leases: one process at a time may run a thread, across replicas.

Several Model Serving replicas (or scripts) share one checkpoint store. Two of them running
the same thread at once would both pass the same approval and both execute it, so a replica
holds a lease on the thread for as long as it runs it:

- PostgreSQL and Lakebase: a session-level advisory lock (`pg_try_advisory_lock`) on a
  connection taken from the saver's own pool, held for the run;
- SQLite: a POSIX byte-range lock (`fcntl.lockf`) on one byte of a lock file beside the
  database, at an offset derived from the thread id;
- any other saver (in memory): no other process can see its threads; nothing to hold.

Both locks belong to a connection or a process, so a replica that dies releases its leases
with it: a crash never strands a thread. A lease that is taken raises `ThreadBusy` at once;
nothing waits and nothing of the request is applied.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver


class ThreadBusy(ValueError):
    """Another process holds the thread's lease; `str(error)` says what to do."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"Thread {thread_id!r} is being run by another replica right now; nothing of this "
            "request was applied. Send it again when that run has finished (its reply shows "
            "where the thread stands)."
        )


@contextmanager
def thread_lease(saver: BaseCheckpointSaver | None, thread_id: str) -> Iterator[None]:
    """Hold `thread_id` against every other process sharing `saver`'s store."""
    pool_or_connection = getattr(saver, "conn", None)
    if _is_postgres(pool_or_connection):
        with _advisory_lock(pool_or_connection, thread_id):
            yield
    elif _is_sqlite(pool_or_connection) and (database := _sqlite_file(pool_or_connection)):
        with _range_lock(database, thread_id):
            yield
    else:
        yield


def _lock_number(thread_id: str) -> int:
    """A signed 63-bit number for the thread, the same in every process."""
    return int.from_bytes(hashlib.sha256(thread_id.encode()).digest()[:8], "big") >> 1


def _is_postgres(conn: object) -> bool:
    return type(conn).__module__.split(".")[0] in ("psycopg", "psycopg_pool")


def _is_sqlite(conn: object) -> bool:
    return type(conn).__module__ == "sqlite3"


@contextmanager
def _advisory_lock(pool_or_connection: Any, thread_id: str) -> Iterator[None]:
    from psycopg_pool import ConnectionPool

    number = _lock_number(thread_id)
    if isinstance(pool_or_connection, ConnectionPool):
        with pool_or_connection.connection() as connection, _held(connection, number, thread_id):
            yield
    else:
        with _held(pool_or_connection, number, thread_id):
            yield


@contextmanager
def _held(connection: Any, number: int, thread_id: str) -> Iterator[None]:
    row = connection.execute("SELECT pg_try_advisory_lock(%s) AS held", (number,)).fetchone()
    held = row["held"] if isinstance(row, dict) else row[0]
    if not held:
        raise ThreadBusy(thread_id)
    try:
        yield
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (number,))


def _sqlite_file(connection: Any) -> Path | None:
    """The main database file of `connection`; `None` in memory (no other process sees it)."""
    for _, name, file in connection.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file)
    return None


@contextmanager
def _range_lock(database: Path, thread_id: str) -> Iterator[None]:
    offset = _lock_number(thread_id) % (2**31)
    with (database.parent / f"{database.name}.leases").open("a+b") as file:
        try:
            fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            raise ThreadBusy(thread_id) from None
        try:
            yield
        finally:
            fcntl.lockf(file, fcntl.LOCK_UN, 1, offset)
