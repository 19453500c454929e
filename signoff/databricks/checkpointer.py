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
(a restart, a credential rotation, `pg_terminate_backend`) is replaced instead of failing a run.
When one check fails, every idle connection of the pool is checked at once (`SiblingCheck`):
sessions usually die together, and finding them one per request would make requests wait out
the pool's backoff between failed checks (1, 2, 4 ... seconds: 7 s for a pool of four). A read
or write the database drops mid-statement is tried again on a fresh connection
(`ReconnectingSaver`, `ReconnectingSyncSaver`; `retrying` for other keyed statements), so a
dropped connection or a restart does not fail the run using it.

`langgraph.json` points at `async_checkpointer` (the server opens it once at startup); Python
callers outside the server (the Model Serving agent, scripts) use `async_checkpointer` or the
sync `checkpointer`, both context managers that yield a ready saver.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from signoff.databricks.workspace import workspace_client
from signoff.settings import environment

if TYPE_CHECKING:  # the savers are imported when chosen, not when the server loads this module
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from psycopg import AsyncConnection, Connection
    from psycopg.rows import DictRow
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

    AsyncSaver = AsyncSqliteSaver | AsyncPostgresSaver
    """The async savers signoff opens itself (Lakebase's comes untyped from Databricks)."""
    Saver = SqliteSaver | PostgresSaver
    """The sync savers signoff opens itself."""

log = logging.getLogger("signoff.databricks.checkpointer")
DEFAULT_SQLITE_PATH = ".signoff/checkpoints.sqlite"
T = TypeVar("T")


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
        from psycopg_pool import AsyncConnectionPool

        check = AsyncSiblingCheck()
        # Rows are dicts: `_postgres_connection_kwargs` sets `row_factory=dict_row`.
        pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            backend.target, kwargs=_postgres_connection_kwargs(), check=check, open=False
        )
        check.pool = pool

        class ReconnectingPostgresSaver(ReconnectingSaver, AsyncPostgresSaver):
            """`AsyncPostgresSaver`, trying a dropped statement again."""

        async with pool:
            saver = ReconnectingPostgresSaver(pool)
            await saver.setup()
            yield saver
    else:
        from databricks_langchain import AsyncCheckpointSaver
        from psycopg_pool import AsyncConnectionPool

        class ReconnectingLakebaseSaver(ReconnectingSaver, AsyncCheckpointSaver):
            """Databricks' Lakebase saver, trying a dropped statement again."""

        lakebase_check = AsyncSiblingCheck()
        async with ReconnectingLakebaseSaver(
            instance_name=backend.target, workspace_client=workspace_client(), check=lakebase_check
        ) as saver:
            if isinstance(saver.conn, AsyncConnectionPool):
                lakebase_check.pool = saver.conn
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

        class ReconnectingPostgresSaver(ReconnectingSyncSaver, PostgresSaver):
            """`PostgresSaver`, trying a dropped statement again."""

        with pooled_postgres(backend.target) as pool:
            saver = ReconnectingPostgresSaver(pool)
            saver.setup()
            yield saver
    else:
        from databricks_langchain import CheckpointSaver
        from psycopg_pool import ConnectionPool

        class ReconnectingLakebaseSaver(ReconnectingSyncSaver, CheckpointSaver):
            """Databricks' Lakebase saver, trying a dropped statement again."""

        lakebase_check = SiblingCheck()
        with ReconnectingLakebaseSaver(
            instance_name=backend.target, workspace_client=workspace_client(), check=lakebase_check
        ) as saver:
            if isinstance(saver.conn, ConnectionPool):
                lakebase_check.pool = saver.conn
            saver.setup()
            yield saver


@contextmanager
def pooled_postgres(url: str) -> Iterator[ConnectionPool[Connection[DictRow]]]:
    """An open pool of health-checked connections to the PostgreSQL at `url`, closed after."""
    from psycopg_pool import ConnectionPool

    check = SiblingCheck()
    # Rows are dicts: `_postgres_connection_kwargs` sets `row_factory=dict_row`.
    pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
        url, kwargs=_postgres_connection_kwargs(), check=check, open=False
    )
    check.pool = pool
    with pool:
        yield pool


