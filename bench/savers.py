"""Checkpoint savers for the in-process benchmarks, and a count of what they are asked to write.

`count_writes` wraps a saver's `put` (one checkpoint) and `put_writes` (one task's pending
writes) so a benchmark can report checkpoint writes per approval cycle. `open_saver` yields a
ready saver of one kind: in memory, SQLite in a temporary file, or PostgreSQL on a throwaway
cluster (`tests/postgres.py`, started as the `postgres` user, so it needs root or that user).
"""

from __future__ import annotations

import os
import pwd
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver

SaverKind = Literal["memory", "sqlite", "postgres"]


@dataclass
class WriteCount:
    """How many times a saver was asked to store a checkpoint, and a task's writes."""

    put: int = 0
    put_writes: int = 0

    @property
    def total(self) -> int:
        """Every call that writes to the store."""
        return self.put + self.put_writes

    def reset(self) -> None:
        """Start counting from zero."""
        self.put = self.put_writes = 0


def count_writes(saver: BaseCheckpointSaver) -> WriteCount:
    """Count `saver.put` and `saver.put_writes` calls from now on (the saver still writes)."""
    counts = WriteCount()
    put, put_writes = saver.put, saver.put_writes

    def counted_put(*args: Any, **kwargs: Any) -> Any:
        counts.put += 1
        return put(*args, **kwargs)

    def counted_put_writes(*args: Any, **kwargs: Any) -> Any:
        counts.put_writes += 1
        return put_writes(*args, **kwargs)

    saver.put = counted_put  # type: ignore[method-assign]
    saver.put_writes = counted_put_writes  # type: ignore[method-assign]
    return counts


def postgres_unavailable() -> str | None:
    """Why a throwaway PostgreSQL cluster cannot start here, or `None` when it can."""
    try:
        from tests.postgres import SUPERUSER, find_binaries
    except ImportError as error:  # pragma: no cover - the repository ships tests/postgres.py
        return f"tests/postgres.py cannot be imported ({error})"
    try:
        find_binaries()
    except RuntimeError as error:
        return str(error)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return "as root the cluster runs as the postgres user, and there is none"
    return None


@contextmanager
def postgres_cluster_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the block; yields its superuser URL."""
    from tests.postgres import PostgresCluster

    with PostgresCluster() as cluster:
        yield cluster.superuser_url


@contextmanager
def open_saver(kind: SaverKind, postgres_url: str | None = None) -> Iterator[BaseCheckpointSaver]:
    """A ready saver of `kind`; `postgres` needs `postgres_url` (e.g. `postgres_cluster_url`)."""
    if kind == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver()
    elif kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        with tempfile.TemporaryDirectory(prefix="signoff-bench-") as directory:
            path = Path(directory) / "checkpoints.sqlite"
            with SqliteSaver.from_conn_string(str(path)) as saver:
                saver.setup()
                yield saver
    else:
        from langgraph.checkpoint.postgres import PostgresSaver

        if postgres_url is None:
            raise ValueError("a postgres saver needs postgres_url")
        with PostgresSaver.from_conn_string(postgres_url) as saver:
            saver.setup()
            yield saver


def with_postgres(
    kinds: list[SaverKind], skip: Callable[[str], None]
) -> Iterator[tuple[SaverKind, str | None]]:
    """Yield `(kind, postgres_url)` for each of `kinds`, starting one cluster for `postgres`.

    When PostgreSQL cannot run here, `skip(reason)` is called and `postgres` is left out.
    """
    for kind in kinds:
        if kind != "postgres":
            yield kind, None
            continue
        reason = postgres_unavailable()
        if reason:
            skip(f"PostgreSQL skipped: {reason}")
            continue
        with postgres_cluster_url() as url:
            yield kind, url
