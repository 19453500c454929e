"""Pending requests listed and swept on every backend: the part of the LangGraph API signoff
uses, served from a checkpoint store.

Under `langgraph dev` and LangGraph Platform, signoff's surfaces (the inbox, `signoff
pending` and the rest of the command line, the metrics, the sweeper, Slack) read and answer
threads through the LangGraph server's API with `langgraph_sdk`. Model Serving
(`signoff.serving.SignoffAgent`) and Databricks Apps deployments have no LangGraph server:
their threads live only in the checkpoint store (PostgreSQL, Lakebase, or SQLite). This
package serves that same API from the store, so the same readers run unchanged on it:

- `api.py`: `CheckpointApi(graphs, saver, store)` and `opened_api()` (the saver and store
  of `SIGNOFF_CHECKPOINTER`); `api.client(identity)` is a `CheckpointClient`, shaped like
  `langgraph_sdk`'s client (`threads.create/search/get/get_state/get_history`,
  `runs.wait/create`), applying what the LangGraph server's auth applies: visibility,
  admission (`signoff.server.admission`), and the thread leases of
  `signoff.serving.thread_locks`. `api.client(None, system=True)` is the deployment's own
  reader and sweeper; `as_sdk(client)` types it as the SDK client signoff's readers take.
- `tables.py`: the queries on the saver's tables. The pending list reads only the latest
  checkpoint of each thread that waits on an interrupt, through a partial index on the
  interrupt writes; nothing else is scanned.
- `records.py`: the JSON records of threads and states, and the metadata each run records
  in its checkpoints (graph, assistant, owner, viewers) that make up a thread's record.
- `errors.py`: errors raised as `langgraph_sdk` raises them.
- `routes.py`: `langgraph_api_routes(api, authenticate)`, the same calls over HTTP at the
  SDK's paths, so `signoff --url <deployment> pending` and `approve` work against it.

`signoff.client.pending_requests.pending_requests(api.client(user))` is then the one reader
of pending requests on every backend, and `signoff.client.sweeper.sweep(api.client(None,
system=True))` reminds, escalates and expires them.
"""

from signoff.checkpoints.api import CheckpointApi, CheckpointClient, as_sdk, opened_api
from signoff.checkpoints.routes import langgraph_api_routes

__all__ = ["CheckpointApi", "CheckpointClient", "as_sdk", "langgraph_api_routes", "opened_api"]
