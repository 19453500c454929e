"""The deployment's database for signoff's own shared state, beside the checkpoints.

With PostgreSQL or Lakebase checkpoints, the webhook outbox (`signoff.signals.outbox`) and the
ledger (`signoff.execution.ledger`) are tables in the same database: `signoff_outbox` and
`signoff_ledger` (`POSTGRES_SCHEMA`). `shared_pool(backend)` is this process's pool of
connections to it: opened on first use (a few health-checked connections; on Lakebase through
databricks-ai-bridge's `LakebasePool`, its credentials generated and rotated by the workspace
client), the tables made sure of once (`CREATE TABLE IF NOT EXISTS`, under an advisory lock so
two replicas starting together do not collide), closed when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import zlib
from typing import TYPE_CHECKING, Any

from signoff.databricks.checkpointer import Backend, SiblingCheck, pooled_postgres
from signoff.databricks.workspace import workspace_client

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import DictRow
    from psycopg_pool import ConnectionPool

POOL_TIMEOUT_SECONDS = 10.0
"""How long a statement waits for a connection of the shared pool."""
LAKEBASE_POOL_SIZE = 4
"""Connections per process in the shared pool of a Lakebase instance."""

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
_SCHEMA_LOCK = zlib.crc32(b"signoff shared state schema")
"""The advisory lock that serializes creating the tables across processes."""


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
                pool.connection(timeout=POOL_TIMEOUT_SECONDS) as connection,
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
