"""Time helpers: everything inside Anju is a timezone-aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime


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
