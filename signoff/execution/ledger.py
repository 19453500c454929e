"""The ledger: where signoff's local irreversible operations actually happen.

Payments, messages and other actions of the offline graphs are "executed" by recording one
entry in the ledger. It is the observable side effect: tests and operators count entries to
prove that an approval ran its action exactly once and a rejection ran nothing. The ledger is
kept where the checkpoints are (`SIGNOFF_CHECKPOINTER`):

- SQLite (the default, `make dev`): one JSON line per entry in the file `SIGNOFF_LEDGER`
  (default `.signoff/ledger.jsonl`), appended under an exclusive file lock;
- PostgreSQL or Lakebase: one row per entry in table `signoff_ledger` of that database (the
  entry's JSON line, its key as the primary key), shared by every replica
  (`signoff.databricks.shared_state` creates the table).

Every execution carries an idempotency key (`signoff.execution.idempotency`). Recording checks
the key (under the file lock, or by the table's unique key: `INSERT ... ON CONFLICT DO NOTHING`
then a read), so a retry after a crash (the operation ran, the checkpoint recording it did
not), or two processes executing the same key at once, get the entry already written instead
of writing a second one. For the same reason a statement cut by a dropped connection (a
database restart) is simply sent again (`signoff.databricks.checkpointer.retrying`).
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from pathlib import Path
from typing import Any, TypedDict

from signoff.clock import stamp
from signoff.databricks.checkpointer import Backend, choose_backend, retrying
from signoff.databricks.shared_state import POOL_TIMEOUT_SECONDS, shared_pool
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
    """The ledger file (`SIGNOFF_LEDGER`), used when the checkpoints are in SQLite."""
    return Path(environment().ledger)


def execute(kind: str, details: dict[str, Any], key: str) -> LedgerEntry:
    """Carry out one operation by recording it in the ledger, once per `key`; call only after
    approval. Returns the entry, the earlier one when `key` was executed before; `ValueError`
    when that one ran with other arguments."""
    entry = LedgerEntry(
        id=uuid.uuid4().hex,
        key=key,
        kind=kind,
        details=details,
        thread_id=run_thread_id() or None,
        at=stamp(),
    )
    backend = choose_backend()
    if backend.kind != "sqlite":
        # Keyed: sending it again after a dropped connection never writes twice.
        return retrying("ledger entry", lambda: _recorded_in_table(backend, entry))
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        for line in file:
            if f'"key": "{key}"' in line and (earlier := json.loads(line)).get("key") == key:
                return _same_or_refused(earlier, entry)
        file.write(_line(entry) + "\n")
        file.flush()
        os.fsync(file.fileno())
    return entry


def _recorded_in_table(backend: Backend, entry: LedgerEntry) -> LedgerEntry:
    """`entry` written to `signoff_ledger` unless its key is there already; the entry kept."""
    with shared_pool(backend).connection(timeout=POOL_TIMEOUT_SECONDS) as connection:
        if connection.execute(
            "INSERT INTO signoff_ledger (key, entry) VALUES (%s, %s) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            (entry["key"], _line(entry)),
        ).fetchone():
            return entry
        (row,) = connection.execute(
            "SELECT entry FROM signoff_ledger WHERE key = %s", (entry["key"],)
        ).fetchall()
    return _same_or_refused(json.loads(row["entry"]), entry)


def read_entries(path: Path | None = None, *, setting: str | None = None) -> list[LedgerEntry]:
    """Every entry in the ledger of the deployment whose checkpoints `setting` names (default:
    `SIGNOFF_CHECKPOINTER`), oldest first; `path` is the file when that ledger is one (default
    `SIGNOFF_LEDGER`)."""
    backend = choose_backend(setting)
    if backend.kind != "sqlite":
        with shared_pool(backend).connection(timeout=POOL_TIMEOUT_SECONDS) as connection:
            rows = connection.execute("SELECT entry FROM signoff_ledger ORDER BY position")
            return [json.loads(row["entry"]) for row in rows]
    path = path or ledger_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _line(entry: LedgerEntry) -> str:
    """`entry` as the JSON line the ledger keeps."""
    return json.dumps(entry, sort_keys=True)


def _same_or_refused(earlier: LedgerEntry, entry: LedgerEntry) -> LedgerEntry:
    """`earlier`, the entry recorded under `entry`'s key, when it ran what `entry` would run;
    `ValueError` otherwise."""
    if (earlier["kind"], earlier["details"]) != (entry["kind"], entry["details"]):
        raise ValueError(
            f"Idempotency key {entry['key']} was executed before with other arguments "
            f"({earlier['kind']} {earlier['details']}); refusing to run it again."
        )
    return earlier
