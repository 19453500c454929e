"""Idempotency keys: one key per approved side effect, the same on every retry of it.

A side effect that a crash can interrupt after it happened but before the checkpoint that
records it is run again on recovery. Each such effect therefore carries a key derived from the
thread and what was approved (a request id and action, or a tool-call id), and the system that
performs it (the ledger, the Databricks Jobs API, a Unity Catalog function) does it at most
once per key.
"""

from __future__ import annotations

import uuid

from signoff.governance.identity import run_thread_id

NAMESPACE = uuid.UUID("0b4d3f0e-6c1a-4d57-9f0c-51907ff0b10b")


def idempotency_key(*parts: str) -> str:
    """A key for the running thread and `parts`, identical whenever they are."""
    return str(uuid.uuid5(NAMESPACE, "/".join([run_thread_id(), *parts])))
