"""What runs inside `langgraph dev` (or LangGraph Platform) beside the graphs.

- `auth`: the server's auth handlers; they apply the rules of `admission` (runs, threads)
  and `store_scope` (the store) where a request enters.
- `thread_facts`: what the auth handlers read about a thread.
- `app`: the HTTP app mounted on the server (the inbox, metrics, and the sweeper's loop).
- `inbox/`: the web inbox.
"""
