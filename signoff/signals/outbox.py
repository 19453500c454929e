"""Where webhook events wait until delivered: the outbox, kept where the checkpoints are.

| checkpoints (`SIGNOFF_CHECKPOINTER`)  | outbox                                                  |
| ------------------------------------- | ------------------------------------------------------- |
| SQLite (the default, `make dev`)      | table `events` in the SQLite file `SIGNOFF_OUTBOX`      |
| `postgresql://...`                    | table `signoff_outbox` in that database                 |
| `lakebase://<instance>`               | table `signoff_outbox` in that Lakebase instance        |

So every replica of a deployment on PostgreSQL or Lakebase shares one outbox that outlives
its disks, and a redeploy loses nothing enqueued. Each table is created when a process first
uses it (`CREATE TABLE IF NOT EXISTS`, under an advisory lock on PostgreSQL so two replicas
starting together do not collide).

`opened_outbox()` yields an `Outbox` for one block of work: on SQLite a connection of its
own, on PostgreSQL and Lakebase a connection borrowed from the process's pool to the
deployment's database (`signoff.databricks.shared_state`, which also makes the table and
serves the ledger), so a notification costs one statement, not a connection.

A claim is one statement that picks the oldest due event, counts the attempt and leases the
event until `lease_end`, so no other pass, in this process or another, sends it meanwhile:
on PostgreSQL the pick is `SELECT ... FOR UPDATE SKIP LOCKED`, on SQLite the statement holds
the database's write lock. A process that dies mid-send leaves the event leased; it is due
again when the lease ends.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from signoff.databricks.checkpointer import choose_backend
from signoff.databricks.shared_state import POOL_TIMEOUT_SECONDS, shared_pool
from signoff.settings import environment

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import DictRow

BUSY_TIMEOUT_SECONDS = 10.0
"""How long a statement waits for SQLite's write lock."""

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    gave_up_at REAL,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_due ON events (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
"""
_SQLITE_CLAIM = """
UPDATE events SET attempts = attempts + 1, next_attempt_at = :lease_end
WHERE id = (
    SELECT id FROM events
    WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= :now
    ORDER BY next_attempt_at LIMIT 1
)
RETURNING id, type, body, attempts
"""
_POSTGRES_CLAIM = """
UPDATE signoff_outbox SET attempts = attempts + 1, next_attempt_at = %(lease_end)s
WHERE id = (
    SELECT id FROM signoff_outbox
    WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, type, body, attempts
"""


@dataclass(frozen=True)
class Claimed:
    """An event one pass has claimed and now sends."""

    id: str
    type: str
    body: bytes
    attempts: int
    """Attempts including this one."""


class Outbox(Protocol):
    """The outbox's operations; each is one statement."""

    def enqueue(self, id_: str, event_type: str, body: bytes, at: float) -> None:
        """Store the event, due at `at`, unless an event with `id_` is stored already."""

    def claim(self, now: float, lease_end: float) -> Claimed | None:
        """The oldest event due at `now`, its attempt counted and leased until `lease_end`;
        `None` when none is due."""

    def delivered(self, id_: str, at: float) -> None:
        """Record that the receiver took the event at `at`."""

    def failed(self, event: Claimed, error: str, retry_at: float | None, at: float) -> bool:
        """Record that sending `event` failed with `error`: due again at `retry_at`, or given
        up at `at` when `retry_at` is `None`. `False`, recording nothing, when the event was
        delivered or claimed again since (its lease ran out: the later pass owns it)."""


def outbox_path() -> Path:
    """The SQLite outbox file (`SIGNOFF_OUTBOX`), used when the checkpoints are in SQLite."""
    return Path(environment().outbox)


@contextlib.contextmanager
def opened_outbox() -> Iterator[Outbox]:
    """The outbox of the deployment whose checkpoints `SIGNOFF_CHECKPOINTER` names (as
    `choose_backend` reads it), for the block."""
    backend = choose_backend()
    if backend.kind == "sqlite":
        path = outbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SQLITE_SCHEMA)
            yield SqliteOutbox(db)
        finally:
            db.close()
    else:
        with shared_pool(backend).connection(timeout=POOL_TIMEOUT_SECONDS) as connection:
            yield PostgresOutbox(connection)


class SqliteOutbox:
    """The outbox in a SQLite file, on a connection in autocommit mode."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def enqueue(self, id_: str, event_type: str, body: bytes, at: float) -> None:
        """See `Outbox.enqueue`."""
        self._db.execute(
            "INSERT OR IGNORE INTO events (id, type, body, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (id_, event_type, body, at, at),
        )

    def claim(self, now: float, lease_end: float) -> Claimed | None:
        """See `Outbox.claim`."""
        row = self._db.execute(_SQLITE_CLAIM, {"now": now, "lease_end": lease_end}).fetchone()
        return Claimed(*row) if row else None

    def delivered(self, id_: str, at: float) -> None:
        """See `Outbox.delivered`."""
        self._db.execute(
            "UPDATE events SET delivered_at = ?, last_error = NULL WHERE id = ?", (at, id_)
        )

    def failed(self, event: Claimed, error: str, retry_at: float | None, at: float) -> bool:
        """See `Outbox.failed`."""
        column, when = ("gave_up_at", at) if retry_at is None else ("next_attempt_at", retry_at)
        cursor = self._db.execute(
            f"UPDATE events SET {column} = ?, last_error = ? "
            "WHERE id = ? AND attempts = ? AND delivered_at IS NULL",
            (when, error, event.id, event.attempts),
        )
        return cursor.rowcount > 0


class PostgresOutbox:
    """The outbox in table `signoff_outbox`, on a pooled connection in autocommit mode."""

    def __init__(self, connection: Connection[DictRow]) -> None:
        self._connection = connection

    def enqueue(self, id_: str, event_type: str, body: bytes, at: float) -> None:
        """See `Outbox.enqueue`."""
        self._connection.execute(
            "INSERT INTO signoff_outbox (id, type, body, next_attempt_at, created_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (id_, event_type, body, at, at),
        )

    def claim(self, now: float, lease_end: float) -> Claimed | None:
        """See `Outbox.claim`."""
        row = self._connection.execute(
            _POSTGRES_CLAIM, {"now": now, "lease_end": lease_end}
        ).fetchone()
        if row is None:
            return None
        return Claimed(row["id"], row["type"], bytes(row["body"]), row["attempts"])

    def delivered(self, id_: str, at: float) -> None:
        """See `Outbox.delivered`."""
        self._connection.execute(
            "UPDATE signoff_outbox SET delivered_at = %s, last_error = NULL WHERE id = %s",
            (at, id_),
        )

    def failed(self, event: Claimed, error: str, retry_at: float | None, at: float) -> bool:
        """See `Outbox.failed`."""
        column, when = ("gave_up_at", at) if retry_at is None else ("next_attempt_at", retry_at)
        cursor = self._connection.execute(
            f"UPDATE signoff_outbox SET {column} = %s, last_error = %s "
            "WHERE id = %s AND attempts = %s AND delivered_at IS NULL",
            (when, error, event.id, event.attempts),
        )
        return cursor.rowcount > 0
