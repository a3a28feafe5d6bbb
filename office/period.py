"""Report periods as the office speaks of them: a month, a week, a day, in the community's own time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """`2026-11` → [1 Nov 00:00, 1 Dec 00:00) in `timezone`, as UTC instants."""
    found = MONTH.fullmatch(month.strip())
    if found is None:
        raise ValueError(f"bad month {month!r}: write it as YYYY-MM, e.g. 2026-11")
    year, number = int(found[1]), int(found[2])
    first = date(year, number, 1)
    after = date(year + number // 12, number % 12 + 1, 1)
    return local_midnight(first, timezone), local_midnight(after, timezone)


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def local_days(since: datetime, until: datetime, timezone: str) -> list[date]:
    """Every local date the period [since, until) touches, in order."""
    zone = ZoneInfo(timezone)
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def previous_month(today: date) -> str:
    """The month a bulletin made on `today` is about (the cron job runs on the 1st)."""
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def resolve_period(since: datetime | None, until: datetime | None, month: str | None, timezone: str,
                   now: datetime) -> tuple[datetime, datetime]:
    """A report's period from what the caller gave: a month, or from/to (default: this month so far)."""
    if month is not None:
        if since is not None or until is not None:
            raise ValueError("give either `month` or `from`/`to`, not both")
        return month_bounds(month, timezone)
    if since is None:
        since = month_bounds(f"{now.astimezone(ZoneInfo(timezone)):%Y-%m}", timezone)[0]
    return since, until or now
