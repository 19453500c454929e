"""The store beside the checkpoints, for processes outside the LangGraph server.

Standing grants and delegations (`signoff.standing`) live in the deployment's own store,
which every replica shares and no client writes directly. Under `langgraph dev` and LangGraph
Platform that is the server's store. A Model Serving agent (`signoff.serving.SignoffAgent`)
opens it here, in the same database as its checkpoints (`SIGNOFF_CHECKPOINTER`, as
`signoff.databricks.checkpointer` chooses it):

| checkpoints                | store                                                           |
| -------------------------- | --------------------------------------------------------------- |
| SQLite file                | `langgraph.store.sqlite.SqliteStore` in the same file (development) |
| `postgresql://...`         | `langgraph.store.postgres.PostgresStore` on a pool              |
| `lakebase://<instance>`    | `databricks_langchain.DatabricksStore` on that Lakebase instance |
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.store.base import BaseStore

from signoff.databricks.checkpointer import choose_backend, pooled_postgres
from signoff.databricks.workspace import workspace_client


@contextmanager
def deployment_store(setting: str | None = None) -> Iterator[BaseStore]:
    """Open the store of the deployment whose checkpoints `setting` names (as
    `SIGNOFF_CHECKPOINTER`), set it up once, and close it afterwards."""
    backend = choose_backend(setting)
    if backend.kind == "sqlite":
        from langgraph.store.sqlite import SqliteStore

        with SqliteStore.from_conn_string(backend.target) as sqlite_store:
            sqlite_store.setup()
            yield sqlite_store
    elif backend.kind == "postgres":
        from langgraph.store.postgres import PostgresStore

        with pooled_postgres(backend.target) as pool:
            postgres_store = PostgresStore(pool)
            postgres_store.setup()
            yield postgres_store
    else:
        from databricks_langchain import DatabricksStore

        lakebase_store: Any = DatabricksStore(
            instance_name=backend.target, workspace_client=workspace_client()
        )
        lakebase_store.setup()
        try:
            yield lakebase_store
        finally:
            close = getattr(lakebase_store, "close", None)
            if callable(close):
                close()
