"""Who gets an alert: the grid's patrol team first, then the site's chain, skipping levels nobody staffs.

"小事不出片区、大事不出社区": level 0 is the grid's patrol team; levels 1.. are
the site's escalation chain (community office, street, district). Each level
has a wait and, optionally, a duty roster; a level with a roster and nobody on
duty right now is skipped at once, since waiting on it would only lose time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db.models import EscalationLevel, Grid, PatrolTeam, Site
from kernel.durations import parse_duration
from kernel.siteconfig import CommunityConfig, DutyShift
from rules.schema import Schedule


@dataclass(frozen=True, slots=True)
class Shift:
    name: str
    phone: str | None
    schedule: Schedule


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    wait: timedelta | None
    roster: tuple[Shift, ...] = ()

    def on_duty(self, at: datetime) -> list[str] | None:
        """Names on duty at `at`; None when the level has no roster (always staffed)."""
        if not self.roster:
            return None
        return [s.name for s in self.roster if s.schedule.active(at)]


DEFAULT_CHAIN: tuple[Level, ...] = (
    Level("网格巡逻 grid patrol", timedelta(minutes=5)),
    Level("社区办公室 community office", timedelta(minutes=10)),
    Level("街道 street", timedelta(minutes=15)),
    Level("区 district", None),
)
"""Used for sites without an `escalation:` list and grids unknown to the site file."""
DEFAULT_CHAIN_ABOVE_GRID = DEFAULT_CHAIN[1:]


@dataclass
class Routing:
    """The escalation levels of every grid of every site, built once from the site file."""

    chains: dict[str, tuple[Level, ...]] = field(default_factory=dict)
    grids: dict[str, Level] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_community(cls, community: CommunityConfig | None) -> Routing:
        routing = cls()
        for site in community.sites if community else []:
            tz = site.timezone
            routing.timezones[site.id] = tz
            routing.chains[site.id] = tuple(
                Level(lv.name, parse_duration(lv.wait) if lv.wait else None, _shifts(lv.roster, tz))
                for lv in site.escalation
            ) or DEFAULT_CHAIN_ABOVE_GRID
            for grid in site.grids:
                routing.grids[grid.id] = Level(grid.patrol_team or grid.name, parse_duration(grid.wait),
                                               _shifts(grid.roster, tz))
        return routing

    @classmethod
    def from_db(cls, session: Session) -> Routing:
        """The chains as stored (site file at start-up, then the API): what every gateway routes by."""
        routing = cls()
        for site in session.scalars(select(Site)):
            routing.timezones[site.id] = site.timezone
        chains: dict[str, list[Level]] = {}
        for lv in session.scalars(select(EscalationLevel).order_by(EscalationLevel.site_id, EscalationLevel.position)):
            tz = routing.timezones.get(lv.site_id, "Asia/Shanghai")
            chains.setdefault(lv.site_id, []).append(
                Level(lv.name, parse_duration(lv.wait) if lv.wait else None, _shifts(_roster(lv.roster), tz)))
        routing.chains = {site: tuple(levels) for site, levels in chains.items()}
        teams = {team.id: team for team in session.scalars(select(PatrolTeam))}
        for grid in session.scalars(select(Grid)):
            tz = routing.timezones.get(grid.site_id, "Asia/Shanghai")
            team = teams.get(grid.team_id or "")
            name = team.name if team is not None else (grid.patrol_team or grid.name)
            roster = _shifts(_roster(team.roster), tz) if team is not None else ()
            routing.grids[grid.id] = Level(name, parse_duration(grid.wait or "5m"), roster)
        return routing

    def levels(self, site: str, grid: str | None) -> tuple[Level, ...]:
        """Level 0 (the grid's patrol team, or the default first level) and the chain above it."""
        first = self.grids.get(grid or "", DEFAULT_CHAIN[0])
        return (first, *self.chains.get(site, DEFAULT_CHAIN_ABOVE_GRID))

    def route(self, site: str, grid: str | None, from_level: int, at: datetime) -> tuple[int, list[str]]:
        """The first staffed level at or above `from_level`, and the notes of levels skipped on the way.

        The top level is always returned, staffed or not: an alert never falls off the chain.
        """
        levels = self.levels(site, grid)
        skipped = []
        level = min(from_level, len(levels) - 1)
        while level < len(levels) - 1 and levels[level].on_duty(at) == []:
            skipped.append(f"nobody on duty at {levels[level].name}: passed straight to {levels[level + 1].name}")
            level += 1
        return level, skipped


def _roster(raw: Sequence[Any]) -> list[DutyShift]:
    return [DutyShift.model_validate(item) for item in raw or []]


def _shifts(roster: list[DutyShift], timezone: str) -> tuple[Shift, ...]:
    return tuple(
        Shift(s.name, s.phone, Schedule.model_validate(
            {k: v for k, v in {"days": s.days, "from": s.from_, "to": s.to, "timezone": timezone}.items()
             if v is not None}))
        for s in roster
    )
