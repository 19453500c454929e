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
own, on PostgreSQL and Lakebase a connection borrowed from the process's `shared_pool` (a
few health-checked connections, opened once per process and database and also used by
`signoff.execution.ledger`), so a notification costs one statement, not a connection.

A claim is one statement that picks the oldest due event, counts the attempt and leases the
event until `lease_end`, so no other pass, in this process or another, sends it meanwhile:
on PostgreSQL the pick is `SELECT ... FOR UPDATE SKIP LOCKED`, on SQLite the statement holds
the database's write lock. A process that dies mid-send leaves the event leased; it is due
again when the lease ends.
"""

from __future__ import annotations

import atexit
import contextlib
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from signoff.databricks.checkpointer import Backend, SiblingCheck, choose_backend, pooled_postgres
from signoff.databricks.workspace import workspace_client
from signoff.settings import environment

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import DictRow
    from psycopg_pool import ConnectionPool

BUSY_TIMEOUT_SECONDS = 10.0
"""How long a statement waits for SQLite's write lock, or for a pooled connection."""
LAKEBASE_POOL_SIZE = 4
"""Connections per process in the shared pool of a Lakebase instance."""

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
POSTGRES_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS signoff_outbox (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        body BYTEA NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        delivered_at DOUBLE PRECISION,
        gave_up_at DOUBLE PRECISION,
        last_error TEXT,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS signoff_outbox_due ON signoff_outbox (next_attempt_at)
        WHERE delivered_at IS NULL AND gave_up_at IS NULL""",
    """CREATE TABLE IF NOT EXISTS signoff_ledger (
        position BIGINT GENERATED ALWAYS AS IDENTITY,
        key TEXT PRIMARY KEY,
        entry TEXT NOT NULL
    )""",
)
"""The shared state's tables on PostgreSQL and Lakebase (times are epoch seconds; a ledger
entry is its JSON line, `position` keeps the order it was written in)."""
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
_SCHEMA_LOCK = zlib.crc32(b"signoff shared state schema")
"""The advisory lock that serializes creating the tables across processes."""


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
def opened_outbox(setting: str | None = None) -> Iterator[Outbox]:
    """The outbox of the deployment whose checkpoints `setting` names (default:
    `SIGNOFF_CHECKPOINTER`, as `choose_backend` reads it), for the block."""
    backend = choose_backend(setting)
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
        with shared_pool(backend).connection(timeout=BUSY_TIMEOUT_SECONDS) as connection:
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


_pools: dict[Backend, Any] = {}
_pools_lock = threading.Lock()
_tables_made: set[Backend] = set()
"""The databases whose shared-state tables this process has made sure of."""
_closing = contextlib.ExitStack()
atexit.register(_closing.close)


def shared_pool(backend: Backend) -> ConnectionPool[Connection[DictRow]]:
    """This process's pool of health-checked connections (autocommit, rows as dicts) to the
    PostgreSQL or Lakebase database of `backend`, opened on first use with the shared state's
    tables created, and closed when the process exits."""
    with _pools_lock:
        if backend not in _pools:
            if backend.kind == "postgres":
                _pools[backend] = _closing.enter_context(pooled_postgres(backend.target))
            elif backend.kind == "lakebase":
                _pools[backend] = _lakebase_pool(backend.target)
            else:
                raise ValueError(f"{backend.describe()} is not a PostgreSQL database.")
        pool: ConnectionPool[Connection[DictRow]] = _pools[backend]
        if backend not in _tables_made:  # kept for the next call when the database is away
            with (
                pool.connection(timeout=BUSY_TIMEOUT_SECONDS) as connection,
                connection.transaction(),
            ):
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in POSTGRES_SCHEMA:
                    connection.execute(statement)
            _tables_made.add(backend)
        return pool


def _lakebase_pool(instance: str) -> ConnectionPool[Connection[DictRow]]:
    """A pool on Lakebase `instance` through databricks-ai-bridge (as databricks-langchain's
    savers connect), its credentials generated and rotated by the workspace client."""
    from databricks_ai_bridge.lakebase import LakebasePool

    check = SiblingCheck()
    lakebase = LakebasePool(
        instance_name=instance,
        workspace_client=workspace_client(),
        check=check,
        max_size=LAKEBASE_POOL_SIZE,
    )
    check.pool = lakebase.pool
    _closing.callback(lakebase.close)
    pool: ConnectionPool[Connection[DictRow]] = lakebase.pool
    return pool
