"""Who gets an alert: the grid's patrol team first, then the site's chain, skipping levels nobody staffs.

"小事不出片区、大事不出社区": level 0 is the grid's patrol team; levels 1.. are
the site's escalation chain (community office, street, district). Each level
has a wait and, optionally, a duty roster; a level with a roster and nobody on
duty right now is skipped at once, since waiting on it would only lose time.

Maintenance alerts (a dead battery, a lift out of service) climb a chain of their own instead (property company
→ community → street): at 2 a.m. a low battery must not end up at the district.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db.models import EscalationLevel, Grid, PatrolTeam, Site
from kernel.durations import parse_duration
from kernel.siteconfig import CommunityConfig, DutyShift, NotificationPolicy
from rules.schema import Schedule


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone (or a group) to notify: their phone and their notification targets (SPEC §6)."""

    name: str
    phone: str | None = None
    notify: tuple[str, ...] = ()
    group: bool = False
    """A level's own targets (a group chat, a mailbox), not a person on duty."""


@dataclass(frozen=True, slots=True)
class Shift:
    name: str
    phone: str | None
    schedule: Schedule
    notify: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    wait: timedelta | None
    roster: tuple[Shift, ...] = ()
    notify: tuple[str, ...] = ()
    """The level's own targets (the office's WeCom group), told whoever is on duty."""
    members: tuple[Contact, ...] = ()
    """A team's members: who is told when the team has no roster, and where a shift without targets finds its
    person's."""

    def on_duty(self, at: datetime) -> list[str] | None:
        """Names on duty at `at`; None when the level has no roster (always staffed)."""
        if not self.roster:
            return None
        return [s.name for s in self.roster if s.schedule.active(at)]

    def recipients(self, at: datetime) -> list[Contact]:
        """Who is told when an alert reaches this level at `at`: the people on duty, then the level's own targets.

        A team without a roster is always on duty: every member is told. A shift's phone and targets fall back to
        the member of the same name, so a roster need not repeat them."""
        members = {m.name: m for m in self.members}
        if self.roster:
            people = []
            for shift in self.roster:
                if shift.schedule.active(at):
                    member = members.get(shift.name, Contact(shift.name))
                    people.append(Contact(shift.name, shift.phone or member.phone, shift.notify or member.notify))
        else:
            people = list(self.members)
        if self.notify:
            people.append(Contact(self.name, None, self.notify, group=True))
        return people


DEFAULT_CHAIN: tuple[Level, ...] = (
    Level("网格巡逻 grid patrol", timedelta(minutes=5)),
    Level("社区办公室 community office", timedelta(minutes=10)),
    Level("街道 street", timedelta(minutes=15)),
    Level("区 district", None),
)
"""Used for sites without an `escalation:` list and grids unknown to the site file."""
DEFAULT_CHAIN_ABOVE_GRID = DEFAULT_CHAIN[1:]
DEFAULT_MAINTENANCE_CHAIN: tuple[Level, ...] = (
    Level("物业公司 property company", timedelta(hours=1)),
    Level("社区办公室 community office", timedelta(hours=4)),
    Level("街道 street", None),
)
"""Maintenance alerts of sites without a `maintenance:` chain: slower waits, and never the district."""


