"""signoff: the shared library behind every human-in-the-loop graph.

- `signoff.approval`: the approval protocol (what a graph shows a person, what it accepts back).
- `signoff.audit`: the audit trail every decision appends to.
- `signoff.ledger`: the record of executed irreversible operations.
"""
