"""The ledger: where signoff's local irreversible operations actually happen.

Payments, messages and other actions of the offline graphs are "executed" by appending one
JSON line to the ledger file (`SIGNOFF_LEDGER`, default `.signoff/ledger.jsonl`). It is the
observable side effect: tests and operators count entries to prove that an approval ran its
action exactly once and a rejection ran nothing.

Every execution carries an idempotency key (`signoff.execution.idempotency`). Appending checks the
key under the file lock, so a retry after a crash (the operation ran, the checkpoint recording it
did not) returns the entry already written instead of writing a second one.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from pathlib import Path
from typing import Any, TypedDict

from signoff.clock import stamp
from signoff.governance.identity import run_thread_id
from signoff.settings import environment


class LedgerEntry(TypedDict):
    """One executed operation."""

    id: str
    """Unique id of this execution."""

    key: str
    """The idempotency key: one entry per key, however often it is executed."""

    kind: str
    """What ran, e.g. `"payment"`, `"message"`, or an action name."""

    details: dict[str, Any]
    """The exact arguments it ran with."""

    thread_id: str | None
    """The thread whose approval caused it."""

    at: str
    """UTC timestamp, ISO 8601."""


def ledger_path() -> Path:
    """The ledger file in use."""
    return Path(environment().ledger)


def execute(kind: str, details: dict[str, Any], key: str) -> LedgerEntry:
    """Carry out one operation by appending it to the ledger, once per `key`; call only after
    approval. Returns the entry, the earlier one when `key` was executed before."""
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        for line in file:
            if f'"key": "{key}"' in line and (earlier := json.loads(line)).get("key") == key:
                if (earlier["kind"], earlier["details"]) != (kind, details):
                    raise ValueError(
                        f"Idempotency key {key} was executed before with other arguments "
                        f"({earlier['kind']} {earlier['details']}); refusing to run it again."
                    )
                return earlier
        entry = LedgerEntry(
            id=uuid.uuid4().hex,
            key=key,
            kind=kind,
            details=details,
            thread_id=run_thread_id() or None,
            at=stamp(),
        )
        file.write(json.dumps(entry, sort_keys=True) + "\n")
        file.flush()
        os.fsync(file.fileno())
    return entry


def read_entries(path: Path | None = None) -> list[LedgerEntry]:
    """Every entry in the ledger, oldest first."""
    path = path or ledger_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
