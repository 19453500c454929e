"""Serve any signoff graph as an MLflow `ResponsesAgent`, e.g. on Databricks Model Serving.

`SignoffAgent(graph, checkpointer=None)` (`agent.py`, the MLflow adapter) wraps a compiled
graph (or a zero-argument builder, called when the agent opens; `graphs.GRAPHS` has one per
graph of this project) and attaches the saver of `signoff.databricks.checkpointer.checkpointer`
(`SIGNOFF_CHECKPOINTER`, or `LAKEBASE_INSTANCE_NAME` for Lakebase). The saver is opened once,
when MLflow loads the model (`load_context`) or on the first request, and closed by `close()`.
The other modules each do one job: `requests.py` reads and checks a request,
`approvals.py` maps pending actions to OpenAI Responses approval items and their answers,
`thread_locks.py` runs one request per thread at a time, `recovery.py` finishes runs a dead
worker left behind, `replies.py` says what the thread waits for or how it ended.

Request (`ResponsesAgentRequest`):

- `input`: the user's new messages. Graphs with a `messages` state key (the agents) get them
  as `{"messages": [...]}`; send only the new turn, the thread holds the history.
- `custom_inputs.input`: the graph input for graphs without messages, e.g.
  `{"operation": {"amount": 5000, "target": "acct-9"}}` for `approve_reject` (their `input`
  messages are ignored). For the agents, it may add other state keys next to the messages.
- `custom_inputs.thread_id`: the thread to continue (an id no thread has yet starts one with
  that id). Without it a new thread gets a new id. Either way `custom_outputs.thread_id` has it.
- `custom_inputs.decision`: answer every pending approval of the thread with one answer of the
  approval protocol, in any form of its grammar (`signoff.protocol.grammar`): text such as
  `"approve"` or `"reject"` (other text rejects with it as feedback), `{"decisions": [...]}`,
  Agent Inbox responses, or `"withdraw"` from the requester.
- `custom_inputs.decisions`: `{interrupt id: answer}`, to answer parallel calls separately
  (some now, the rest later).
- `mcp_approval_response` items in `input` (OpenAI Responses clients: Databricks' Playground,
  the OpenAI Agents SDK): `{"type": "mcp_approval_response", "approval_request_id": <the id of
  an mcp_approval_request item>, "approve": true | false, "reason"?}`, with
  `custom_inputs.thread_id`. `true` approves the action (the reason is the approver's
  comment), `false` rejects it (the reason says why); several items answer several actions.

A request sends one of the three answers. A resume ignores the rest of `input`. A request
with no input at all (no items, no `custom_inputs.input`) for a thread that exists changes
nothing and replies with what it waits for, or how it ended: how an approver's Responses client
gets the approval request items to answer, and how a caller reads the outcome of a request
decided elsewhere (the inbox, `signoff approve`, the sweeper).

Who is asking is never read from the request: in Model Serving it is the caller, resolved from
on-behalf-of-user credentials (`databricks_ai_bridge`'s `ModelServingUserCredentials`; log the
model with a `UserAuthPolicy`) by `signoff.governance.identity`. The same policy as the LangGraph
server applies (`signoff.governance.policy`, with the caller's delegations from the store): a
decision from someone who may not decide it raises `PermissionError` naming who may, and the
thread stays pending. Outside Model Serving there is no caller identity: new turns run,
decisions are refused.

Response: one text output item, then one `mcp_approval_request` item per pending action
(`approvals.py`: `id` the request's `request_id`, `name` the action, `arguments` its
arguments as JSON text, `server_label` the graph), and `custom_outputs`:

- `thread_id`; `is_interrupted` (the thread waits for a decision);
- `pending_actions`: one entry per pending interrupt and action (a tool call, a payment, a
  draft), `{id, request_id, name, args, description, allowed_decisions, stage, args_digest,
  requested_by, decided_by, error, title, summary, progress}` (`signoff.protocol.interrupts`);
  `id` is the interrupt id to use in `decisions` (it changes when a refused answer makes the
  graph ask again). The same list is also under `pending_tool_calls`, its name in the original
  contract.

The text says what waits for approval (each action by its one-line summary) and how to answer,
or, when the run has finished, the agent's last answer (or `status`, `reason` and `result` for
the operation graphs).

A bad answer does not raise: the graph asks again, the thread stays pending and the reason is
in the text and in `pending_actions[].error`. `mcp_approval_response` items that cannot answer
(malformed, an id the thread does not wait on, an approver the policy refuses) do not raise
either: nothing is applied, the reply's text starts with why, and the same approval items are
shown again to be answered.

A request that cannot apply to the thread raises `ValueError` (Model Serving answers it with
an error status) and changes nothing: a decision without `thread_id`, for an unknown thread or
one that waits for nothing, interrupt ids the thread does not wait on, a new message to a
thread that waits for a decision, or a second request for a thread this agent, or another
replica on the same checkpoint store, is still running (`signoff.serving.lease.ThreadBusy`).

A request for a thread whose last run stopped mid-way (its worker died after an approval) runs
that run on from its last checkpoint instead, and replies with where it ended.

`predict_stream` yields `response.output_text.delta` events while the graph runs (the model's
tokens), then one `response.output_item.done` event per output item of `predict` (the text,
then the approval requests); the last event carries the same `custom_outputs` as `predict`.
"""

from signoff.serving.agent import SignoffAgent

__all__ = ["SignoffAgent"]
