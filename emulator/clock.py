"""The emulator's clock: wall time plus an offset that tests move forward.

Job runs derive their life-cycle state from it, so a test can jump a run from PENDING to
RUNNING to TERMINATED with `POST /emulator/clock/advance` instead of sleeping.
"""

from __future__ import annotations

import time


class Clock:
    """Seconds since the epoch, `advance`-able."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """The current emulated time in seconds."""
        return time.time() + self._offset

    def now_ms(self) -> int:
        """The current emulated time in epoch milliseconds, as Databricks timestamps are."""
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` (never back); returns the new time."""
        if seconds < 0:
            raise ValueError("The clock only moves forward.")
        self._offset += seconds
        return self.now()
