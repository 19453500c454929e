"""Reading threads straight from a checkpoint saver's tables: the pending listing's queries.

A checkpoint store has no table of threads: a thread is the checkpoints kept under its id.
`CheckpointTables.of(saver)` reads the tables of `langgraph-checkpoint-postgres` (PostgreSQL,
and Lakebase, whose saver is the same) or of `langgraph-checkpoint-sqlite`, with the same
queries on both:

- `pending(...)`: every thread waiting on an interrupt, with the interrupts it waits on. A
  pause is stored as a write on channel `__interrupt__` against the thread's latest
  checkpoint of the root namespace; the task that raised it is unfinished as long as it has
  no output write in that checkpoint (`langgraph.pregel._task_status`: a `__resume__` write
  alone does not finish it). The query starts from the interrupt writes alone, through a
  partial index on them (`prepare()` creates it, idempotently), keeps those of each
  thread's newest checkpoint (no newer checkpoint exists, by primary key) whose task is
  unfinished, and decodes each value with the saver's own serde. Nothing else is read:
  no other checkpoint, no state.
- `latest(...)`: the newest root checkpoint of every thread (its id, the first one's, and its
  metadata), for the searches that are not about pending requests (thread ids, threads updated
  since a moment) and for reading one thread.

Rows come in the order asked (`Page`), paged with `limit`/`offset` in the database; times
are read from the checkpoint ids (uuid6, time-ordered), so no checkpoint is decoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from langgraph.checkpoint.base import BaseCheckpointSaver

Order = Literal["thread_id", "created_at", "updated_at"]
"""What rows are sorted by: the thread id, its first checkpoint, or its latest one."""

UNFINISHED = ("__interrupt__", "__resume__", "__error__", "__error_source_node__")
"""Write channels that do not finish a task (`langgraph.pregel._task_status.CONTROL_WRITES`)."""

INDEX = "signoff_pending_interrupts"
"""The partial index on interrupt writes that `pending` reads through."""


@dataclass(frozen=True)
class Page:
    """Which threads a query reads: in what order, how many from where, of which ids."""

    order: Order = "updated_at"
    descending: bool = True
    limit: int | None = None
    """`None`: every one."""
    offset: int = 0
    ids: Sequence[str] | None = None
    """Only these threads (`None`: every thread)."""


ALL = Page()
"""Every thread, the latest updated first."""


@dataclass(frozen=True)
class ThreadRow:
    """A thread as its newest root checkpoint has it."""

    thread_id: str
    checkpoint_id: str
    """Its newest checkpoint of the root namespace."""
    first_id: str
    """Its first checkpoint (when it was created)."""
    metadata: dict[str, Any]
    """That checkpoint's metadata, as stored."""
    interrupts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Task id → the interrupts (`{"id", "value"}`) it waits on; empty when it waits on none."""

    @property
    def created_at(self) -> str:
        """When its first checkpoint was taken (ISO 8601, UTC)."""
        return checkpoint_time(self.first_id)

    @property
    def updated_at(self) -> str:
        """When its latest checkpoint was taken (ISO 8601, UTC)."""
        return checkpoint_time(self.checkpoint_id)


def checkpoint_time(checkpoint_id: str) -> str:
    """When checkpoint `checkpoint_id` (a uuid6) was made, ISO 8601 in UTC; `""` for an id
    that is no uuid6."""
    try:
        uuid = UUID(checkpoint_id)
    except ValueError:
        return ""
    if uuid.version != 6:
        return ""
    ticks = (uuid.time_low << 28) | (uuid.time_mid << 12) | (uuid.time_hi_version & 0x0FFF)
    seconds = (ticks - 0x01B21DD213814000) / 10_000_000
    return datetime.fromtimestamp(seconds, UTC).isoformat()


_LATEST = """NOT EXISTS (
        SELECT 1 FROM checkpoints n
        WHERE n.thread_id = w.thread_id AND n.checkpoint_ns = ''
          AND n.checkpoint_id > w.checkpoint_id)"""
"""No newer root checkpoint than the one write `w` belongs to (a primary key lookup)."""

_UNFINISHED = """NOT EXISTS (
        SELECT 1 FROM {writes} o
        WHERE o.thread_id = w.thread_id AND o.checkpoint_ns = ''
          AND o.checkpoint_id = w.checkpoint_id AND o.task_id = w.task_id
          AND o.channel NOT IN ({control}))"""
"""The task of write `w` has no output in its checkpoint: it has not finished."""

_FIRST_ID = """(
    SELECT min(f.checkpoint_id) FROM checkpoints f
    WHERE f.thread_id = {row}.thread_id AND f.checkpoint_ns = '')"""

_ORDERS: dict[Order, str] = {
    "thread_id": "thread_id",
    "created_at": "first_id",
    "updated_at": "checkpoint_id",
}


class CheckpointTables:
    """The queries of the listing on one saver's tables (see the module docstring)."""

    def __init__(self, saver: BaseCheckpointSaver, dialect: Literal["postgres", "sqlite"]) -> None:
        self.saver = saver
        self.dialect = dialect
        writes, value = (
            ("checkpoint_writes", "blob") if dialect == "postgres" else ("writes", "value")
        )
        control = ", ".join(f"'{channel}'" for channel in UNFINISHED)
        self._writes = writes
        self._value = value
        self._unfinished = _UNFINISHED.format(writes=writes, control=control)

    @classmethod
    def of(cls, saver: BaseCheckpointSaver) -> CheckpointTables:
        """The tables of `saver`; `TypeError` for a saver that keeps no tables signoff reads."""
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.checkpoint.sqlite import SqliteSaver

        if isinstance(saver, PostgresSaver):  # Lakebase's saver is one too
            return cls(saver, "postgres")
        if isinstance(saver, SqliteSaver):
            return cls(saver, "sqlite")
        raise TypeError(
            f"Threads can be listed from a PostgresSaver (PostgreSQL, Lakebase) or a "
            f"SqliteSaver, not from a {type(saver).__name__}; set SIGNOFF_CHECKPOINTER to a "
            "sqlite:///, postgresql:// or lakebase:// store."
        )

    def prepare(self) -> None:
        """Create the partial index on interrupt writes, unless it exists."""
        statement = (
            f"CREATE INDEX {'CONCURRENTLY ' if self.dialect == 'postgres' else ''}"
            f"IF NOT EXISTS {INDEX} ON {self._writes} (thread_id, checkpoint_ns, checkpoint_id) "
            "WHERE channel = '__interrupt__'"
        )
        with self._cursor() as cursor:
            cursor.execute(statement)

    def pending(self, page: Page = ALL) -> list[ThreadRow]:
        """The threads waiting on interrupts, as `page` picks them."""
        query = f"""
            WITH page AS (
                SELECT p.thread_id, p.checkpoint_id, {_FIRST_ID.format(row="p")} AS first_id
                FROM (
                    SELECT DISTINCT w.thread_id, w.checkpoint_id FROM {self._writes} w
                    WHERE w.channel = '__interrupt__' AND w.checkpoint_ns = ''
                      AND {_LATEST} AND {self._unfinished}) p
                {self._ids_clause("p", page.ids)}
                {self._page(page)})
            SELECT page.thread_id, page.checkpoint_id, page.first_id, c.metadata,
                   w.task_id, w.type, w.{self._value} AS value
            FROM page
            JOIN checkpoints c ON c.thread_id = page.thread_id AND c.checkpoint_ns = ''
                AND c.checkpoint_id = page.checkpoint_id
            JOIN {self._writes} w ON w.thread_id = page.thread_id AND w.checkpoint_ns = ''
                AND w.checkpoint_id = page.checkpoint_id AND w.channel = '__interrupt__'
            WHERE {self._unfinished}
            ORDER BY {self._order(page, "page")}, w.task_id, w.idx
        """
        return self._rows(query, self._parameters(page), decode=True)

    def latest(self, page: Page = ALL) -> list[ThreadRow]:
        """The newest root checkpoint of every thread `page` picks, without their interrupts
        (see `pending` for those)."""
        query = f"""
            SELECT c.thread_id, c.checkpoint_id, {_FIRST_ID.format(row="c")} AS first_id,
                   c.metadata, NULL AS task_id, NULL AS type, NULL AS value
            FROM checkpoints c
            WHERE c.checkpoint_ns = '' AND NOT EXISTS (
                SELECT 1 FROM checkpoints n
                WHERE n.thread_id = c.thread_id AND n.checkpoint_ns = ''
                  AND n.checkpoint_id > c.checkpoint_id)
            {self._ids_clause("c", page.ids, conjunction="AND")}
            ORDER BY {self._order(page, "")}
            {self._limit()}
        """
        return self._rows(query, self._parameters(page), decode=False)

    # ------------------------------------------------------------------ the SQL of each dialect

    def _ids_clause(self, alias: str, ids: Sequence[str] | None, conjunction: str = "WHERE") -> str:
        if ids is None:
            return ""
        if self.dialect == "postgres":
            return f"{conjunction} {alias}.thread_id = ANY(%s)"
        return f"{conjunction} {alias}.thread_id IN (SELECT value FROM json_each(%s))"

    def _order(self, page: Page, table: str) -> str:
        prefix = f"{table}." if table else ""
        direction = "DESC" if page.descending else "ASC"
        return f"{prefix}{_ORDERS[page.order]} {direction}, {prefix}thread_id {direction}"

    def _page(self, page: Page) -> str:
        return f"ORDER BY {self._order(page, '')} {self._limit()}"

    def _limit(self) -> str:
        return "LIMIT %s OFFSET %s"

    def _parameters(self, page: Page) -> tuple[Any, ...]:
        ids, limit = page.ids, page.limit
        if limit is None:
            limit = None if self.dialect == "postgres" else -1  # LIMIT NULL / -1: no limit
        found: tuple[Any, ...] = ()
        if ids is not None:
            found = (list(ids),) if self.dialect == "postgres" else (json.dumps(list(ids)),)
        return (*found, limit, page.offset)

    def _sql(self, query: str) -> str:
        return query if self.dialect == "postgres" else query.replace("%s", "?")

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        saver: Any = self.saver
        if self.dialect == "postgres":
            with saver._cursor() as cursor:  # the saver's own pool and lock
                yield cursor
        else:
            with saver.cursor(transaction=False) as cursor:
                yield cursor

    def _rows(self, query: str, parameters: tuple[Any, ...], decode: bool) -> list[ThreadRow]:
        with self._cursor() as cursor:
            cursor.execute(self._sql(query), parameters)
            fetched = cursor.fetchall()
        rows: dict[str, ThreadRow] = {}
        for row in fetched:
            thread_id, checkpoint_id, first_id, metadata, task_id, kind, value = (
                row.values() if isinstance(row, dict) else row
            )
            found = rows.get(thread_id)
            if found is None:
                found = rows[thread_id] = ThreadRow(
                    thread_id=str(thread_id),
                    checkpoint_id=str(checkpoint_id),
                    first_id=str(first_id),
                    metadata=_metadata(metadata),
                )
            if decode and value is not None:
                found.interrupts.setdefault(str(task_id), []).extend(self._interrupts(kind, value))
        return list(rows.values())

    def _interrupts(self, kind: str, value: bytes) -> list[dict[str, Any]]:
        """The interrupts of one `__interrupt__` write, as `{"id", "value"}`."""
        decoded = self.saver.serde.loads_typed((kind, bytes(value)))
        interrupts = decoded if isinstance(decoded, list | tuple) else [decoded]
        return [
            {"id": getattr(i, "id", None), "value": getattr(i, "value", None)} for i in interrupts
        ]


def _metadata(stored: Any) -> dict[str, Any]:
    """Checkpoint metadata as stored: JSONB (a dict) on PostgreSQL, JSON text on SQLite."""
    if isinstance(stored, bytes | str):
        try:
            stored = json.loads(stored)
        except ValueError:
            return {}
    return dict(stored) if isinstance(stored, dict) else {}