class ReconnectingSaver(BaseCheckpointSaver[Any]):
    """Mixed into the async PostgreSQL and Lakebase savers (before them): a checkpoint read or
    write whose connection the database dropped mid-statement (`pg_terminate_backend`, a
    restart, a failover) is tried again, on a connection the pool checks first, for up to
    `RETRY_SECONDS`. Every write is an upsert keyed by thread, checkpoint, task and index, so
    one that did reach the database before the drop is written the same again. A pool that
    found no connection in its own time (the database stayed down) fails the statement as it
    is: nothing waits twice."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Open the saver it is mixed into with that saver's own arguments."""
        super().__init__(*args, **kwargs)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint `config` names (or the thread's latest)."""
        read = super().aget_tuple
        return await _retrying("read", lambda: read(config))

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint."""
        write = super().aput
        return await _retrying("write", lambda: write(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes."""
        write = super().aput_writes
        await _retrying("write", lambda: write(config, writes, task_id, task_path))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - the saver interface's name
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints, newest first (read whole, so that a drop can be tried again)."""
        listing = super().alist

        async def read() -> list[CheckpointTuple]:
            return [
                item async for item in listing(config, filter=filter, before=before, limit=limit)
            ]

        for item in await _retrying("list", read):
            yield item


class ReconnectingSyncSaver(BaseCheckpointSaver[Any]):
    """`ReconnectingSaver` for the sync PostgreSQL and Lakebase savers (the Model Serving agent,
    the Databricks App): the same retries, blocking."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Open the saver it is mixed into with that saver's own arguments."""
        super().__init__(*args, **kwargs)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint `config` names (or the thread's latest)."""
        read = super().get_tuple
        return retrying("checkpoint read", lambda: read(config))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint."""
        write = super().put
        return retrying(
            "checkpoint write", lambda: write(config, checkpoint, metadata, new_versions)
        )

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes."""
        write = super().put_writes
        retrying("checkpoint write", lambda: write(config, writes, task_id, task_path))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - the saver interface's name
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints, newest first (read whole, so that a drop can be tried again)."""
        listing = super().list
        read = lambda: [*listing(config, filter=filter, before=before, limit=limit)]  # noqa: E731
        yield from retrying("checkpoint list", read)


RETRY_SECONDS = 30.0
"""How long a checkpoint statement is tried again while its connections keep being dropped."""


def dropped_connection(error: BaseException) -> bool:
    """Whether `error` is the database dropping a connection under a statement (a restart,
    `pg_terminate_backend`, a failover), which a keyed statement may simply send again: a
    connection failure (no SQLSTATE, or class 08) or the server shutting sessions down
    (57P01-57P03). Not a pool that timed out or was closed, nor a statement the database
    refused (a timeout, a full disk, too many connections): those are raised at once."""
    from psycopg import OperationalError
    from psycopg_pool import PoolClosed, PoolTimeout

    if not isinstance(error, OperationalError) or isinstance(error, PoolClosed | PoolTimeout):
        return False
    sqlstate = error.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in DROPPED_SQLSTATES


DROPPED_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
"""admin_shutdown, crash_shutdown, cannot_connect_now: the session ended under the statement."""


class Retries:
    """How long a statement cut by a dropped connection is tried again: `after(error)` is the
    pause before the next try (doubling from 0.05 s to 1 s), or raises `error` when it is no
    dropped connection (`dropped_connection`) or `RETRY_SECONDS` have passed."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.deadline = time.monotonic() + RETRY_SECONDS
        self.pause = 0.05

    def after(self, error: Exception) -> float:
        """The pause before trying again after `error`; raises `error` when not to."""
        if not dropped_connection(error) or time.monotonic() > self.deadline:
            raise error
        log.warning("A %s lost its database connection (%s); trying again", self.what, error)
        pause, self.pause = self.pause, min(self.pause * 2, 1.0)
        return pause


async def _retrying(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """`await call()`, again while the database drops its connection (`Retries`)."""
    retries = Retries(f"checkpoint {what}")
    while True:
        try:
            return await call()
        except Exception as error:  # `Retries.after` raises all but a dropped connection
            await asyncio.sleep(retries.after(error))


def retrying(what: str, call: Callable[[], T]) -> T:
    """`call()`, again while the database drops its connection (`Retries`); blocking."""
    retries = Retries(what)
    while True:
        try:
            return call()
        except Exception as error:  # `Retries.after` raises all but a dropped connection
            time.sleep(retries.after(error))


class SiblingCheck:
    """A sync pool's connection check (its `check=`): when `connection` is broken, every idle
    connection of `pool` is checked at once (the dead ones replaced) before the failure is
    raised, so the pool's next try is a sound connection, not the next dead one after a wait."""

    pool: ConnectionPool[Any] | None = None

    def __call__(self, connection: Connection[Any]) -> None:
        """Return if `connection` works; raise (as the pool expects) if it does not."""
        from psycopg_pool import ConnectionPool

        try:
            ConnectionPool.check_connection(connection)
        except Exception:
            log.warning("A pooled database connection was dropped; checking the others now")
            if self.pool is not None:
                self.pool.check()
            raise


class AsyncSiblingCheck:
    """`SiblingCheck` for an async pool."""

    pool: AsyncConnectionPool[Any] | None = None

    async def __call__(self, connection: AsyncConnection[Any]) -> None:
        """Return if `connection` works; raise (as the pool expects) if it does not."""
        from psycopg_pool import AsyncConnectionPool

        try:
            await AsyncConnectionPool.check_connection(connection)
        except Exception:
            log.warning("A pooled database connection was dropped; checking the others now")
            if self.pool is not None:
                await self.pool.check()
            raise


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
