"""Time helpers: everything inside Anju is a timezone-aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


# Epoch milliseconds outside these bounds are not plausible device clocks
# (before 2001 or after 2286) and are refused instead of stored as nonsense.
_MIN_MS = 1_000_000_000_000
_MAX_MS = 9_999_999_999_999


def parse_event_time(ts: int | float | str | None, arrival: datetime) -> datetime:
    """Epoch milliseconds or an RFC 3339 string; `arrival` when missing.

    Raises ValueError for anything else, so the message is dead-lettered with the reason.
    """
    if ts is None:
        return arrival
    if isinstance(ts, bool):
        raise ValueError("ts must be epoch milliseconds or RFC 3339, not a boolean")
    if isinstance(ts, int | float):
        if not _MIN_MS <= ts <= _MAX_MS:
            raise ValueError(f"ts {ts} is not plausible epoch milliseconds")
        return datetime.fromtimestamp(ts / 1000.0, UTC)
    text = ts.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"ts {ts!r} is not RFC 3339") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"ts {ts!r} has no UTC offset (RFC 3339 requires one)")
    return parsed.astimezone(UTC)


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
