"""The site configuration file (SPEC §4): the community as an operator describes it.

One YAML file lists sites, their grids (网格) and the devices installed in them.
The gateway loads it into the registry at start-up; the simulators read the same
file, so the simulated community and the registered one can never disagree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kernel.durations import parse_duration

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceConfig(_Strict):
    """One installed device. `location` is free-form (building, unit, room, gate...)."""

    id: str = Field(pattern=ID_PATTERN)
    kind: str
    grid: str | None = None
    zone: str | None = None
    name: str | None = None
    location: dict[str, Any] = Field(default_factory=dict)
    # Extra per-device settings, e.g. the elder's family contacts for a button,
    # or the fence zones a fence host controls.
    attributes: dict[str, Any] = Field(default_factory=dict)


class DutyShift(_Strict):
    """Someone on duty on these days between `from` and `to` (local time; may wrap past midnight)."""

    name: str
    phone: str | None = None
    notify: list[str] = Field(default_factory=list)
    """Notification targets: Apprise URLs (`wecombot://…`, `mailto://…`) or `sms:`/`voice:` numbers (SPEC §6)."""
    days: list[str] | None = None
    """mon..sun; all days when left out."""
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class EscalationLevelConfig(_Strict):
    """One level of the responsibility chain above the grid: community office, street, district."""

    name: str
    wait: str | None = None
    """How long this level has to acknowledge before the next is notified (e.g. 10m); none at the top."""
    roster: list[DutyShift] = Field(default_factory=list)
    """Who is on duty when; an empty roster means the level is always staffed."""
    notify: list[str] = Field(default_factory=list)
    """Told whenever an alert reaches this level, whoever is on duty (the office's WeCom group, its mailbox)."""


class TeamMember(_Strict):
    name: str
    phone: str | None = None
    notify: list[str] = Field(default_factory=list)
    """Apprise URLs or `sms:`/`voice:` numbers; a roster shift of the same name without its own uses these."""


class TeamConfig(_Strict):
    """A patrol team (巡防队) that can cover several grids."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    members: list[TeamMember] = Field(default_factory=list)
    roster: list[DutyShift] = Field(default_factory=list)


Held = Literal["major", "minor", "warning"]
DEFAULT_HELD: tuple[Held, ...] = ("minor", "warning")


class QuietHours(_Strict):
    """Hours in which alerts of the `hold` severities are not sent but kept until the hours end.

    Critical alerts are never held, whatever `hold` says: an elder's SOS at 3 a.m. is why Anju exists."""

    from_: str = Field(alias="from", pattern=CLOCK_PATTERN)
    to: str = Field(pattern=CLOCK_PATTERN)
    hold: list[Held] = Field(default_factory=lambda: list(DEFAULT_HELD))
    """Never `critical`: refused, so a site file cannot look as if it held an SOS back."""

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.from_ == self.to:
            raise ValueError("quiet hours need `from` and `to` to differ")
        return self


class NotificationPolicy(_Strict):
    """Per site: quiet hours, and when an elder's family is told of an SOS (docs/notifications.md)."""

    quiet_hours: QuietHours | None = None
    family_after: str | None = "0s"
    """How long an SOS may stay unacknowledged before the family is told: `0s` at once, `3m` after three minutes
    without an acknowledgement; null: the family is never told by Anju (the patrol calls them)."""


DEFAULT_TARGETS: dict[str, tuple[str, str]] = {
    "critical": ("60s", "1h"),
    "major": ("5m", "4h"),
    "minor": ("30m", "24h"),
    "warning": ("4h", "72h"),
}
"""Severity → (acknowledge within, resolve within). Critical as telecare centres answer an alarm call (within 60 s)
and a worker reaches the door within the hour; major as a property company's emergency repair (answered in 5 min,
on site the same morning); minor and warning as next-day and within-the-week work orders (docs/office.md)."""


class SeverityTarget(_Strict):
    """How soon an alert of one severity should be acknowledged and resolved."""

    acknowledge: str = Field(max_length=32, examples=["60s"], description="a duration: 60s, 5m, 4h")
    resolve: str = Field(max_length=32, examples=["1h"])

    @model_validator(mode="after")
    def _order(self) -> SeverityTarget:
        if parse_duration(self.acknowledge) > parse_duration(self.resolve):
            raise ValueError(f"acknowledge within {self.acknowledge} is longer than resolve within {self.resolve}")
        return self

    @property
    def acknowledge_seconds(self) -> float:
        return parse_duration(self.acknowledge).total_seconds()

    @property
    def resolve_seconds(self) -> float:
        return parse_duration(self.resolve).total_seconds()


def _default(severity: str) -> SeverityTarget:
    acknowledge, resolve = DEFAULT_TARGETS[severity]
    return SeverityTarget(acknowledge=acknowledge, resolve=resolve)


class ResponseTargets(_Strict):
    """Per site: the response targets the office is judged on; a severity or a field left out keeps its default."""

    critical: SeverityTarget = Field(default_factory=lambda: _default("critical"))
    major: SeverityTarget = Field(default_factory=lambda: _default("major"))
    minor: SeverityTarget = Field(default_factory=lambda: _default("minor"))
    warning: SeverityTarget = Field(default_factory=lambda: _default("warning"))

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        """`critical: {acknowledge: 90s}` keeps critical's default resolve target."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for severity, (acknowledge, resolve) in DEFAULT_TARGETS.items():
            given = filled.get(severity)
            if isinstance(given, dict):
                filled[severity] = {"acknowledge": acknowledge, "resolve": resolve, **given}
        return filled

    def of(self, severity: str) -> SeverityTarget:
        """The target of a severity; an unknown one (a rule of a newer release) is judged as `minor`."""
        return getattr(self, severity) if severity in DEFAULT_TARGETS else self.minor


class GridConfig(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    team: str | None = None
    """The id of a team in the site's `teams:`; without it, `patrol_team` and `roster` make a team for this grid."""
    patrol_team: str | None = None
    wait: str = "5m"
    """How long the grid's patrol team has to acknowledge before the chain's first level is notified."""
    roster: list[DutyShift] = Field(default_factory=list)

    @property
    def team_id(self) -> str:
        return self.team or f"{self.id}-team"


class UnitConfig(_Strict):
    """A unit (单元) of a building: a household count is enough."""

    name: str = Field(min_length=1, max_length=64)
    households: int = Field(default=0, ge=0, le=100000)


class BuildingConfig(_Strict):
    """A building (楼) of the site: its units and households, so an equipment alert says whom an outage hurts
    (docs/buildings.md). Equipment devices name the buildings they serve (`attributes.serves: [b20]`), persons the
    building and unit they live in."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    courtyard: str | None = Field(default=None, max_length=200)
    grid: str | None = None
    units: list[UnitConfig] = Field(default_factory=list, max_length=1000)

    @property
    def households(self) -> int:
        return sum(unit.households for unit in self.units)

    @model_validator(mode="after")
    def _units_once(self) -> BuildingConfig:
        names = [unit.name for unit in self.units]
        if len(set(names)) != len(names):
            raise ValueError(f"building {self.id}: a unit is listed twice")
        return self


class PersonConfig(_Strict):
    """A person the rules know (`id` is what face cameras report as `person_id`)."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    grid: str | None = None
    role: str = "resident"
    welfare_check: bool = False
    building: str | None = None
    """The id of a building of the site's `buildings:` the person lives in (docs/buildings.md)."""
    unit: str | None = Field(default=None, max_length=64)
    """A unit of that building, by name (`2单元`)."""
    devices: list[str] = Field(default_factory=list)
    """Elder buttons this person uses."""
    credentials: list[str] = Field(default_factory=list)
    """Gate cards and PINs."""
    plates: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


PatrolDay = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MAX_ROUND = 24 * 3600
"""A round's `duration` is at most a day (seconds): rounds of one route may overlap, not run for days."""


def _duration(value: str, what: str) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return value.strip()


class PatrolPointConfig(_Strict):
    """A patrol point (巡更点): where a printed QR code (and optionally an NFC tag) is fixed (docs/patrol.md).

    Its secret code is not in the file: Anju makes it once (`gateway.registry.apply_site_config`) and keeps it,
    so printed codes stay valid across restarts."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    grid: str | None = None
    location: dict[str, Any] = Field(default_factory=dict)
    nfc_tag: str | None = Field(default=None, min_length=1, max_length=128)
    """The tag's serial number (`04:A2:…`) as the phone reads it; a tag may instead carry the QR code's URL."""


class RoutePointConfig(_Strict):
    """A point of a route: it must be checked within `within` of the round's start."""

    point: str = Field(pattern=ID_PATTERN)
    within: str = "20m"

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        return _duration(value, "within")


class RouteScheduleConfig(_Strict):
    """When a route's rounds start, in the site's time zone."""

    times: list[str] = Field(min_length=1, max_length=48)
    """`HH:MM`, e.g. ["22:00", "02:00"]."""
    days: list[PatrolDay] | None = Field(default=None, min_length=1, max_length=7)
    """mon..sun: the days a round starts (the start's own date); every day when left out."""

    @field_validator("times")
    @classmethod
    def _times(cls, times: list[str]) -> list[str]:
        for time in times:
            if not re.fullmatch(CLOCK_PATTERN, time):
                raise ValueError(f"schedule time {time!r} is not HH:MM (00:00 to 23:59)")
        if len(set(times)) != len(times):
            raise ValueError("a schedule time is listed twice")
        return times


class PatrolRouteConfig(_Strict):
    """A patrol route: its points in order, each with its window, the team that walks it and when."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    team: str | None = None
    """The team that walks it (a team of the site's `teams`, or a grid's own team `<grid>-team`); its
    missed-point and overdue alerts go to that team (docs/patrol.md)."""
    points: list[RoutePointConfig] = Field(min_length=1, max_length=200)
    schedule: RouteScheduleConfig
    duration: str = "1h"
    """A round not complete this long after its start is overdue (at most 24h)."""
    enabled: bool = True

    @model_validator(mode="after")
    def _windows(self) -> PatrolRouteConfig:
        total = parse_duration(_duration(self.duration, f"route {self.id}: duration"))
        if total.total_seconds() > MAX_ROUND:
            raise ValueError(f"route {self.id}: duration {self.duration!r} is longer than 24h")
        seen: set[str] = set()
        for stop in self.points:
            if stop.point in seen:
                raise ValueError(f"route {self.id}: point {stop.point!r} is listed twice")
            seen.add(stop.point)
            if parse_duration(stop.within) > total:
                raise ValueError(f"route {self.id}: point {stop.point!r} has within {stop.within!r}, longer than "
                                 f"the round's duration {self.duration!r}")
        return self


class SiteConfig(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    timezone: str = "Asia/Shanghai"
    address: str | None = None
    teams: list[TeamConfig] = Field(default_factory=list)
    grids: list[GridConfig] = Field(default_factory=list)
    buildings: list[BuildingConfig] = Field(default_factory=list)
    """Buildings, their units and households: who an equipment outage affects (docs/buildings.md)."""
    devices: list[DeviceConfig] = Field(default_factory=list)
    persons: list[PersonConfig] = Field(default_factory=list)
    escalation: list[EscalationLevelConfig] = Field(default_factory=list)
    """The chain above the grids (grid → community → street → district); default: the standard chain."""
    maintenance: list[EscalationLevelConfig] = Field(default_factory=list)
    """The chain of maintenance alerts (property company → community → street), from level 0: a dead battery
    never climbs the patrol chain. Default: `alerting.routing.DEFAULT_MAINTENANCE_CHAIN`."""
    notifications: NotificationPolicy = Field(default_factory=NotificationPolicy)
    targets: ResponseTargets = Field(default_factory=ResponseTargets)
    """Response targets per severity, for the office's reports (docs/office.md)."""
    type_aliases: dict[str, dict[str, str]] = Field(default_factory=dict)
    """kind → {vendor's type name → canonical type}: how this site's firmware names things (docs/tolerance.md).
    Checked against the drivers when the file is applied (`gateway.registry.apply_site_config`)."""
    patrol_points: list[PatrolPointConfig] = Field(default_factory=list)
    """Patrol points with their QR codes (docs/patrol.md)."""
    patrol_routes: list[PatrolRouteConfig] = Field(default_factory=list)
    """Rounds: ordered points with their windows, the team and its schedule (docs/patrol.md)."""

    @model_validator(mode="after")
    def _patrol_refs(self) -> SiteConfig:
        """Routes name this site's points and teams, points this site's grids; ids are not listed twice."""
        grids = {grid.id for grid in self.grids}
        teams = {team.id for team in self.teams} | {grid.team_id for grid in self.grids}
        points: set[str] = set()
        for point in self.patrol_points:
            if point.id in points:
                raise ValueError(f"site {self.id}: patrol point {point.id!r} is listed twice")
            points.add(point.id)
            if point.grid is not None and point.grid not in grids:
                raise ValueError(f"patrol point {point.id}: grid {point.grid!r} is not a grid of site {self.id!r}")
        routes: set[str] = set()
        for route in self.patrol_routes:
            if route.id in routes:
                raise ValueError(f"site {self.id}: patrol route {route.id!r} is listed twice")
            routes.add(route.id)
            if route.team is not None and route.team not in teams:
                raise ValueError(f"patrol route {route.id}: team {route.team!r} is not a team of site {self.id!r}")
            for stop in route.points:
                if stop.point not in points:
                    raise ValueError(f"patrol route {route.id}: {stop.point!r} is not a patrol point of site "
                                     f"{self.id!r}")
        return self


class CommunityConfig(_Strict):
    """The whole file."""

    sites: list[SiteConfig]


YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (the wheels are): the same safe loading, several times faster on
a district's site file (docs/architecture.md#measured-decisions)."""


def load_site_config(path: str | Path) -> CommunityConfig:
    """Read and validate a site configuration file; raises `ValueError` on bad input."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=YAML_LOADER)  # a safe loader, libyaml's when available
    return CommunityConfig.model_validate(raw)


def sample_community_path() -> Path:
    """The sample community shipped with Anju and used by `anju demo`."""
    return Path(__file__).resolve().parent / "data" / "sample_community.yaml"
