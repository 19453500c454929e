"""Checkpoint growth: bytes stored per approval cycle as one thread accumulates cycles.

One thread per graph and saver runs approval cycles back to back (pause, approve, run):

- `approve_reject` (`graphs/approve_reject.py`), input `{"operation": {"amount": 5000, ...}}`,
  resumed with `"approve"`; its `audit` and `reviewers` lists grow by one entry per cycle;
- the reviewed agent of `signoff.review.reviewed_agent` on the fake model and tool of `bench.fakes`
  (a `review_tool_calls`-style thread): four messages and one audit entry per cycle.

After chosen cycles the bytes the saver holds for the thread are summed: on SQLite
(`SqliteSaver`) the serialized `checkpoint` and `metadata` blobs and the `writes` values; on
PostgreSQL (`PostgresSaver`) `pg_column_size` of the JSONB checkpoints and metadata and the
`checkpoint_blobs` and `checkpoint_writes` bytes. The bytes of cycle N are what cycle N added.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from bench.fakes import signoff_agent, user_input
from bench.report import Emit, Table
from bench.savers import SaverKind, open_saver, with_postgres
from tests.in_process import REQUESTER, approver, as_user

OPERATION = {"operation": {"amount": 5000, "target": "acct-9"}}
SQLITE_BYTES = (
    "SELECT (SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints"
    " WHERE thread_id = ?) + (SELECT coalesce(sum(length(value)), 0) FROM writes"
    " WHERE thread_id = ?)"
)
POSTGRES_BYTES = """
SELECT
  (SELECT coalesce(sum(pg_column_size(checkpoint) + pg_column_size(metadata)), 0)
     FROM checkpoints WHERE thread_id = %(t)s)
