"""Time in signoff: the current moment, and the timestamps requests, audit entries and events
carry.

Every timestamp signoff writes is ISO 8601, in UTC, to the millisecond (`stamp`); every one it
reads goes through `parse`, which gives `None` for anything that is not a timestamp with a
time zone, so a malformed value in a thread is skipped, never raised. `span` says how long a
span is, in its largest whole unit, as the inbox and the command line show waits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def stamp(moment: datetime | None = None) -> str:
    """`moment` (now by default) as signoff writes it: ISO 8601 to the millisecond."""
    return (moment or now()).isoformat(timespec="milliseconds")


def parse(value: Any) -> datetime | None:
    """The moment `value` names (a `datetime`, or an ISO 8601 string with a time zone), or
    `None` for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def seconds_since(value: Any, at: datetime | None = None) -> float | None:
    """Seconds from the moment `value` names to `at` (now by default), or `None` if `value` is
    not a timestamp."""
    moment = parse(value)
    return None if moment is None else ((at or now()) - moment).total_seconds()


SPAN_SIZES = (86400, 3600, 60, 1)
"""Seconds in a day, an hour, a minute and a second: the units `span` counts in."""
SpanUnits = tuple[str, str, str, str]
"""The names of `SPAN_SIZES`' units."""


def span(seconds: float | None, units: SpanUnits = ("d", "h", "m", "s"), gap: str = "") -> str:
    """`seconds` in its largest whole unit, named by `units` (days, hours, minutes, seconds)
    after `gap`: `3d`, `12m` (or `3 h`, `12 min` with `("d", "h", "min", "s")` and `" "`); a
    negative span is `0s`, `None` is `""`."""
    if seconds is None:
        return ""
    whole = max(0, int(seconds))
    fits = (pair for pair in zip(units, SPAN_SIZES, strict=True) if whole >= pair[1])
    unit, size = next(fits, (units[-1], 1))
    return f"{whole // size}{gap}{unit}"
