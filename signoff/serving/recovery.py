"""Crash recovery: a thread whose last run stopped between two steps is run on, not answered.

A worker that dies after an approval leaves a checkpoint with steps still to run and no
interrupt. The next request for that thread runs that run on from its last checkpoint to its
end or next pause, and is not itself applied: a retried decision has then taken effect, and a
new pause is shown to be answered, never answered by a stale retry. Side effects that must
not run twice keep their own idempotency keys as well (`signoff.execution.idempotency`).
"""

from __future__ import annotations

from langgraph.types import StateSnapshot


def stopped_mid_run(snapshot: StateSnapshot) -> bool:
    """Whether the thread has steps left to run but waits for nobody: a run that died."""
    return bool(snapshot.next) and not snapshot.interrupts
