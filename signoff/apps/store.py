"""The App's store for its own routes, with async calls on every backend.

The inbox and the standing API (`/signoff/grants`, `/signoff/delegations`) read and write
grants and delegations with the store's async calls (`aget`, `asearch`, `aput`: all of them
`abatch`). `langgraph.store.sqlite.SqliteStore`, the store of an App on a SQLite file, has
only blocking ones: its `abatch` raises. `async_capable` gives such a store an `abatch` that
runs its `batch` in a worker thread (`SqliteStore` opens its connection for any thread and
locks it per call); the other stores have async calls of their own and are used as they are.
The graphs read the store with its blocking calls and keep the store as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from langgraph.store.base import BaseStore, Op, Result
from langgraph.store.sqlite import SqliteStore


class ThreadedStore(BaseStore):
    """`store`, its async calls run as its blocking ones in a worker thread."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """`store`'s own batch."""
        return self.store.batch(ops)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`store`'s batch, in a worker thread."""
        return await asyncio.to_thread(self.store.batch, list(ops))


def async_capable(store: BaseStore) -> BaseStore:
    """`store`, with async calls that work: a SQLite store through `ThreadedStore`."""
    return ThreadedStore(store) if isinstance(store, SqliteStore) else store