@dataclass
class Routing:
    """The escalation levels of every grid of every site, built once from the site file."""

    chains: dict[str, tuple[Level, ...]] = field(default_factory=dict)
    maintenance: dict[str, tuple[Level, ...]] = field(default_factory=dict)
    grids: dict[str, Level] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)
    policies: dict[str, NotificationPolicy] = field(default_factory=dict)
    """Each site's quiet hours and family wait (`alerting.notifications.plan`)."""

    @classmethod
    def from_community(cls, community: CommunityConfig | None) -> Routing:
        routing = cls()
        for site in community.sites if community else []:
            tz = site.timezone
            routing.timezones[site.id] = tz
            routing.policies[site.id] = site.notifications
            routing.chains[site.id] = tuple(_level(lv.name, lv.wait, lv.roster, lv.notify, tz)
                                            for lv in site.escalation) or DEFAULT_CHAIN_ABOVE_GRID
            if site.maintenance:
                routing.maintenance[site.id] = tuple(_level(lv.name, lv.wait, lv.roster, lv.notify, tz)
                                                     for lv in site.maintenance)
            teams = {team.id: team for team in site.teams}
            for grid in site.grids:
                team = teams.get(grid.team or "")
                if team is not None:
                    routing.grids[grid.id] = Level(team.name, parse_duration(grid.wait), _shifts(team.roster, tz),
                                                   members=_members(m.model_dump() for m in team.members))
                else:
                    routing.grids[grid.id] = Level(grid.patrol_team or grid.name, parse_duration(grid.wait),
                                                   _shifts(grid.roster, tz))
        return routing

    @classmethod
    def from_db(cls, session: Session) -> Routing:
        """The chains as stored (site file at start-up, then the API): what every gateway routes by."""
        routing = cls()
        for site in session.scalars(select(Site)):
            routing.timezones[site.id] = site.timezone
            routing.policies[site.id] = _policy(site.notifications)
        chains: dict[tuple[str, str], list[Level]] = {}
        for lv in session.scalars(select(EscalationLevel).order_by(EscalationLevel.site_id, EscalationLevel.chain,
                                                                   EscalationLevel.position)):
            tz = routing.timezones.get(lv.site_id, "Asia/Shanghai")
            chains.setdefault((lv.chain, lv.site_id), []).append(
                _level(lv.name, lv.wait, _roster(lv.roster), lv.notify or [], tz))
        routing.chains = {site: tuple(levels) for (chain, site), levels in chains.items() if chain == "patrol"}
        routing.maintenance = {site: tuple(levels) for (chain, site), levels in chains.items()
                               if chain == "maintenance"}
        teams = {team.id: team for team in session.scalars(select(PatrolTeam))}
        for grid in session.scalars(select(Grid)):
            tz = routing.timezones.get(grid.site_id, "Asia/Shanghai")
            team = teams.get(grid.team_id or "")
            name = team.name if team is not None else (grid.patrol_team or grid.name)
            roster = _shifts(_roster(team.roster), tz) if team is not None else ()
            members = _members(team.members or []) if team is not None else ()
            routing.grids[grid.id] = Level(name, parse_duration(grid.wait or "5m"), roster, members=members)
        return routing

    def levels(self, site: str, grid: str | None, audience: str = "patrol") -> tuple[Level, ...]:
        """Level 0 (the grid's patrol team, or the default first level) and the chain above it; for a
        maintenance alert, the site's maintenance chain."""
        if audience == "maintenance":
            return self.maintenance.get(site, DEFAULT_MAINTENANCE_CHAIN)
        first = self.grids.get(grid or "", DEFAULT_CHAIN[0])
        return (first, *self.chains.get(site, DEFAULT_CHAIN_ABOVE_GRID))

    def policy(self, site: str) -> NotificationPolicy:
        return self.policies.get(site) or DEFAULT_POLICY

    def timezone(self, site: str) -> str:
        return self.timezones.get(site, "Asia/Shanghai")

    def route(self, site: str, grid: str | None, from_level: int, at: datetime,
              audience: str = "patrol") -> tuple[int, list[str]]:
        """The first staffed level at or above `from_level`, and the notes of levels skipped on the way.

        The top level is always returned, staffed or not: an alert never falls off the chain.
        """
        levels = self.levels(site, grid, audience)
        skipped = []
        level = min(from_level, len(levels) - 1)
        while level < len(levels) - 1 and levels[level].on_duty(at) == []:
            skipped.append(f"nobody on duty at {levels[level].name}: passed straight to {levels[level + 1].name}")
            level += 1
        return level, skipped


DEFAULT_POLICY = NotificationPolicy()


def _policy(raw: Any) -> NotificationPolicy:
    """The stored policy; a row written before it existed (or by hand, wrongly) routes by the defaults."""
    try:
        return NotificationPolicy.model_validate(raw) if raw else DEFAULT_POLICY
    except ValueError:
        return DEFAULT_POLICY


def _level(name: str, wait: str | None, roster: list[DutyShift], notify: Sequence[str], tz: str) -> Level:
    return Level(name, parse_duration(wait) if wait else None, _shifts(roster, tz), tuple(notify))


def _members(raw: Iterable[Any]) -> tuple[Contact, ...]:
    return tuple(Contact(str(m["name"]), str(m["phone"]) if m.get("phone") else None,
                         tuple(str(t) for t in m.get("notify") or ()))
                 for m in raw if isinstance(m, dict) and m.get("name"))


def _roster(raw: Sequence[Any]) -> list[DutyShift]:
    return [DutyShift.model_validate(item) for item in raw or []]


def _shifts(roster: list[DutyShift], timezone: str) -> tuple[Shift, ...]:
    return tuple(
        Shift(s.name, s.phone, Schedule.model_validate(
            {k: v for k, v in {"days": s.days, "from": s.from_, "to": s.to, "timezone": timezone}.items()
             if v is not None}), tuple(s.notify))
        for s in roster
    )
