"""Who may do what, and the record that proves it.

- `identity`: who is asking (from the server's auth, never from a field a client sends).
- `policy`: who may decide a request (now, and with escalation), the policy frozen into it,
  and the checks an answer passes before it resumes a thread.
- `deadlines`: when a request reminds, escalates and expires, and whether that time has come.
- `audit`: the signed trail, and verifying it.
- `visibility`: who may see a thread.
- `state_edits`: admin `update_state` edits, bounded and audited.
"""
