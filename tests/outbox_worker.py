"""One process sharing the deployment's outbox or ledger, for tests of shared state.

    python -m tests.outbox_worker deliver            # delivery passes until killed
    python -m tests.outbox_worker execute <count>    # execute keys key-0 ... key-<count - 1>

Both read the deployment from the environment (`SIGNOFF_CHECKPOINTER`, `SIGNOFF_WEBHOOK_*`,
as a server replica does) and print `ready` once their database is open. `deliver` runs a
delivery pass every 50 ms on one HTTP client; `SIGNOFF_TEST_LEASE_MARGIN_SECONDS` shortens
the lease margin so that a test need not wait 30 s for a killed process's lease to end.
`execute` waits for the file `SIGNOFF_TEST_START` to exist (so that several processes start
together), then executes them as a node of thread `THREAD_ID` would and prints `{key: entry id}` as
JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from langchain_core.runnables import RunnableLambda

from signoff.execution import ledger
from signoff.signals import webhooks

PASS_INTERVAL_SECONDS = 0.05
THREAD_ID = "shared-ledger"
"""The thread whose approval the executions stand for."""


def deliver() -> None:
    """Delivery passes until the process is killed."""
    if margin := os.environ.get("SIGNOFF_TEST_LEASE_MARGIN_SECONDS"):
        webhooks.LEASE_MARGIN_SECONDS = float(margin)
    with httpx.Client() as http:
        webhooks.deliver_due(client=http)
        print("ready", flush=True)
        while True:
            webhooks.deliver_due(client=http)
            time.sleep(PASS_INTERVAL_SECONDS)


def execute(count: int) -> None:
    """Execute `count` keys once the start file exists; print what each key's entry is."""
    ledger.read_entries()  # opens the database
    print("ready", flush=True)
    start = Path(os.environ["SIGNOFF_TEST_START"])
    while not start.exists():
        time.sleep(0.01)
    entries = [
        in_thread(lambda n=n: ledger.execute("payment", {"n": n}, f"key-{n}")) for n in range(count)
    ]
    print(json.dumps({entry["key"]: entry["id"] for entry in entries}), flush=True)


def in_thread(work: Callable[[], ledger.LedgerEntry]) -> ledger.LedgerEntry:
    """Run `work()` as a graph node of thread `THREAD_ID` runs it."""
    return RunnableLambda(lambda _: work()).invoke(None, {"configurable": {"thread_id": THREAD_ID}})


if __name__ == "__main__":
    if sys.argv[1] == "deliver":
        deliver()
    else:
        execute(int(sys.argv[2]))
