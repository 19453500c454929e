"""Listing pending requests from PostgreSQL: `pending_requests` over a `CheckpointApi` against
reading every thread's state.

A fresh PostgreSQL database (`bench.savers`) is filled with `threads` paused threads of
`approve_reject`, each with the history of a real thread: one request decided (paused, then
rejected: its pause left an interrupt write behind on an older checkpoint), then a second
request, pending. One template thread is run through the graph;
its checkpoints and writes are copied to every other thread with the saver's own `put` and
`put_writes`, which is what a graph run would write.

Then, `rounds` times, interleaved:

- baseline: what a reader can do with the saver alone, without `signoff.checkpoints`: the
  thread ids (`SELECT DISTINCT thread_id`), then `graph.get_state` of each (its latest
  checkpoint, channel blobs and pending writes) for the requests it waits on;
- `pending_requests(api.client(None, system=True))`: the deployment's own listing (the
  sweeper's and the metrics'), pages of 1000 from the latest checkpoint of each thread with
  a pending interrupt (`CheckpointTables.pending`);
- the same as one approver (a manager, not an admin): every pending thread is read once and
  filtered by who may see it.

Each listing must find every request (the run stops otherwise). Times are medians; the
ratios are against the baseline measured in the same run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from bench.report import Emit, Table, median, ms, ratio
from bench.savers import open_saver, with_postgres
from signoff.checkpoints import CheckpointApi, as_sdk
from signoff.client.pending_requests import every_pending_request
from signoff.governance.identity import Identity
from signoff.graphs import GRAPHS
from tests.in_process import REQUESTER, approver, as_user

OPERATION = {"operation": {"kind": "payment", "amount": 5000, "target": "acct-9"}}
MANAGER = Identity("manager@signoff.local", frozenset({"users", "managers"}))
"""An approver who may decide the payments, and is no admin."""


@dataclass(frozen=True)
class PendingSettings:
    """How many paused threads, and how many timing rounds."""

    threads: int = 10_000
    rounds: int = 3

    @classmethod
    def quick(cls) -> PendingSettings:
        """A tenth of the threads."""
        return cls(threads=1_000, rounds=2)


def template(graph: CompiledStateGraph) -> list[CheckpointTuple]:
    """A real thread's checkpoints, oldest first: one request rejected, then a second one
    pending."""
    config: Any = {
        "configurable": {"thread_id": str(uuid.uuid4())},
        "metadata": {"graph_id": "approve_reject", "assistant_id": "approve_reject"},
    }
    requester: Any = as_user(config, REQUESTER)
    graph.invoke(OPERATION, requester)
    deciding: Any = as_user(config, approver("review"))
    graph.invoke(Command(resume="reject"), deciding)
    if not graph.invoke(OPERATION, requester).get("__interrupt__"):
        raise RuntimeError("approve_reject did not pause")
    saver = graph.checkpointer
    assert isinstance(saver, BaseCheckpointSaver)
    return list(reversed(list(saver.list(config))))


def copy_thread(saver: BaseCheckpointSaver, history: list[CheckpointTuple]) -> None:
    """A new thread with `history`'s checkpoints and writes (the same checkpoint ids: the
    ids of the tasks its pending writes belong to are derived from them)."""
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4()), "checkpoint_ns": ""}}
    for saved in history:
        checkpoint = saved.checkpoint
        config = saver.put(config, checkpoint, saved.metadata, checkpoint["channel_versions"])
        by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for task_id, channel, value in saved.pending_writes or []:
            by_task[task_id].append((channel, value))
        for task_id, writes in by_task.items():
            saver.put_writes(config, writes, task_id)


def naive_listing(saver: BaseCheckpointSaver, graph: CompiledStateGraph) -> int:
    """The requests found by reading every thread's state, one thread at a time."""
    with saver._cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT DISTINCT thread_id FROM checkpoints")
        thread_ids = [row["thread_id"] for row in cursor.fetchall()]
    return sum(
        len(graph.get_state({"configurable": {"thread_id": t}}).interrupts) for t in thread_ids
    )


def api_listing(api: CheckpointApi, identity: Identity | None) -> int:
    """The requests `pending_requests` lists through the API, for `identity` (or the system)."""
    client = as_sdk(api.client(identity, system=identity is None))
    return len(asyncio.run(every_pending_request(client)))


def timed(listing: Callable[[], int], expected: int) -> float:
    """Seconds `listing` takes; it must find `expected` requests."""
    started = time.perf_counter()
    found = listing()
    seconds = time.perf_counter() - started
    if found != expected:
        raise RuntimeError(f"a listing found {found} pending requests, not {expected}")
    return seconds


def pending_table(url: str, settings: PendingSettings) -> Table:
    """Fill a database, then time the listings."""
    table = Table(
        f"Listing {settings.threads:,} pending requests from PostgreSQL",
        ["listing", "median", "best", "vs baseline"],
    )
    with open_saver("postgres", url) as saver:
        graph = GRAPHS["approve_reject"]().copy(update={"checkpointer": saver})
        history = template(graph)
        started = time.perf_counter()
        for _ in range(settings.threads - 1):
            copy_thread(saver, history)
        filled = time.perf_counter() - started
        api = CheckpointApi({"approve_reject": GRAPHS["approve_reject"]}, saver)
        api.setup()
        listings: dict[str, Callable[[], int]] = {
            "baseline: get_state of every thread": lambda: naive_listing(saver, graph),
            "pending_requests, as the system": lambda: api_listing(api, None),
            "pending_requests, as an approver": lambda: api_listing(api, MANAGER),
        }
        times: dict[str, list[float]] = {name: [] for name in listings}
        for _ in range(settings.rounds):
            for name, listing in listings.items():
                times[name].append(timed(listing, settings.threads))
        api.close()
    base = median(times[next(iter(listings))])
    for name, seconds in times.items():
        table.add(name, ms(median(seconds)), ms(min(seconds)), ratio(median(seconds), base))
    table.note(
        f"{settings.threads:,} threads of approve_reject, each {len(history)} checkpoints (one "
        f"request rejected, one pending); filled in {filled:.0f} s; "
        f"{settings.rounds} rounds, interleaved."
    )
    return table


def run(settings: PendingSettings, emit: Emit) -> None:
    """The table, or why PostgreSQL was skipped."""
    skipped: list[str] = []
    for _, url in with_postgres(["postgres"], skipped.append):
        assert url is not None
        emit(pending_table(url, settings))
    for reason in skipped:
        emit(Table("Listing pending requests from PostgreSQL: skipped", ["why"], [[reason]]))
