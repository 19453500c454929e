"""signoff: the shared library behind every human-in-the-loop graph.

- `approval/`: the approval protocol (what a graph shows a person, the answers it accepts,
  how it reads them, what a paused thread waits for).
- `identity`, `policy`, `auth`, `state_api`: who is asking, who may decide, the server's
  auth, and audited state edits.
- `audit`, `execution`, `ledger`, `idempotency`, `lease`: the signed trail, the one place
  approved actions run, the local record of executions, their keys, and per-thread leases.
- `outcome`, `risk`, `drafts`: how a single-action request starts and ends, the risk policy,
  message drafts.
- `reviewed_agent`, `agent_context`, `models`, `graph_factory`: the reviewed tool-calling
  agent, its runtime context, its chat model, and factories for graphs built from workspace
  metadata.
- `settings`, `workspace`, `checkpointer`: `signoff.toml`, the Databricks workspace (real, or
  the checkout's local `emulator` package), and durable checkpoints.
- `serving/`: the MLflow `ResponsesAgent` for Databricks Model Serving.

The graphs themselves are the app layer (`graphs/`); nothing here imports them.
"""