+ (SELECT coalesce(sum(octet_length(blob)), 0) FROM checkpoint_blobs WHERE thread_id = %(t)s)
+ (SELECT coalesce(sum(octet_length(blob)), 0) FROM checkpoint_writes WHERE thread_id = %(t)s)
"""


@dataclass(frozen=True)
class GrowthSettings:
    """After which cycles to measure, and on which savers."""

    milestones: tuple[int, ...] = (1, 10, 50, 100)
    savers: tuple[SaverKind, ...] = ("sqlite", "postgres")

    @classmethod
    def quick(cls) -> GrowthSettings:
        """Fewer cycles."""
        return cls(milestones=(1, 10, 25))


Cycle = Callable[[CompiledStateGraph, dict[str, Any]], None]


def approve_reject_cycle(graph: CompiledStateGraph, config: dict[str, Any]) -> None:
    """One high-risk operation: pause, approve, execute."""
    if not graph.invoke(OPERATION, as_user(config, REQUESTER)).get("__interrupt__"):
        raise RuntimeError("approve_reject did not pause")
    done = graph.invoke(Command(resume="approve"), as_user(config, approver("review")))
    if done.get("status") != "executed":
        raise RuntimeError(f"approve_reject did not execute: {done.get('status')!r}")


def agent_cycle(graph: CompiledStateGraph, config: dict[str, Any]) -> None:
    """One user request: the sensitive call pauses, is approved, runs, the model answers."""
    if not graph.invoke(user_input(), as_user(config, REQUESTER)).get("__interrupt__"):
        raise RuntimeError("the agent did not pause")
    done = graph.invoke(Command(resume="approve"), as_user(config, approver("tool_review")))
    if not str(done["messages"][-1].content).startswith("Done"):
        raise RuntimeError("the agent did not answer after the tool ran")


def approve_reject_graph() -> CompiledStateGraph:
    """`approve_reject` as served."""
    from signoff.graphs.approve_reject import graph

    return graph


GRAPHS: dict[str, tuple[Callable[[], CompiledStateGraph], Cycle]] = {
    "approve_reject": (approve_reject_graph, approve_reject_cycle),
    "reviewed agent (fake model)": (signoff_agent, agent_cycle),
}


@contextmanager
def byte_counter(
    kind: SaverKind, saver: BaseCheckpointSaver, url: str | None
) -> Iterator[Callable[[str], int]]:
    """A function: thread id -> bytes the saver stores for that thread."""
    if kind == "sqlite":
        connection: sqlite3.Connection = saver.conn  # type: ignore[attr-defined]

        def sqlite_bytes(thread_id: str) -> int:
            with saver.lock:  # type: ignore[attr-defined]
                return connection.execute(SQLITE_BYTES, (thread_id, thread_id)).fetchone()[0]

        yield sqlite_bytes
    elif kind == "postgres" and url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:

            def postgres_bytes(thread_id: str) -> int:
                return connection.execute(POSTGRES_BYTES, {"t": thread_id}).fetchone()[0]

            yield postgres_bytes
    else:
        raise ValueError(f"cannot count the bytes of a {kind} saver")


def channel_sizes(saver: BaseCheckpointSaver, config: dict[str, Any]) -> dict[str, int]:
    """Serialized bytes of each channel's value in the thread's latest checkpoint."""
    latest = saver.get_tuple(config)
    if latest is None:
        return {}
    values = latest.checkpoint["channel_values"]
    sizes = {name: len(saver.serde.dumps_typed(value)[1]) for name, value in values.items()}
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def grow(
    graph: CompiledStateGraph,
    cycle: Cycle,
    size: Callable[[str], int],
    milestones: list[int],
    config: dict[str, Any],
) -> dict[int, tuple[int, int]]:
    """Run cycles on one thread; at each milestone N: (bytes cycle N added, total bytes)."""
    thread_id = config["configurable"]["thread_id"]
    seen: dict[int, tuple[int, int]] = {}
    before = 0
    for number in range(1, max(milestones) + 1):
        if number in milestones:
            before = size(thread_id)
        cycle(graph, config)
        if number in milestones:
            after = size(thread_id)
            seen[number] = (after - before, after)
    return seen


def growth_table(kind: SaverKind, url: str | None, settings: GrowthSettings) -> Table:
    """Bytes per cycle at each milestone, for each graph, on one saver."""
    milestones = sorted(settings.milestones)
    columns = ["graph"] + [f"cycle {n}" for n in milestones]
    columns += [f"total after {milestones[-1]}", f"cycle {milestones[-1]} / cycle 1"]
    table = Table(f"Checkpoint bytes per approval cycle on one thread, {kind}", columns)
    with open_saver(kind, url) as saver, byte_counter(kind, saver, url) as size:
        for name, (build, cycle) in GRAPHS.items():
            graph = build().copy(update={"checkpointer": saver})
            config = {"configurable": {"thread_id": uuid.uuid4().hex}}
            seen = grow(graph, cycle, size, milestones, config)
            first, last = seen[milestones[0]][0], seen[milestones[-1]][0]
            table.add(
                name,
                *(f"{seen[n][0]:,} B" for n in milestones),
                f"{seen[milestones[-1]][1] / 1024:,.0f} KiB",
                f"{last / first:.1f}x" if first else "-",
            )
            slope = (last - first) / (milestones[-1] - milestones[0])
            table.note(
                f"{name}: each earlier cycle on the thread adds ~{slope:,.0f} B to the next "
                f"cycle's writes ({'grows' if last > first * 1.1 else 'flat'}); largest "
                "channels after the last cycle: "
                + ", ".join(
                    f"{channel} {nbytes:,} B"
                    for channel, nbytes in list(channel_sizes(saver, config).items())[:4]
                )
                + "."
            )
    table.note(
        "cycle N = bytes the saver stored for the thread during cycle N (checkpoints, "
        "metadata, channel blobs, pending writes)."
    )
    return table


def run(settings: GrowthSettings, emit: Emit) -> None:
    """One table per saver; tables go to `emit`."""
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="signoff-bench-growth-") as directory:
        previous = os.environ.get("SIGNOFF_LEDGER")
        os.environ["SIGNOFF_LEDGER"] = str(Path(directory) / "ledger.jsonl")
        try:
            for kind, url in with_postgres(list(settings.savers), skipped.append):
                emit(growth_table(kind, url, settings))
        finally:
            if previous is None:
                os.environ.pop("SIGNOFF_LEDGER", None)
            else:
                os.environ["SIGNOFF_LEDGER"] = previous
    for reason in skipped:
        table = Table("Checkpoint growth on PostgreSQL", ["saver", "status"])
        table.add("postgres", "skipped")
        table.note(reason)
        emit(table)
