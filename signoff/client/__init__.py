"""Programs that talk to a signoff server through `langgraph-sdk`.

- `cli`: the `signoff` command.
- `answering`: answering and withdrawing a pending request.
- `pending_requests`: reading the requests waiting for a person, across threads.
- `thread_pages`: paging through `threads.search`.
- `sweeper`: reminds, escalates and expires requests at the times they carry (run by the
  server's app, or `signoff sweep`).
"""
