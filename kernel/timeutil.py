"""Time helpers: everything inside Anju is a timezone-aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """An instant typed on a command line (RFC 3339, `Z` allowed, or a date); without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad instant {text!r}: write it as RFC 3339, e.g. 2026-11-01T00:00:00+08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
