"""One request per thread at a time, in this process and across every serving replica.

Two requests running one thread at once would both pass the same approval and both execute
it. `ThreadLocks.hold(thread_id)` refuses a second request for a thread this process is
running (`ValueError`) and takes the thread's lease for every other replica sharing the
checkpoint store (`signoff.serving.lease`, which raises `ThreadBusy`). Nothing waits: the refused
request changes nothing and may be sent again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from signoff.serving.lease import Leases


class ThreadLocks:
    """The threads this process is running, and the leases that fence other replicas."""

    def __init__(self, leases: Leases) -> None:
        self._leases = leases
        self._lock = threading.Lock()
        self._running: set[str] = set()

    @contextmanager
    def hold(self, thread_id: str) -> Iterator[None]:
        """Hold `thread_id` for one request, or refuse at once when it is taken."""
        with self._lock:
            if thread_id in self._running:
                raise ValueError(
                    f"Thread {thread_id!r} is still running another request; send this one "
                    "again when that has finished."
                )
            self._running.add(thread_id)
        try:
            with self._leases.hold(thread_id):
                yield
        finally:
            with self._lock:
                self._running.discard(thread_id)

    def close(self) -> None:
        """Give back the leases' connection or file."""
        self._leases.close()
