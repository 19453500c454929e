"""`CheckpointApi`: the part of the LangGraph server API that signoff's surfaces use, served in
this process from a checkpoint saver; `CheckpointClient`: a caller's view of it, shaped like
`langgraph_sdk`'s client.

`api.client(identity)` has `threads.create/search/get/get_state/get_history` and
`runs.wait/create` with the SDK's arguments, records and errors, so `pending_requests`, the
sweeper, `answer_request`, the metrics and the inbox run on it unchanged. What the LangGraph
server's auth does (`signoff.server.auth`) is done here, from the checkpoints:

- nobody signed in: 401; a thread the caller may not see (`signoff.governance.visibility`,
  with the groups of whoever delegated to them, from the store): 404, as for no thread;
  searches return only what the caller may see;
- every run is admitted by `signoff.server.admission.run_refusal` (the facts read from the
  thread's latest checkpoint, the caller's delegations from the store) and holds its thread
  with `ThreadLocks(leases_for(saver))`, the leases the Model Serving agent takes, so two
  runs of one thread never overlap in this process or any other on the store (busy: 409);
- the caller reaches the graph as `configurable.langgraph_auth_user`, as the server passes it,
  and the run records the thread's graph, assistant, owner and viewers in its checkpoints
  (`records.run_metadata`).

`client(None, system=True)` is the deployment itself (the sweeper, the metrics): it reads
every thread and runs expiries and run-ons with no identity, like the in-process
`get_client()` of a LangGraph server; its runs cannot decide anything.

Graphs run on the sync saver in a worker thread. `runs.create` starts the run in the
background (holding the thread until it ends) and returns its record; `join_runs()` waits for
the runs started so. Searches with `status="interrupted"` read the pending interrupts only
(`tables.CheckpointTables.pending`); other searches read each thread's latest checkpoint, and
its state only when `values` is asked for. Who may see a thread is judged, in a search, from
its checkpoint metadata and the requests it waits on (where the server's index also looks).
A search's first page reads every match once (one query, filtered here); the pages after it,
for `SEARCH_PASS_SECONDS`, are cut from that reading, so a listing of N threads reads each
once, not once per page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, cast

from cachetools import TTLCache
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointMetadata, empty_checkpoint
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Command, StateSnapshot
from langgraph_sdk.client import LangGraphClient

from signoff.checkpoints.errors import api_error, no_thread, not_signed_in
from signoff.checkpoints.records import (
    interrupt_records,
    interrupts_of,
    jsonable,
    reserved_keys,
    reserved_refusal,
    state_record,
    thread_record,
)
from signoff.checkpoints.tables import CheckpointTables, Order, Page, ThreadRow
from signoff.databricks.checkpointer import checkpointer
from signoff.databricks.store import deployment_store
from signoff.governance.delegation import Delegation, standing_in
from signoff.governance.identity import Identity
from signoff.governance.policy import is_admin
from signoff.governance.visibility import may_see, viewers_of
from signoff.graphs import GRAPHS
from signoff.protocol.bounds import OutOfBounds, check_bounds
from signoff.server.admission import (
    CHECKPOINT_KEYS,
    RunRequest,
    ThreadFacts,
    run_refusal,
    thread_create_refusal,
)
from signoff.serving.agent import (
    ASSISTANT_ID,
    GRAPH_ID,
    GraphSource,
    deployed,
    run_metadata,
    thread_metadata,
)
from signoff.serving.lease import leases_for
from signoff.serving.thread_locks import ThreadLocks
from signoff.standing.store import delegations_for

log = logging.getLogger("signoff.checkpoints")


STATUSES = ("idle", "busy", "interrupted", "error")
MULTITASK_STRATEGIES = ("reject", "enqueue", "interrupt", "rollback")
SORTS: dict[str, Order] = {
    "thread_id": "thread_id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "state_updated_at": "updated_at",
}
MAX_PAGE = 1000
"""The most threads a search returns, ids it names, or states a history returns, at once (as
the LangGraph API pages)."""
SEARCH_PASS_SECONDS = 30.0
"""How long the later pages of a search are served from what its first page read: a listing
pages through one reading, not one per page."""
FIELDS = (
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "values",
    "interrupts",
    "error",
)
"""The fields of a thread record, which `select` may pick."""


class CheckpointApi:
    """The part of the LangGraph server API that signoff's surfaces use (inbox, CLI, sweeper,
    metrics, Slack), served in this process from a checkpoint saver (PostgreSQL, Lakebase or
    SQLite) instead of a LangGraph server. Used by Databricks Apps and Model Serving
    deployments."""

    def __init__(
        self,
        graphs: Mapping[str, GraphSource],
        saver: BaseCheckpointSaver,
        store: BaseStore | None = None,
    ) -> None:
        """Serve `graphs` (graph name, which is also its assistant id → compiled graph or
        builder, built on first use) over the threads of `saver`; `store` holds the
        delegations (and is the graphs' store)."""
        self.saver = saver
        self.store = store
        self.tables = CheckpointTables.of(saver)
        self._sources = dict(graphs)
        self._graphs: dict[str, CompiledStateGraph] = {}
        self._build = threading.Lock()
        self._prepared = False
        self.locks = ThreadLocks(leases_for(saver))
        self._runs: set[asyncio.Task[Any]] = set()
        self.searched: TTLCache[Any, list[tuple[ThreadRow, dict[str, Any]]]] = TTLCache(
            maxsize=256, ttl=SEARCH_PASS_SECONDS
        )
        """Searches read whole at their first page, for the pages after it."""

    def setup(self) -> None:
        """Create what the listing reads through (an index), unless it exists. Blocking."""
        if not self._prepared:
            self.tables.prepare()
            self._prepared = True

    def client(self, identity: Identity | None, *, system: bool = False) -> CheckpointClient:
        """A client acting as `identity` (delegations read from the store). system=True: the
        deployment's own reader/sweeper (sees every thread and may expire; like the
        in-process `get_client()` of a LangGraph server). identity None and not system: may
        read nothing (every call a 401/404)."""
        return CheckpointClient(self, identity, system)

    @property
    def graph_names(self) -> list[str]:
        """The graphs served (each is also the id of its one assistant)."""
        return list(self._sources)

    @property
    def default_graph(self) -> str:
        """The graph of threads that recorded none: the one graph served, else `""`."""
        return self.graph_names[0] if len(self._sources) == 1 else ""

    def graph(self, name: str) -> CompiledStateGraph | None:
        """Graph `name` with the saver and store attached (built once); `None` if not served."""
        with self._build:
            if name not in self._graphs:
                if name not in self._sources:
                    return None
                self._graphs[name] = deployed(self._sources[name], self.saver, self.store)
            return self._graphs[name]

    async def join_runs(self) -> None:
        """Wait until every run `runs.create` started has ended."""
        while self._runs:
            await asyncio.gather(*list(self._runs), return_exceptions=True)

    def close(self) -> None:
        """Give back the leases' connection or file (every run must have ended)."""
        self.locks.close()


@asynccontextmanager
async def opened_api(
    setting: str | None = None, graphs: Mapping[str, GraphSource] | None = None
) -> AsyncIterator[CheckpointApi]:
    """Open the saver and store of SIGNOFF_CHECKPOINTER (or LAKEBASE_INSTANCE_NAME) and the
    graphs (default: every graph of `signoff.graphs`), close them after."""
    with ExitStack() as stack:
        saver = stack.enter_context(checkpointer(setting))
        store = stack.enter_context(deployment_store(setting))
        api = CheckpointApi(GRAPHS if graphs is None else graphs, saver, store)
        stack.callback(api.close)
        await asyncio.to_thread(api.setup)
        try:
            yield api
        finally:
            await api.join_runs()


@dataclass(frozen=True)
class _Thread:
    """One thread as read for a call: its latest state and what the server would hold."""

    thread_id: str
    row: ThreadRow
    """Its newest root checkpoint (its id, and the first one's: when it was made and last
    updated)."""
    metadata: dict[str, Any]
    graph: CompiledStateGraph | None
    snapshot: StateSnapshot | None
    """Its state through its graph; `None` when the graph is not served here."""
    interrupts: dict[str, list[dict[str, Any]]]
    """Task id → the interrupts it waits on."""
    started: bool
    """Its latest checkpoint holds state: a run has started it (bound to its graph)."""

    @property
    def pending(self) -> list[dict[str, Any]]:
        return [i for interrupts in self.interrupts.values() for i in interrupts]

    @cached_property
    def values(self) -> Any:
        """Its state values in JSON form (converted once: visibility, admission and the
        record all read them)."""
        return jsonable(self.snapshot.values) if self.snapshot is not None else None

    def facts(self) -> ThreadFacts:
        """What the server's admission reads of the thread."""
        values = self.values
        return ThreadFacts(
            thread_id=self.thread_id,
            metadata=self.metadata,
            started=self.started,
            values=values or None,
            interrupts=self.pending,
        )

    def record(self) -> dict[str, Any]:
        """The thread as `threads.get` returns it."""
        return thread_record(
            self.thread_id,
            self.row.created_at,
            self.row.updated_at,
            self.metadata,
            self.interrupts,
            self.values,
        )


class CheckpointClient:
    """What signoff calls of `langgraph_sdk`'s `LangGraphClient` (`threads`, `runs`), served
    by a `CheckpointApi` as one caller."""

    def __init__(self, api: CheckpointApi, identity: Identity | None, system: bool) -> None:
        self.api = api
        self.identity = identity
        self.system = system
        self.threads = Threads(self)
        self.runs = Runs(self)

    async def __aenter__(self) -> CheckpointClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to close: the API is shared."""

    # ------------------------------------------------------------------ who, and what they see

    async def caller(self) -> Identity | None:
        """Who calls, with the groups of those who delegated to them now; `None` for the
        system. 401 for nobody."""
        return (await self.caller_and_delegations())[0]

    async def caller_and_delegations(self) -> tuple[Identity | None, list[Delegation]]:
        """`caller()`, and the delegations (from the store) that name them as delegate."""
        if self.system:
            return None, []
        if self.identity is None:
            raise not_signed_in()
        store = self.api.store
        if store is None:
            return self.identity, []
        delegations = await asyncio.to_thread(delegations_for, store, self.identity.user)
        return replace(self.identity, stands_in=standing_in(delegations)), delegations

    def sees(self, caller: Identity | None, viewers: frozenset[str]) -> bool:
        """Whether the caller may see a thread with these viewers (the system sees all)."""
        return self.system or may_see(caller, viewers)

    def visible(self, found: _Thread, caller: Identity | None) -> bool:
        """Whether the caller may see thread `found` as it is now."""
        return self.sees(caller, viewers_of(found.metadata, found.values, found.pending))

    async def thread(self, thread_id: str, caller: Identity | None) -> _Thread:
        """`thread_id` as the caller may see it; 404 when it does not exist or they may not."""
        found = await asyncio.to_thread(self.read, thread_id)
        if found is None or not self.visible(found, caller):
            raise no_thread(thread_id, caller or self.identity)
        return found

    def read(self, thread_id: str) -> _Thread | None:
        """`thread_id` through its graph (the one graph served, for a thread that recorded
        none); `None` when it has no checkpoint. Blocking."""
        api = self.api
        found = api.tables.latest(Page(limit=1, ids=[thread_id]))
        if not found:
            return None
        [latest] = found
        metadata = thread_metadata(latest.metadata, api.default_graph)
        graph = api.graph(metadata[GRAPH_ID])
        if graph is None:
            [pending] = api.tables.pending(Page(ids=[thread_id])) or [latest]
            stored = api.saver.get_tuple(_config(thread_id))
            started = stored is not None and bool(stored.checkpoint.get("channel_values"))
            return _Thread(thread_id, latest, metadata, None, None, pending.interrupts, started)
        snapshot = graph.get_state(_config(thread_id))
        waiting = (task for task in snapshot.tasks if task.interrupts)
        interrupts = {task.id: interrupt_records(task.interrupts) for task in waiting}
        started = bool(snapshot.values) or bool(snapshot.next)
        return _Thread(thread_id, latest, metadata, graph, snapshot, interrupts, started)


def as_sdk(client: CheckpointClient) -> LangGraphClient:
    """`client`, typed as the SDK's client that signoff's readers (`signoff.client`) take: it
    serves every call they make."""
    return cast(LangGraphClient, client)


def _config(thread_id: str) -> RunnableConfig:
    return RunnableConfig(configurable={"thread_id": thread_id})


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Threads:
    """`client.threads`: the thread calls signoff makes."""

    def __init__(self, client: CheckpointClient) -> None:
        self._client = client

    async def get(self, thread_id: str, **_: Any) -> dict[str, Any]:
        """The thread's record; 404 unless the caller may see it."""
        client = self._client
        return (await client.thread(thread_id, await client.caller())).record()

    async def get_state(self, thread_id: str, **_: Any) -> dict[str, Any]:
        """The thread's latest state; 404 unless the caller may see it."""
        client = self._client
        found = await client.thread(thread_id, await client.caller())
        if found.snapshot is None:
            raise _unserved(found, client.api)
        return state_record(found.snapshot, client.api.default_graph)

    async def get_history(
        self, thread_id: str, *, limit: int = 10, before: Any = None, **_: Any
    ) -> list[dict[str, Any]]:
        """The thread's states, newest first (at most `limit`, those before checkpoint
        `before` if given); 404 unless the caller may see it."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise api_error(422, f"limit must be a whole number from 1 to {MAX_PAGE}.")
        if before is not None and not isinstance(before, str | dict):
            raise api_error(422, "before must be a checkpoint id or a checkpoint object.")
        client = self._client
        found = await client.thread(thread_id, await client.caller())
        if found.graph is None:
            raise _unserved(found, client.api)
        if isinstance(before, str):
            before = {"configurable": {"thread_id": thread_id, "checkpoint_id": before}}
        elif isinstance(before, dict):
            checkpoint_id = before.get("checkpoint_id")
            if not isinstance(checkpoint_id, str | None):
                raise api_error(422, "before.checkpoint_id must be a checkpoint id.")
            before = {"configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint_id}}
        graph = found.graph

        def history() -> list[dict[str, Any]]:
            states = graph.get_state_history(_config(thread_id), limit=limit, before=before)
            return [state_record(state, client.api.default_graph) for state in states]

        return await asyncio.to_thread(history)

    async def create(
        self,
        *,
        metadata: Any = None,
        thread_id: str | None = None,
        if_exists: str | None = None,
        graph_id: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """A new thread owned by the caller (its first checkpoint, empty); an existing id is
        409, or, with `if_exists="do_nothing"`, that thread if the caller may see it."""
        client = self._client
        caller = await client.caller()
        if refusal := thread_create_refusal(caller, metadata, copying=False):
            raise api_error(refusal.status, refusal.detail)
        if metadata is not None and not isinstance(metadata, dict):
            raise api_error(422, "The thread metadata must be an object (key to JSON value).")
        if problem := reserved_refusal(metadata, "thread metadata"):
            raise api_error(422, problem)
        if graph_id is not None and client.api.graph(graph_id) is None:
            raise _no_graph(graph_id, client.api)
        thread_id = thread_id or str(uuid.uuid4())
        if await asyncio.to_thread(client.api.tables.latest, Page(limit=1, ids=[thread_id])):
            if if_exists == "do_nothing":
                return (await client.thread(thread_id, caller)).record()
            raise api_error(
                409,
                f"Thread {thread_id} already exists; send another thread id, or "
                'if_exists="do_nothing" to get it.',
            )
        graph = graph_id or client.api.default_graph
        recorded = {**(metadata or {}), **run_metadata(graph, caller, {}, None, [])}
        config = RunnableConfig(configurable={"thread_id": thread_id, "checkpoint_ns": ""})
        initial = cast(CheckpointMetadata, {**recorded, "source": "input", "step": -2})
        await asyncio.to_thread(client.api.saver.put, config, empty_checkpoint(), initial, {})
        return (await client.thread(thread_id, caller)).record()

    async def search(
        self,
        *,
        metadata: Any = None,
        values: Any = None,
        ids: Any = None,
        status: Any = None,
        limit: Any = 10,
        offset: Any = 0,
        sort_by: Any = None,
        sort_order: Any = None,
        select: Any = None,
        extract: Any = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        """The threads the caller may see that match, as `threads.search` pages them."""
        search = _Search.checked(
            metadata, values, ids, status, limit, offset, sort_by, sort_order, select, extract
        )
        client = self._client
        caller = await client.caller()
        if search.status in ("busy", "error"):
            return []  # a run in flight, or one that failed, is not recorded in the store
        key = (_who(caller), search.filters())
        if (matching := client.api.searched.get(key) if search.offset else None) is None:
            matching = client.api.searched[key] = await self._matching(caller, search)
        found = matching[search.offset : search.offset + search.limit]
        return [await self._record(row, metadata, search, caller) for row, metadata in found]

    async def _matching(
        self, caller: Identity | None, search: _Search
    ) -> list[tuple[ThreadRow, dict[str, Any]]]:
        """Every thread of `search` the caller may see, with its metadata; a thread whose
        metadata cannot be read is skipped (and logged)."""
        client = self._client
        everyone = client.system or is_admin(caller)
        rows = await asyncio.to_thread(search.rows, client.api)
        found = []
        for row in rows:
            try:
                metadata = thread_metadata(row.metadata, client.api.default_graph)
                pending = [i for interrupts in row.interrupts.values() for i in interrupts]
                if search.status == "idle" and pending:
                    continue
                if search.metadata is not None and not _contains(metadata, search.metadata):
                    continue
                if not everyone and not client.sees(caller, viewers_of(metadata, None, pending)):
                    continue
            except Exception:  # noqa: BLE001 - one unreadable thread never fails a search
                log.exception(
                    "Skipping thread %s in a search: its metadata cannot be read", row.thread_id
                )
                continue
            found.append((row, metadata))
        return found

    async def _record(
        self,
        row: ThreadRow,
        metadata: dict[str, Any],
        search: _Search,
        caller: Identity | None,
    ) -> dict[str, Any]:
        """The record of a thread a search found; its values read now, and sent only if the
        caller still may see the thread as it is now (a later page of a search is cut from
        what its first page read). A thread whose state cannot be read is sent without
        values (and logged), so one such thread never fails a search or shortens its page."""
        values = None
        if "values" in search.fields:
            values = await asyncio.to_thread(self._values, row.thread_id, caller)
        record = thread_record(
            row.thread_id, row.created_at, row.updated_at, metadata, row.interrupts, values
        )
        return {field: record[field] for field in search.fields}

    def _values(self, thread_id: str, caller: Identity | None) -> Any:
        """The values of `thread_id` now, if the caller may see it now; else `None`. Blocking."""
        client = self._client
        try:
            read = client.read(thread_id)
        except Exception:  # noqa: BLE001 - one unreadable thread never fails a search
            log.exception("Sending thread %s without values: its state cannot be read", thread_id)
            return None
        if read is None or not client.visible(read, caller):
            return None
        return read.values


@dataclass(frozen=True)
class _Search:
    """A `threads.search`, checked."""

    metadata: dict[str, Any] | None
    ids: list[str] | None
    status: str | None
    limit: int
    offset: int
    order: Order
    descending: bool
    fields: tuple[str, ...]

    @classmethod
    def checked(
        cls,
        metadata: Any,
        values: Any,
        ids: Any,
        status: Any,
        limit: Any,
        offset: Any,
        sort_by: Any,
        sort_order: Any,
        select: Any,
        extract: Any,
    ) -> _Search:
        """The search these arguments ask for; 422 naming what is accepted otherwise."""
        problems = []
        if metadata is not None and not isinstance(metadata, dict):
            problems.append("metadata must be an object (the metadata a thread contains)")
        if values or extract:
            problems.append("values and extract filters are not served from a checkpoint store")
        if ids is not None and not (
            isinstance(ids, list) and len(ids) <= MAX_PAGE and all(isinstance(i, str) for i in ids)
        ):
            problems.append(f"ids must be a list of at most {MAX_PAGE} thread ids")
        try:
            check_bounds(metadata, "metadata filter")
        except OutOfBounds as error:
            problems.append(str(error).rstrip("."))
        if status is not None and status not in STATUSES:
            problems.append(f"status must be one of {', '.join(STATUSES)}")
        for name, number, least in (("limit", limit, 1), ("offset", offset, 0)):
            if not isinstance(number, int) or isinstance(number, bool) or number < least:
                problems.append(f"{name} must be a whole number of at least {least}")
        if sort_by is not None and not (isinstance(sort_by, str) and sort_by in SORTS):
            problems.append(f"sort_by must be one of {', '.join(SORTS)}")
        if sort_order is not None and sort_order not in ("asc", "desc"):
            problems.append("sort_order must be asc or desc")
        if select is not None and not (
            isinstance(select, list) and select and all(f in FIELDS for f in select)
        ):
            problems.append(f"select must be a list of fields among {', '.join(FIELDS)}")
        if problems:
            raise api_error(422, "Bad thread search: " + "; ".join(problems) + ".")
        return cls(
            metadata=metadata,
            ids=ids,
            status=status,
            limit=min(limit, MAX_PAGE),
            offset=offset,
            order=SORTS[sort_by or "created_at"],
            descending=sort_order != "asc",
            fields=tuple(select or FIELDS),
        )

    def filters(self) -> str:
        """What picks the threads, apart from the page (the same for every page of a pass)."""
        picked = [self.metadata, self.ids, self.status, self.order, self.descending]
        return json.dumps(picked, sort_keys=True, default=str)

    def rows(self, api: CheckpointApi) -> list[ThreadRow]:
        """Every thread matching in the store, in order, before visibility and metadata
        filters. Blocking."""
        page = Page(self.order, self.descending, ids=self.ids)
        if self.status == "interrupted":
            return api.tables.pending(page)
        rows = api.tables.latest(page)
        among = Page(ids=[row.thread_id for row in rows])
        waiting = {row.thread_id: row for row in api.tables.pending(among)}
        return [waiting.get(row.thread_id, row) for row in rows]


def _who(caller: Identity | None) -> tuple[str, ...]:
    """The caller, as a key: their name and every group they see as."""
    if caller is None:
        return ()
    return (caller.user, *sorted(caller.groups), "|", *sorted(caller.stands_in))


def _contains(metadata: Any, wanted: Any) -> bool:
    """Whether `metadata` contains `wanted`, as PostgreSQL's `@>` (the server's filter)."""
    if isinstance(wanted, dict):
        return isinstance(metadata, dict) and all(
            key in metadata and _contains(metadata[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(metadata, list) and all(
            any(_contains(item, w) for item in metadata) for w in wanted
        )
    return bool(metadata == wanted)


def _no_graph(name: str, api: CheckpointApi) -> Exception:
    return api_error(
        404,
        f"There is no assistant or graph {name!r} here; this deployment serves "
        f"{', '.join(api.graph_names)} (each graph's name is its assistant id).",
    )


def _graph_unknown(found: _Thread, api: CheckpointApi) -> Exception:
    return api_error(
        409,
        f"Thread {found.thread_id} has run but records no graph, and this deployment serves "
        f"several ({', '.join(api.graph_names)}), so which graph and assistant its requests "
        "belong to is unknown. Read and answer it where it was raised (the Model Serving "
        "endpoint of its graph, which records its graph when it runs), or from an API that "
        "serves only its graph (CheckpointApi with that one graph).",
    )


def _client_configurable(run: dict[str, Any]) -> dict[str, Any]:
    """The `config.configurable` a client sent (empty without one)."""
    config = run.get("config")
    configurable = config.get("configurable") if isinstance(config, dict) else None
    return configurable if isinstance(configurable, dict) else {}


def _from_checkpoint(configurable: Mapping[str, Any]) -> bool:
    """Whether `configurable` runs a thread from an earlier checkpoint."""
    return any(configurable.get(key) for key in CHECKPOINT_KEYS)


def _configurable_problem(configurable: dict[str, Any]) -> str | None:
    """Why an admin's `configurable` cannot be taken (out of bounds), or `None`."""
    try:
        check_bounds(configurable, "config.configurable")
    except OutOfBounds as error:
        return str(error)
    return None


