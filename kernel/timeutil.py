"""Time helpers: everything inside Anju is a timezone-aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


AHEAD_TOLERANCE = timedelta(minutes=5)
"""How far ahead of the gateway's clock a device's `ts` may be and still be believed (docs/architecture.md)."""


def believable(ts: datetime, arrival: datetime) -> tuple[datetime, float]:
    """The event time to use, and how many seconds the device's clock was ahead (0 when it was not).

    A device clock far ahead would put the event in the future: windows and timers keyed on event time
    would then wait for it, or ignore it. Such a time is replaced by the arrival time (the device's own is
    kept in the event). Times in the past are believed: a device that buffered while offline sends late.
    """
    ahead = (ts - arrival).total_seconds()
    if ahead > AHEAD_TOLERANCE.total_seconds():
        return arrival, ahead
    return ts, 0.0
