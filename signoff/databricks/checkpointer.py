"""Durable state: the checkpoint saver every graph uses, chosen by `SIGNOFF_CHECKPOINTER`.

| `SIGNOFF_CHECKPOINTER`       | saver                                                        |
| ---------------------------- | ------------------------------------------------------------ |
| not set                      | SQLite file `.signoff/checkpoints.sqlite` in the working dir |
| `sqlite:///path/to/file`     | SQLite file at that path                                     |
| `postgresql://...`           | PostgreSQL (`langgraph-checkpoint-postgres`) on a pool       |
| `lakebase://<instance>`      | Databricks Lakebase through `databricks-langchain`           |

With `SIGNOFF_CHECKPOINTER` unset, `LAKEBASE_INSTANCE_NAME` (the variable Databricks agent
templates use) selects Lakebase too. Lakebase credentials are generated and rotated by the
workspace client (`signoff.databricks.workspace`). Every saver runs `setup()` once, when it is
opened, and pooled connections are health-checked before use, so a connection the server dropped
(a restart, a credential rotation) is replaced instead of failing a run.

`langgraph.json` points at `async_checkpointer` (the server opens it once at startup); Python
callers outside the server (the Model Serving agent, scripts) use `async_checkpointer` or the
sync `checkpointer`, both context managers that yield a ready saver.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver

from signoff.databricks.workspace import workspace_client
from signoff.settings import environment

if TYPE_CHECKING:  # the savers are imported when chosen, not when the server loads this module
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from psycopg import Connection
    from psycopg.rows import DictRow
    from psycopg_pool import ConnectionPool

    AsyncSaver = AsyncSqliteSaver | AsyncPostgresSaver
    """The async savers signoff opens itself (Lakebase's comes untyped from Databricks)."""
    Saver = SqliteSaver | PostgresSaver
    """The sync savers signoff opens itself."""

log = logging.getLogger("signoff.databricks.checkpointer")
DEFAULT_SQLITE_PATH = ".signoff/checkpoints.sqlite"


@dataclass(frozen=True)
class Backend:
    """Where checkpoints live."""

    kind: Literal["sqlite", "postgres", "lakebase"]
    target: str
    """A file path, a PostgreSQL URL, or a Lakebase instance name."""

    def describe(self) -> str:
        """A log-friendly name that never includes a password."""
        if self.kind == "postgres":
            return "PostgreSQL at " + self.target.rsplit("@", 1)[-1]
        return f"{self.kind} {self.target}"


def choose_backend(setting: str | None = None) -> Backend:
    """Parse `setting` (default: `SIGNOFF_CHECKPOINTER`, then `LAKEBASE_INSTANCE_NAME`)."""
    value = setting if setting is not None else environment().checkpointer
    value = value.strip()
    if not value:
        if instance := os.environ.get("LAKEBASE_INSTANCE_NAME", "").strip():
            return Backend("lakebase", instance)
        return Backend("sqlite", DEFAULT_SQLITE_PATH)
    scheme, separator, rest = value.partition("://")
    if separator and scheme == "sqlite" and rest.startswith("/"):
        return Backend("sqlite", rest[1:] or DEFAULT_SQLITE_PATH)
    if separator and scheme in ("postgresql", "postgres"):
        return Backend("postgres", value)
    if separator and scheme == "lakebase" and rest.strip("/"):
        return Backend("lakebase", rest.strip("/"))
    raise ValueError(
        f"SIGNOFF_CHECKPOINTER={value!r} is not understood; use sqlite:///path, "
        "postgresql://user:password@host:port/db or lakebase://<instance name>."
    )


@asynccontextmanager
async def async_checkpointer(setting: str | None = None) -> AsyncIterator[BaseCheckpointSaver]:
    """Open the configured saver for async use, set it up once, and close it afterwards."""
    backend = choose_backend(setting)
    log.info("signoff checkpoints: %s", backend.describe())
    saver: AsyncSaver
    if backend.kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(_sqlite_file(backend.target)) as saver:
            await saver.setup()
            yield saver
    elif backend.kind == "postgres":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection
        from psycopg_pool import AsyncConnectionPool

        # Rows are dicts: `_postgres_connection_kwargs` sets `row_factory=dict_row`.
        pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            backend.target,
            kwargs=_postgres_connection_kwargs(),
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        async with pool:
            saver = AsyncPostgresSaver(pool)
            await saver.setup()
            yield saver
    else:
        from databricks_langchain import AsyncCheckpointSaver
        from psycopg_pool import AsyncConnectionPool

        async with AsyncCheckpointSaver(
            instance_name=backend.target,
            workspace_client=workspace_client(),
            check=AsyncConnectionPool.check_connection,
        ) as saver:
            await saver.setup()
            yield saver


@contextmanager
def checkpointer(setting: str | None = None) -> Iterator[BaseCheckpointSaver]:
    """Open the configured saver for sync use, set it up once, and close it afterwards."""
    backend = choose_backend(setting)
    log.info("signoff checkpoints: %s", backend.describe())
    saver: Saver
    if backend.kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(_sqlite_file(backend.target)) as saver:
            saver.setup()
            yield saver
    elif backend.kind == "postgres":
        from langgraph.checkpoint.postgres import PostgresSaver

        with pooled_postgres(backend.target) as pool:
            saver = PostgresSaver(pool)
            saver.setup()
            yield saver
    else:
        from databricks_langchain import CheckpointSaver
        from psycopg_pool import ConnectionPool

        with CheckpointSaver(
            instance_name=backend.target,
            workspace_client=workspace_client(),
            check=ConnectionPool.check_connection,
        ) as saver:
            saver.setup()
            yield saver


@contextmanager
def pooled_postgres(url: str) -> Iterator[ConnectionPool[Connection[DictRow]]]:
    """An open pool of health-checked connections to the PostgreSQL at `url`, closed after."""
    from psycopg_pool import ConnectionPool

    # Rows are dicts: `_postgres_connection_kwargs` sets `row_factory=dict_row`.
    pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
        url,
        kwargs=_postgres_connection_kwargs(),
        check=ConnectionPool.check_connection,
        open=False,
    )
    with pool:
        yield pool


def _postgres_connection_kwargs() -> dict[str, Any]:
    """What `langgraph-checkpoint-postgres` needs of every pooled connection (psycopg is
    imported here, when PostgreSQL is chosen, not when the server loads this module)."""
    from psycopg.rows import dict_row

    return {
        "autocommit": True,
        "prepare_threshold": 0,
        "row_factory": dict_row,
        # A host that vanishes without closing its sockets is noticed within about a minute,
        # so the advisory locks its sessions held (signoff.serving.lease) are released.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }


def _sqlite_file(path: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path