def _unserved(found: _Thread, api: CheckpointApi) -> Exception:
    graph = found.metadata.get(GRAPH_ID)
    if not graph:
        return _graph_unknown(found, api)
    return api_error(
        409,
        f"Thread {found.thread_id} runs graph {graph}, which this deployment does not serve "
        f"(it serves {', '.join(api.graph_names)}); read it where that graph is served.",
    )


class Runs:
    """`client.runs`: starting runs, as the LangGraph server's auth admits them."""

    def __init__(self, client: CheckpointClient) -> None:
        self._client = client

    async def wait(
        self,
        thread_id: str | None,
        assistant_id: str,
        *,
        raise_error: bool = True,
        **run: Any,
    ) -> Any:
        """Run the thread to its end or its next pause; the state values it ends with (with
        `__interrupt__` when it pauses), as the server's `runs.wait` returns them."""
        started = await self._admit(thread_id, assistant_id, run)
        result = await started.finish()
        error = result.get("__error__") if isinstance(result, dict) else None
        if raise_error and isinstance(error, dict):
            raise Exception(f"{error.get('error')}: {error.get('message')}")
        return result

    async def create(self, thread_id: str | None, assistant_id: str, **run: Any) -> dict[str, Any]:
        """Start the run in the background (it holds the thread until it ends); its record."""
        started = await self._admit(thread_id, assistant_id, run)
        api = self._client.api
        task = asyncio.create_task(started.finish())
        api._runs.add(task)
        task.add_done_callback(api._runs.discard)
        return started.record

    async def _admit(self, thread_id: Any, assistant_id: Any, run: dict[str, Any]) -> _Started:
        """Hold the thread and admit the run (`run_refusal`), or raise what the server would."""
        client = self._client
        api = client.api
        caller, delegations = await client.caller_and_delegations()
        if not isinstance(thread_id, str) or not thread_id:
            raise api_error(
                422,
                "Stateless runs are refused: the audit trail lives in the thread. Create a "
                "thread (threads.create) and run on it.",
            )
        graph = api.graph(str(assistant_id)) if isinstance(assistant_id, str) else None
        if graph is None:
            raise _no_graph(str(assistant_id), api)
        if problems := _run_problems(run):
            raise api_error(422, "Bad run: " + "; ".join(problems) + ".")
        kwargs = {
            key: run.get(key)
            for key in (
                "input",
                "command",
                "config",
                "context",
                "interrupt_before",
                "interrupt_after",
            )
        }
        configurable = _client_configurable(run)
        if run.get("checkpoint_id") or run.get("checkpoint") or _from_checkpoint(configurable):
            raise api_error(
                422,
                "Runs from an earlier checkpoint are not served here; runs go on from the "
                "thread's latest checkpoint (send no checkpoint, checkpoint_id, nor "
                f"configurable {', '.join(CHECKPOINT_KEYS)}).",
            )
        if configurable and not is_admin(caller):
            who = caller.user if caller is not None else "The deployment itself"
            raise api_error(
                403,
                f"{who} may not send config.configurable: on this API it reaches the graph as "
                "sent, so it is for admins only. Run with the assistant's settings (an admin "
                "creates an assistant for other thresholds, stages or endpoints; see "
                "docs/policy.md, Admins only), and send no configurable.",
            )
        if problem := _configurable_problem(configurable):
            raise api_error(422, problem)
        metadata = run.get("metadata") or {}
        if problem := reserved_refusal(metadata, "run metadata"):
            raise api_error(422, problem)
        request = RunRequest(
            thread_id=thread_id,
            assistant_id=assistant_id,
            graph_id=assistant_id,
            kwargs=kwargs,
            metadata=metadata if isinstance(metadata, dict) else {"metadata": metadata},
            multitask_strategy=run.get("multitask_strategy"),
        )
        with ExitStack() as holding:  # the thread, released here unless handed to the run
            try:
                await asyncio.to_thread(holding.enter_context, api.locks.hold(thread_id))
            except ValueError as busy:  # taken here or by another process: say so to who sees it
                await client.thread(thread_id, caller)
                raise api_error(409, str(busy)) from None
            found = await asyncio.to_thread(client.read, thread_id)
            if found is None and run.get("if_not_exists") != "create":
                raise no_thread(thread_id, caller or client.identity)
            if found is not None and found.started and not found.metadata[GRAPH_ID]:
                if not client.visible(found, caller):
                    raise no_thread(thread_id, caller or client.identity)
                raise _graph_unknown(found, api)
            facts = found.facts() if found is not None else None
            if client.system:
                if request.writing:
                    raise api_error(403, "command.update and command.goto are taken from nobody.")
            elif refusal := run_refusal(caller, request, facts, delegations):
                raise api_error(refusal.status, refusal.detail)
            graph_name = (facts.graph_id if facts and facts.started else None) or assistant_id
            served = api.graph(graph_name) or graph
            config = _run_config(thread_id, graph_name, str(assistant_id), caller, found, run)
            started = _Started(api, served, _graph_input(run), config, holding.pop_all(), run)
        return started


