"""Per-thread leases: one process at a time may run a thread, across replicas.

Several Model Serving replicas (or scripts) share one checkpoint store. Two of them running
the same thread at once would both pass the same approval and both execute it, so a replica
holds a lease on the thread for as long as it runs it. `leases_for(saver)` picks how:

- PostgreSQL and Lakebase: session-level advisory locks (`pg_try_advisory_lock`), all taken on
  one connection the replica keeps for them (drawn once from the saver's pool, so Lakebase
  credentials work as for checkpoints), never on the connections checkpoints are written on;
- SQLite: POSIX byte-range locks (`fcntl.lockf`), one byte per thread, on one lock file beside
  the database that the replica keeps open (closing any other descriptor of that file would
  drop the process's locks, so there is no other);
- any other saver (in memory): no other process can see its threads; nothing to hold.

A replica that dies releases its leases with its connection or process, so a crash never
strands a thread for long (on PostgreSQL the server notices a vanished host through TCP
keepalives). A lease that is taken raises `ThreadBusy` at once; nothing waits and nothing of
the request is applied. Leases fence replicas that are alive: a replica cut off from the
database loses its locks while it may still be running, so the side effects keep their own
idempotency keys as well. A lease lost that way (its session dropped, or the database
restarted, while it was held) is logged when it ends; the next lease is taken on a fresh
connection.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver

log = logging.getLogger("signoff.serving.lease")


class ThreadBusy(ValueError):
    """Another process holds the thread's lease; `str(error)` says what to do."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"Thread {thread_id!r} is being run by another replica right now; nothing of this "
            "request was applied. Send it again when that run has finished (its reply shows "
            "where the thread stands)."
        )


class Leases(Protocol):
    """How one replica holds threads against the other replicas on the same store."""

    def hold(self, thread_id: str) -> Any:
        """A context manager holding `thread_id`; raises `ThreadBusy` if another holds it."""

    def close(self) -> None:
        """Release what the leases keep open (every lease must have ended)."""


def leases_for(saver: BaseCheckpointSaver | None) -> Leases:
    """The leases that fence other processes sharing `saver`'s store."""
    conn = getattr(saver, "conn", None)
    if type(conn).__module__.split(".")[0] in ("psycopg", "psycopg_pool"):
        return AdvisoryLocks(conn)
    if type(conn).__module__ == "sqlite3" and (database := _sqlite_file(conn)):
        return RangeLocks(database)
    return NoLeases()


class NoLeases:
    """For stores no other process can see."""

    @contextmanager
    def hold(self, thread_id: str) -> Iterator[None]:
        """Nothing to hold."""
        yield

    def close(self) -> None:
        """Nothing to release."""


class AdvisoryLocks:
    """PostgreSQL advisory locks on one connection kept for them."""

    def __init__(self, pool_or_connection: Any) -> None:
        self._source = pool_or_connection
        self._connection: Any = None
        self._mutex = threading.Lock()

    @contextmanager
    def hold(self, thread_id: str) -> Iterator[None]:
        """Hold `thread_id` for the block."""
        number = _lock_number(thread_id)
        if not _held(self._execute("SELECT pg_try_advisory_lock(%s) AS held", number)):
            raise ThreadBusy(thread_id)
        try:
            yield
        finally:
            if not _held(self._execute("SELECT pg_advisory_unlock(%s) AS held", number)):
                log.warning(
                    "The lease on thread %r was lost while it was held: its database session "
                    "ended (a dropped connection or a restart), so another replica could run "
                    "the thread meanwhile; side effects are still kept once by their "
                    "idempotency keys.",
                    thread_id,
                )

    def close(self) -> None:
        """Give the lock connection back to the pool."""
        with self._mutex:
            if self._connection is not None and self._connection is not self._source:
                self._source.putconn(self._connection)
            self._connection = None

    def _execute(self, query: str, number: int) -> Any:
        """Run `query` on the lock connection, drawing a fresh one once if it broke (a broken
        session has lost its locks anyway)."""
        from psycopg import OperationalError

        pooled = hasattr(self._source, "getconn")
        with self._mutex:
            for attempt in (1, 2):
                if self._connection is None:
                    self._connection = self._source.getconn() if pooled else self._source
                try:
                    return self._connection.execute(query, (number,)).fetchone()
                except OperationalError:
                    if attempt == 2 or not pooled:
                        raise
                    self._source.putconn(self._connection)
                    self._connection = None


class RangeLocks:
    """One byte-range lock per thread on a lock file beside the SQLite database."""

    def __init__(self, database: Path) -> None:
        self._path = database.parent / f"{database.name}.leases"
        self._file: IO[bytes] | None = None
        self._mutex = threading.Lock()

    @contextmanager
    def hold(self, thread_id: str) -> Iterator[None]:
        """Hold `thread_id` for the block."""
        offset = _lock_number(thread_id) % (2**31)
        with self._mutex:
            if self._file is None:
                self._file = self._path.open("a+b")
            file = self._file
            try:
                fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                raise ThreadBusy(thread_id) from None
        try:
            yield
        finally:
            with self._mutex:
                fcntl.lockf(file, fcntl.LOCK_UN, 1, offset)

    def close(self) -> None:
        """Close the lock file (which releases any lock still held)."""
        with self._mutex:
            if self._file is not None:
                self._file.close()
            self._file = None


def _held(row: Any) -> bool:
    """The boolean a lock or unlock query returned (rows are dicts or tuples)."""
    return bool(row["held"] if isinstance(row, dict) else row[0])


def _lock_number(thread_id: str) -> int:
    """A signed 63-bit number for the thread, the same in every process."""
    return int.from_bytes(hashlib.sha256(thread_id.encode()).digest()[:8], "big") >> 1


def _sqlite_file(connection: Any) -> Path | None:
    """The main database file of `connection`; `None` in memory (no other process sees it)."""
    for _, name, file in connection.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file)
    return None
