"""Who gets an alert: the grid's patrol team first, then the site's chain, skipping levels nobody staffs.

"小事不出片区、大事不出社区": level 0 is the grid's patrol team; levels 1.. are
the site's escalation chain (community office, street, district). Each level
has a wait and, optionally, a duty roster; a level with a roster and nobody on
duty right now is skipped at once, since waiting on it would only lose time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from anju.siteconfig import CommunityConfig, DutyShift
from rules.durations import parse_duration
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




def _shifts(roster: list[DutyShift], timezone: str) -> tuple[Shift, ...]:
    return tuple(
        Shift(s.name, s.phone, Schedule.model_validate(
            {k: v for k, v in {"days": s.days, "from": s.from_, "to": s.to, "timezone": timezone}.items()
             if v is not None}))
        for s in roster
    )
