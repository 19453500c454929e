"""The sweeper runs on a thread whose last run failed at once, then after longer and longer
waits, and forgets it once it is no longer failed (`signoff.client.sweeper.FailedRuns`): an
action that keeps failing is not started on every pass, and one that failed once is finished
on the next pass."""

from __future__ import annotations

import pytest

from signoff.client import sweeper
from signoff.client.sweeper import FailedRuns


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The monotonic time the pacing reads, set by the test."""
    now = [1000.0]
    monkeypatch.setattr(sweeper.time, "monotonic", lambda: now[0])
    return now


def test_a_failed_thread_is_run_on_at_once_then_after_doubling_waits(clock):
    paced = FailedRuns()
    waits = []
    for _ in range(8):
        assert paced.may_run_on("t1")
        paced.ran_on("t1")
        start = clock[0]
        while not paced.may_run_on("t1"):
            clock[0] += 1.0
        waits.append(clock[0] - start)
    assert waits == [60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0]
    assert paced.may_run_on("t2")  # another thread waits for nothing


def test_a_thread_no_longer_failed_is_forgotten(clock):
    paced = FailedRuns()
    paced.ran_on("t1")
    paced.ran_on("t2")
    paced.keep_only({"t2"})
    assert paced.may_run_on("t1") and not paced.may_run_on("t2")
    assert set(paced.next_try) == {"t2"}
