"""Running approved actions: only after a verified approval of exactly these arguments, once.

- `approved`: the one place an approved action runs (verifies the trail, then runs it once).
- `ledger`: the local record of executions.
- `idempotency`: the key that makes a retried action a no-op.
"""
