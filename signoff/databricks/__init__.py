"""The Databricks workspace: its client (real, or the local emulator), models, checkpoints.

- `workspace`: the `WorkspaceClient` of this process.
- `models`: the agents' chat model (`ChatDatabricks`).
- `checkpointer`: durable checkpoints (SQLite locally, PostgreSQL / Lakebase deployed).
- `graph_factory`: graphs built on first use, off the event loop.
"""
