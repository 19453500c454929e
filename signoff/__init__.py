"""signoff: the library behind every human-in-the-loop graph, grouped by concern.

Lowest first; a package imports only itself and those listed before it
(`tests/unit/test_layers.py`, and `docs/architecture.md` for the picture and a glossary):

- `clock`: the current moment and the timestamps signoff writes and reads.
- `protocol/`: the approval protocol's vocabulary: request and decision shapes, the answer
  grammar, parsing answers, size bounds, reading a paused thread's interrupts.
- `settings`: `signoff.toml` and every `SIGNOFF_*` environment variable.
- `databricks/`: the workspace client (real, or the checkout's local emulator), the chat
  model, checkpointers.
- `governance/`: identity, who may decide (policy), deadlines, the signed audit trail,
  visibility, audited state edits.
- `signals/`: approval events, webhooks, metrics.
- `execution/`: running approved actions, once.
- `review/`: asking a person from a graph node, outcomes, the reviewed tool-calling agent.
- `client/`: programs on `langgraph-sdk`: the CLI, answering, reading pending requests, the
  sweeper.
- `server/`: what runs inside the LangGraph server: auth handlers and admission rules, the
  mounted app, the web inbox.
- `serving/`: the Model Serving agent and its per-thread lease.
- `tools/`, `graphs/`: the app layer (the repository's top-level `tools/` and `graphs/`).
"""
