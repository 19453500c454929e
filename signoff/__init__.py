"""signoff: the shared library behind every human-in-the-loop graph.

- `approval/`: the approval protocol (what a graph shows a person, what it accepts back).
- `audit`, `outcome`, `ledger`: the audit trail, the outcome fields final states share, and
  the local record of executed operations.
- `tool_review`, `models`, `graph_factory`: the reviewed tool-calling agent, its chat model,
  and factories for graphs built from workspace metadata.
- `risk`, `drafts`: the risk policy and message drafts of the single-action graphs.
- `settings`, `workspace`, `checkpointer`: `signoff.toml`, the Databricks workspace (real or
  the local `emulator/`), and durable checkpoints.
- `serving`, `serving_entry`: the MLflow `ResponsesAgent` for Databricks Model Serving.
"""