def _run_problems(run: dict[str, Any]) -> list[str]:
    """What is wrong with the fields of a run, each with what is accepted."""
    problems = []
    for name in ("command", "config", "context", "metadata"):
        if run.get(name) is not None and not isinstance(run[name], dict):
            problems.append(f"{name} must be an object")
    config = run.get("config")
    if isinstance(config, dict) and not isinstance(config.get("configurable") or {}, dict):
        problems.append("config.configurable must be an object")
    for name in ("interrupt_before", "interrupt_after"):
        nodes = run.get(name)
        if (
            nodes is not None
            and nodes != "*"
            and not (isinstance(nodes, list) and all(isinstance(node, str) for node in nodes))
        ):
            problems.append(f'{name} must be "*" or a list of node names')
    if run.get("multitask_strategy") not in (None, *MULTITASK_STRATEGIES):
        problems.append(f"multitask_strategy must be one of {', '.join(MULTITASK_STRATEGIES)}")
    if run.get("if_not_exists") not in (None, "create", "reject"):
        problems.append("if_not_exists must be create or reject")
    return problems


def _run_config(
    thread_id: str,
    graph_name: str,
    assistant_id: str,
    caller: Identity | None,
    found: _Thread | None,
    run: dict[str, Any],
) -> RunnableConfig:
    """The config of a run: the thread, the caller as the server passes it, and the metadata
    the run records in its checkpoints: the thread's so far, the client's run metadata, and
    `run_metadata` (which only the server sets)."""
    configurable = {  # an admin's (admitted by `Runs._admit`), without LangGraph's own keys
        key: value
        for key, value in _client_configurable(run).items()
        if not str(key).startswith("__")  # `__pregel_*`: LangGraph's internals
    }
    configurable |= {"thread_id": thread_id, GRAPH_ID: graph_name, ASSISTANT_ID: assistant_id}
    if caller is not None:
        configurable["langgraph_auth_user"] = caller.as_auth_user()
        configurable["langgraph_auth_user_id"] = caller.user
    client_metadata = run.get("metadata") if isinstance(run.get("metadata"), dict) else {}
    thread = found.metadata if found is not None else {}
    values = found.values if found is not None else None
    pending = found.pending if found is not None else []
    recorded = run_metadata(graph_name, caller, thread, values, pending, assistant_id)
    reserved = reserved_keys(thread)
    scalars = {k: v for k, v in thread.items() if isinstance(v, str | int | float | bool)}
    kept = {k: v for k, v in scalars.items() if k not in reserved}
    metadata = {**kept, **(client_metadata or {}), **recorded}
    return RunnableConfig(configurable=configurable, metadata=metadata)


