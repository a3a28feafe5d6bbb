"""Where and when a rule applies: `scope` (sites, grids, zones, kinds, devices) and `schedule` (days, hours,
and a season of the year).

Pure: `Scope.matches` and `Schedule.active` are called for every evaluation, so they read no state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rules.schema.base import (
    DAYS,
    DEFAULT_TIMEZONE,
    TIME,
    Day,
    LocatedValueError,
    NameList,
    StrictModel,
    event_zone,
    known_kind,
)


class Scope(StrictModel):
    """Where a rule applies; each list given must contain the event's value, lists not given match anything."""

    sites: NameList | None = None
    grids: NameList | None = None
    zones: NameList | None = None
    """Matches the device's zone or, for events that name one (fence alarms), the payload's `zone`."""
    kinds: NameList | None = None
    devices: NameList | None = None

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: list[str] | None) -> list[str] | None:
        for i, kind in enumerate(kinds or []):
            try:
                known_kind(kind)
            except ValueError as exc:
                raise LocatedValueError(str(exc), i) from None
        return kinds

    def covers_person(self, site: str, grid: str | None) -> bool:
        """Whether a person living at `site`/`grid` is watched by a `per: person` rule with this scope.

        The sightings are in scope by `matches`, as any message; `zones`, `kinds` and `devices` describe
        devices, not persons, so only `sites` and `grids` select the persons.
        """
        return (self.sites is None or site in self.sites) and (self.grids is None or grid in self.grids)

    def matches(self, site: str, grid: str | None, zone: str | None, kind: str, device: str,
                data: Mapping[str, Any] | None = None) -> bool:
        """Whether an event of this device is in scope. Pass the payload as `data` so `zones` sees its `zone`."""
        if self.sites is not None and site not in self.sites:
            return False
        if self.grids is not None and grid not in self.grids:
            return False
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.devices is not None and device not in self.devices:
            return False
        if self.zones is not None:
            return zone in self.zones or event_zone(zone, data) in self.zones
        return True


def _minutes(text: str) -> int:
    """`"22:00"` → 1320; `"24:00"` (only sensible as an end) → 1440."""
    if text == "24:00":
        return 1440
    match = TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"bad time {text!r}: write HH:MM, e.g. \"22:00\"")
    return int(match.group(1)) * 60 + int(match.group(2))


MONTH_DAY = re.compile(r"(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_day(text: str) -> tuple[int, int]:
    """`"11-01"` → (11, 1); refuses a day the month never has (`"04-31"`). 29 February is allowed."""
    match = MONTH_DAY.fullmatch(text)
    if match is None:
        raise ValueError(f"bad date {text!r}: write MM-DD, e.g. \"11-01\" for 1 November")
    month, day = int(match.group(1)), int(match.group(2))
    if day > _MONTH_DAYS[month - 1]:
        raise ValueError(f"bad date {text!r}: month {month} has no day {day}")
    return month, day


class Season(StrictModel):
    """A period of every year, `from` to `to` inclusive (`MM-DD`), which may wrap the new year: the heating season
    `{from: "11-01", to: "03-31"}` is 1 November to 31 March."""

    from_: str = Field(alias="from")
    to: str

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"write the date as a quoted string \"MM-DD\", not {value!r}")
        _month_day(value)
        return value

    @model_validator(mode="after")
    def _span(self) -> Season:
        if _month_day(self.from_) == _month_day(self.to):
            raise LocatedValueError("`from` and `to` are the same day; a season of one day is not a season", "to")
        return self

    def contains(self, month: int, day: int) -> bool:
        start, end = _month_day(self.from_), _month_day(self.to)
        if start <= end:
            return start <= (month, day) <= end
        return (month, day) >= start or (month, day) <= end


class Schedule(StrictModel):
    """When a rule is active: on these days, between `from` and `to` local time (may wrap past midnight).

    A window that wraps belongs to the day it starts: `days: [fri]`, 22:00–06:00
    is Friday 22:00 to Saturday 06:00. Without `from`/`to` the whole day.
    """

    # A pydantic field (ruff cannot see that `StrictModel` is one): the default is copied per instance.
    days: Annotated[list[Day], Field(min_length=1)] = list(DAYS)  # noqa: RUF012
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    season: Season | None = None
    """Only on the days of this period of the year (local dates), e.g. the heating season."""

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if not isinstance(value, str):
            raise ValueError(f"write the time as a quoted string \"HH:MM\", not {value!r}")
        if value == "24:00" and info.field_name == "from_":
            raise ValueError("a window starts at 00:00, not 24:00")
        _minutes(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _window(self) -> Schedule:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("give both `from` and `to`, or neither (all day)")
        if self.from_ is not None and self.to is not None and _minutes(self.from_) % 1440 == _minutes(self.to) % 1440:
            raise LocatedValueError("`from` and `to` are the same time; leave both out for all day", "to")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def active(self, at: datetime) -> bool:
        """Whether the rule is active at `at` (a naive datetime is taken as UTC, as everywhere in Anju)."""
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        local = moment.astimezone(self.tz)
        if self.season is not None and not self.season.contains(local.month, local.day):
            return False
        today = DAYS[local.weekday()]
        if self.from_ is None or self.to is None:
            return today in self.days
        now = local.hour * 60 + local.minute + local.second / 60
        start, end = _minutes(self.from_), _minutes(self.to)
        if start < end:
            return today in self.days and start <= now < end
        yesterday = DAYS[(local - timedelta(days=1)).weekday()]
        return (today in self.days and now >= start) or (yesterday in self.days and now < end)
