"""What a thread's checkpoints say, in the JSON shapes of the LangGraph API.

A LangGraph server keeps a thread record beside the checkpoints; a checkpoint store keeps only
checkpoints, so a thread's record is made from its latest one: its metadata is the thread's
(every run records the graph, assistant, owner and viewers there:
`signoff.serving.agent.run_metadata`, for `SignoffAgent` and `CheckpointApi` runs alike).
`thread_record` and `state_record` are the records `threads.get`/`search` and
`threads.get_state`/`get_history` return, with values made JSON (`jsonable`) as the server
sends them. The keys LangGraph keeps in checkpoint metadata and those signoff's server sets
(`RESERVED_KEYS`, `reserved_keys`) are never taken from a client: a client's `step` or
`parents` would make every later read of the thread fail inside LangGraph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from langgraph.types import Interrupt, StateSnapshot

from signoff.server.admission import RUN_METADATA_SET_BY_SERVER
from signoff.serving.agent import thread_metadata

LANGGRAPH_KEYS = (
    "source",
    "step",
    "parents",
    "writes",
    "thread_id",
    "checkpoint_ns",
    "checkpoint_id",
    "checkpoint_map",
    "run_id",
    "counters_since_delta_snapshot",
)
"""Checkpoint metadata keys LangGraph writes and reads back."""

RESERVED_PREFIXES = ("langgraph_", "__")
"""Prefixes of the keys LangGraph keeps for itself (`langgraph_step`, `__pregel_...`)."""

RESERVED_KEYS = (*LANGGRAPH_KEYS, *RUN_METADATA_SET_BY_SERVER)
"""Metadata keys clients never set on a thread or a run: LangGraph's and the server's."""


def reserved_keys(metadata: Mapping[str, Any]) -> list[str]:
    """The keys of `metadata` that only LangGraph or the server set, sorted."""
    return sorted(
        str(key)
        for key in metadata
        if key in RESERVED_KEYS or str(key).startswith(RESERVED_PREFIXES)
    )


def reserved_refusal(metadata: Any, subject: str) -> str | None:
    """Why a client may not send `metadata` as the `subject` (keys only LangGraph or the
    server set), or `None`."""
    if not isinstance(metadata, Mapping) or not (taken := reserved_keys(metadata)):
        return None
    return (
        f"The {subject} sets {', '.join(taken)}, which only LangGraph or the server sets "
        f"(LangGraph's {', '.join(LANGGRAPH_KEYS)} and keys starting with "
        f"{' or '.join(RESERVED_PREFIXES)}; the server's {', '.join(RUN_METADATA_SET_BY_SERVER)}"
        "; a thread's graph is the graph_id argument of threads.create). Send any other keys."
    )


def jsonable(value: Any) -> Any:
    """`value` as the JSON the LangGraph server sends of it (messages and other models as
    their fields, sets as lists, anything else unknown as text)."""
    return orjson.loads(orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS))


def _default(value: Any) -> Any:
    for method in ("model_dump", "dict", "_asdict"):
        if callable(getattr(value, method, None)) and not isinstance(value, type):
            return getattr(value, method)()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def interrupts_of(snapshot: StateSnapshot) -> list[dict[str, Any]]:
    """The interrupts `snapshot` waits on, as `{"id", "value"}`."""
    return interrupt_records(snapshot.interrupts)


def interrupt_records(interrupts: Iterable[Interrupt]) -> list[dict[str, Any]]:
    """`interrupts` as the server's `{"id", "value"}` records, their values in JSON form."""
    return [{"id": i.id, "value": jsonable(i.value)} for i in interrupts]


def status_of(interrupts: Mapping[str, list[Any]] | list[Any]) -> str:
    """A thread's status, as the server names it: `interrupted` while it waits on an
    interrupt, `idle` otherwise (a run in flight is not seen in the store)."""
    return "interrupted" if interrupts else "idle"


def thread_record(
    thread_id: str,
    created_at: str,
    updated_at: str,
    metadata: dict[str, Any],
    interrupts: dict[str, list[dict[str, Any]]],
    values: Any = None,
) -> dict[str, Any]:
    """A thread as `threads.get` and `threads.search` return it."""
    return {
        "thread_id": thread_id,
        "created_at": created_at,
        "updated_at": updated_at,
        "state_updated_at": updated_at,
        "metadata": metadata,
        "status": status_of(interrupts),
        "config": {},
        "values": jsonable(values) if values is not None else None,
        "interrupts": jsonable(interrupts),
        "error": None,
    }


def state_record(snapshot: StateSnapshot, default_graph: str = "") -> dict[str, Any]:
    """A checkpoint as `threads.get_state` and `threads.get_history` return it."""
    return {
        "values": jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": [
            {
                "id": task.id,
                "name": task.name,
                "path": jsonable(task.path),
                "error": None if task.error is None else str(task.error),
                "interrupts": interrupt_records(task.interrupts),
                "checkpoint": None,
                "state": None,
                "result": jsonable(task.result),
            }
            for task in snapshot.tasks
        ],
        "interrupts": interrupts_of(snapshot),
        "metadata": jsonable(
            {**(snapshot.metadata or {}), **thread_metadata(snapshot.metadata or {}, default_graph)}
        ),
        "created_at": snapshot.created_at,
        "checkpoint": _checkpoint(snapshot.config),
        "parent_checkpoint": _checkpoint(snapshot.parent_config),
        "checkpoint_id": _checkpoint(snapshot.config)["checkpoint_id"],
        "parent_checkpoint_id": (_checkpoint(snapshot.parent_config) or {}).get("checkpoint_id"),
    }


def _checkpoint(config: Any) -> Any:
    if not config:
        return None
    configurable = config.get("configurable") or {}
    return {
        "thread_id": configurable.get("thread_id"),
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable.get("checkpoint_id"),
        "checkpoint_map": configurable.get("checkpoint_map"),
    }