def _graph_input(run: dict[str, Any]) -> Any:
    """What the graph is invoked with: the resume of `command`, else the input (`None`: run
    on from the checkpoint)."""
    command = run.get("command") or {}
    if "resume" in command:
        return Command(resume=command["resume"])
    return run.get("input")


class _Started:
    """An admitted run, holding its thread."""

    def __init__(
        self,
        api: CheckpointApi,
        graph: CompiledStateGraph,
        graph_input: Any,
        config: RunnableConfig,
        hold: ExitStack,
        run: dict[str, Any],
    ) -> None:
        self.graph = graph
        self.graph_input = graph_input
        self.config = config
        self.hold = hold
        self.options = {
            key: run[key]
            for key in ("context", "interrupt_before", "interrupt_after")
            if run.get(key) is not None
        }
        configurable = config.get("configurable") or {}
        now = _now()
        self.record = {
            "run_id": str(uuid.uuid4()),
            "thread_id": configurable["thread_id"],
            "assistant_id": configurable[ASSISTANT_ID],
            "created_at": now,
            "updated_at": now,
            "status": "pending",
            "metadata": config.get("metadata") or {},
            "kwargs": {},
            "multitask_strategy": run.get("multitask_strategy") or "reject",
        }

    async def finish(self) -> dict[str, Any]:
        """Run the graph in a worker thread, release the thread; the values it ended with, or
        `{"__error__": ...}` when the graph raised."""
        try:
            return await asyncio.to_thread(self._run)
        finally:
            await asyncio.to_thread(self.hold.close)

    def _run(self) -> dict[str, Any]:
        try:
            self.graph.invoke(self.graph_input, self.config, **self.options)
        except Exception as error:  # noqa: BLE001 - reported as the server reports a failed run
            log.exception(
                "Run %s on thread %s failed", self.record["run_id"], self.record["thread_id"]
            )
            return {"__error__": {"error": type(error).__name__, "message": str(error)}}
        thread_config = _config(self.record["thread_id"])
        snapshot = self.graph.get_state(thread_config)
        values = jsonable(snapshot.values)
        result = dict(values) if isinstance(values, dict) else {"values": values}
        if snapshot.interrupts:
            result["__interrupt__"] = interrupts_of(snapshot)
        return result
