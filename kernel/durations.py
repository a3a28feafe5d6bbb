"""Durations in rule files: `90s`, `5m`, `2h`, `48h`, `1d`, or compound `1h30m`.

Operators type these by hand, so anything ambiguous is an error rather than a
guess: a bare number has no unit (seconds? minutes?), zero would make a window
that never holds anything, and more than a year is almost certainly a typo.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+)\s*([dhms])")
_WHOLE = re.compile(r"(?:\d+\s*[dhms]\s*)+")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_DURATION = timedelta(days=366)
"""Longer windows are rejected: a rule about "more than a year" is a typo, not a rule."""


def parse_duration(text: str) -> timedelta:
    """`"5m"` → 5 minutes. Raises ValueError with a reason an operator can act on."""
    cleaned = text.strip().lower()
    if not cleaned or not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"bad duration {text!r}: write a number and a unit (s, m, h, d), e.g. 90s, 5m, 48h, 1h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    result = timedelta(seconds=seconds)
    if result > MAX_DURATION:
        raise ValueError(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    return result


def format_duration(value: timedelta) -> str:
    """The inverse of `parse_duration`, for messages and docs: 5400 s → `1h30m`."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _coerce(value: Any) -> timedelta:
    """Strings are parsed; a timedelta (rules built in Python) is accepted if positive; numbers are refused."""
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError("duration must be longer than zero")
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        hint = f", e.g. {value}s or {value}m" if isinstance(value, int) and not isinstance(value, bool) else ""
        raise ValueError(f"a duration is a string with a unit (s, m, h, d){hint}; got {value!r}")
    return parse_duration(value)


TimeSpan = Annotated[timedelta, BeforeValidator(_coerce)]
"""A rule-file duration field: parsed from text, always positive."""
