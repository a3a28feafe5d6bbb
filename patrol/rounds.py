"""Rounds (巡更): made when a route's schedule time comes, closed when complete or overdue, on the gateway's clock.

A route lists points, each with a window (`within` of the round's start), a team and a schedule in the site's
time zone. `RoundKeeper` ticks with the gateway (every `interval`):

1. **Make** (`open_due_rounds`): for each enabled route, each scheduled start whose round would still be
   running now (start ≤ now < start + duration) gets its round, with a copy of the route's points. The unique
   index on (route, start) makes it once whatever the number of gateways (`INSERT … ON CONFLICT DO NOTHING`);
   a gateway started (or a route created) during a round still makes it; a round that began and ended while
   no gateway ran is not made.
2. **Sweep** (`sweep`): each open round with something due is locked (`FOR UPDATE SKIP LOCKED`: one gateway
   acts) and
   - every point whose window ran out unchecked is added to `missed` and raises its `patrol-point-missed`
     alert (once: the point is in `missed` from then on, and the alert's dedup key is per round and point);
   - past its duration the round is `completed` if every point was checked, else `incomplete` and it raises
     its `patrol-round-overdue` alert.
3. A check-in that checks a round's last point completes it at once (`complete_if_done`, from
   `patrol.checkins`), also an `incomplete` round whose points were checked in time by a phone that was
   offline until later (the alerts already raised stay: they were true when raised).

The alerts are raised through the rule engine (`RuleEngine.raise_spec`): routed to the grid of the route's
team (its first grid; else the point's grid), so the team is told first and the alert climbs the site's
chain, with silences, notifications and the live stream as for any alert.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.alerts import AlertChange, AlertSpec
from kernel.db.engine import affected, upsert_insert
from kernel.db.models import Grid, PatrolCheckin, PatrolPoint, PatrolRound, PatrolRoute, PatrolTeam, Site
from kernel.durations import parse_duration
from kernel.ports import GatewayPort, Sessions

log = logging.getLogger(__name__)

KIND = "patrol_round"
RULE_MISSED = "patrol-point-missed"
RULE_OVERDUE = "patrol-round-overdue"
TYPE_MISSED = "patrol_point_missed"
TYPE_OVERDUE = "patrol_round_overdue"
SEVERITY_MISSED = "minor"
"""A point skipped is a lapse the team leader follows up; quiet hours may hold it (docs/patrol.md)."""
SEVERITY_OVERDUE = "major"
"""A round not done may be a patrol member in trouble at night: major, which the default quiet hours never hold."""
OPEN, COMPLETED, INCOMPLETE = "open", "completed", "incomplete"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
INTERVAL = timedelta(seconds=2)
"""How often the keeper looks at the schedules and the open rounds (each look is a few small queries)."""
DEFAULT_ZONE = "Asia/Shanghai"


class AlertSink(Protocol):
    """What the keeper needs of the rule engine: raise an alert through the lifecycle, announce after commit."""

    def raise_spec(self, session: Session, spec: AlertSpec, now: datetime) -> AlertChange: ...

    def deliver(self, changes: list[AlertChange]) -> None: ...


# -- schedules ------------------------------------------------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo:
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(name or DEFAULT_ZONE)
    return ZoneInfo(DEFAULT_ZONE)


def running_starts(schedule: dict[str, Any], duration: timedelta, zone: ZoneInfo, now: datetime) -> list[datetime]:
    """The starts (UTC) of a schedule's rounds that are running at `now`: start ≤ now < start + duration.

    Times are wall-clock times in the site's zone on the days listed (all days when none), so a round at 22:00
    starts at 22:00 local time on each side of a daylight-saving change. Durations are at most a day, so today's
    and yesterday's times are enough."""
    times = schedule.get("times") or []
    days = schedule.get("days") or None
    today = now.astimezone(zone).date()
    found = set()
    for day in (today, today - timedelta(days=1)):
        if days and DAYS[day.weekday()] not in days:
            continue
        for text in times:
            start = _local(day, str(text), zone)
            if start is not None and start <= now < start + duration:
                found.add(start)
    return sorted(found)


def _local(day: date, text: str, zone: ZoneInfo) -> datetime | None:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        return datetime.combine(day, time(hours, minutes), tzinfo=zone).astimezone(UTC)
    except ValueError:
        return None


def route_duration(route: PatrolRoute) -> timedelta | None:
    try:
        return parse_duration(route.duration or "1h")
    except ValueError:
        return None


def _within(stop: dict[str, Any]) -> timedelta:
    try:
        return parse_duration(str(stop.get("within") or "20m"))
    except ValueError:
        return timedelta(minutes=20)


def open_due_rounds(session: Session, now: datetime, route_ids: Collection[str] | None = None) -> int:
    """Make the rounds whose start has come and which are still running (idempotent); returns how many this
    call made. Only the missing ones are inserted: nothing is written when every round exists (on SQLite a
    write on every tick would take the database's one write lock)."""
    query = select(PatrolRoute).where(PatrolRoute.enabled.is_(True))
    if route_ids is not None:
        query = query.where(PatrolRoute.id.in_(sorted(route_ids)))
    routes = list(session.scalars(query))
    if not routes:
        return 0
    zones = {site: _zone(tz) for site, tz in session.execute(select(Site.id, Site.timezone))}
    wanted: dict[tuple[str, datetime], PatrolRoute] = {}
    for route in routes:
        duration = route_duration(route)
        if duration is None or not route.points:
            continue
        schedule = route.schedule if isinstance(route.schedule, dict) else {}
        for start in running_starts(schedule, duration, zones.get(route.site_id, _zone(None)), now):
            wanted[(route.id, start)] = route
    if not wanted:
        return 0
    earliest = min(start for _, start in wanted)
    existing = {(route_id, start) for route_id, start in session.execute(
        select(PatrolRound.route_id, PatrolRound.starts_at).where(
            PatrolRound.route_id.in_(sorted({r for r, _ in wanted})), PatrolRound.starts_at >= earliest))}
    made = 0
    for (route_id, start), route in sorted(wanted.items(), key=lambda item: item[0][1]):
        if (route_id, start) in existing:
            continue
        duration = route_duration(route) or timedelta(hours=1)
        stmt = upsert_insert(session, PatrolRound).values(
            route_id=route_id, site_id=route.site_id, team_id=route.team_id, starts_at=start,
            due_at=start + duration, state=OPEN, completed_at=None, missed=[],
            points=[{"point": str(p.get("point")), "within": str(p.get("within") or "20m")}
                    for p in route.points if isinstance(p, dict)],
        ).on_conflict_do_nothing(index_elements=[PatrolRound.route_id, PatrolRound.starts_at])
        made += affected(session.execute(stmt))
    if made:
        log.info("patrol: %d round(s) started", made)
    return made


# -- the state of a round -------------------------------------------------------------------------------------


def round_points(round_: PatrolRound) -> list[str]:
    return [str(p.get("point")) for p in round_.points or [] if isinstance(p, dict)]


def deadlines(round_: PatrolRound) -> dict[str, datetime]:
    """point → when its window runs out."""
    return {str(p.get("point")): round_.starts_at + _within(p) for p in round_.points or [] if isinstance(p, dict)}


def checked_points(session: Session, round_ids: Iterable[int]) -> dict[int, dict[str, datetime]]:
    """round → point → its first check-in's time."""
    out: dict[int, dict[str, datetime]] = {}
    ids = sorted(set(round_ids))
    if not ids:
        return out
    rows = session.execute(select(PatrolCheckin.round_id, PatrolCheckin.point_id, PatrolCheckin.at)
                           .where(PatrolCheckin.round_id.in_(ids)))
    for round_id, point, at in rows:
        if round_id is None:
            continue
        points = out.setdefault(round_id, {})
        if point not in points or at < points[point]:
            points[point] = at
    return out


def complete_if_done(session: Session, round_: PatrolRound, now: datetime) -> bool:
    """Mark the round completed if every point has a check-in within its duration (the caller holds its lock);
    True when this call completed it."""
    if round_.state == COMPLETED:
        return False
    checked = checked_points(session, [round_.id]).get(round_.id, {})
    points = round_points(round_)
    if not points or any(p not in checked or checked[p] > round_.due_at for p in points):
        return False
    round_.state, round_.completed_at = COMPLETED, max(checked[p] for p in points)
    log.info("patrol: round %s of %s completed", round_.id, round_.route_id)
    return True


# -- sweeping: missed points and overdue rounds -----------------------------------------------------------------


@dataclass(slots=True)
class _Names:
    routes: dict[str, str]
    points: dict[str, PatrolPoint]
    team_grid: dict[str, str]
    zones: dict[str, ZoneInfo]


def _names(session: Session, rounds: list[PatrolRound]) -> _Names:
    route_ids = sorted({r.route_id for r in rounds})
    point_ids = sorted({p for r in rounds for p in round_points(r)})
    team_ids = sorted({r.team_id for r in rounds if r.team_id})
    routes = {route: name for route, name in session.execute(
        select(PatrolRoute.id, PatrolRoute.name).where(PatrolRoute.id.in_(route_ids)))}
    points = {p.id: p for p in session.scalars(select(PatrolPoint).where(PatrolPoint.id.in_(point_ids)))}
    team_grid: dict[str, str] = {}
    for team, grid in session.execute(select(Grid.team_id, Grid.id).where(Grid.team_id.in_(team_ids))
                                      .order_by(Grid.id)):
        if team is not None:
            team_grid.setdefault(team, grid)
    zones = {site: _zone(tz) for site, tz in session.execute(
        select(Site.id, Site.timezone).where(Site.id.in_(sorted({r.site_id for r in rounds}))))}
    return _Names(routes, points, team_grid, zones)


def _grid(names: _Names, round_: PatrolRound, point: str | None) -> str | None:
    """The grid an alert of this round is routed by: the team's first grid (so its team is told), else the
    point's (or the first point's) grid."""
    if round_.team_id and round_.team_id in names.team_grid:
        return names.team_grid[round_.team_id]
    for candidate in ([point] if point else []) + round_points(round_):
        row = names.points.get(candidate)
        if row is not None and row.grid_id:
            return row.grid_id
    return None


def _round_label(names: _Names, round_: PatrolRound) -> str:
    local = round_.starts_at.astimezone(names.zones.get(round_.site_id, _zone(None)))
    return f"{names.routes.get(round_.route_id, round_.route_id)} {local:%H:%M}"


def missed_spec(names: _Names, round_: PatrolRound, point: str, deadline: datetime) -> AlertSpec:
    row = names.points.get(point)
    name = row.name if row is not None else point
    return AlertSpec(
        rule=RULE_MISSED, type=TYPE_MISSED, severity=SEVERITY_MISSED, kind=KIND, audience="patrol",
        title=f"巡更漏检：{name}（{_round_label(names, round_)}）", site=round_.site_id,
        grid=_grid(names, round_, point), dedup_key=f"{RULE_MISSED}|{round_.id}|{point}",
        evidence={"round_id": round_.id, "route": round_.route_id, "route_name": names.routes.get(round_.route_id),
                  "team": round_.team_id, "point": point, "point_name": name,
                  "location": dict(row.location or {}) if row is not None else {},
                  "starts_at": round_.starts_at.isoformat(), "deadline": deadline.isoformat()})


def overdue_spec(names: _Names, round_: PatrolRound, unchecked: list[str], total: int) -> AlertSpec:
    missing = [names.points[p].name if p in names.points else p for p in unchecked]
    return AlertSpec(
        rule=RULE_OVERDUE, type=TYPE_OVERDUE, severity=SEVERITY_OVERDUE, kind=KIND, audience="patrol",
        title=f"巡更超时未完成：{_round_label(names, round_)}（{total - len(unchecked)}/{total} 点）",
        site=round_.site_id, grid=_grid(names, round_, None), dedup_key=f"{RULE_OVERDUE}|{round_.id}",
        evidence={"round_id": round_.id, "route": round_.route_id, "route_name": names.routes.get(round_.route_id),
                  "team": round_.team_id, "starts_at": round_.starts_at.isoformat(),
                  "due_at": round_.due_at.isoformat(), "unchecked": unchecked, "unchecked_names": missing,
                  "checked": total - len(unchecked), "total": total})


def _needs_action(round_: PatrolRound, now: datetime) -> bool:
    if round_.due_at <= now:
        return True
    missed = set(round_.missed or [])
    return any(deadline <= now and point not in missed for point, deadline in deadlines(round_).items())


def sweep(session: Session, now: datetime, sink: AlertSink) -> list[AlertChange]:
    """Missed points and overdue rounds (see the module's docstring); returns the alert changes to deliver
    after the commit."""
    candidates = [r.id for r in session.scalars(select(PatrolRound).where(PatrolRound.state == OPEN))
                  if _needs_action(r, now)]
    if not candidates:
        return []
    rounds = list(session.scalars(select(PatrolRound).where(PatrolRound.id.in_(candidates), PatrolRound.state == OPEN)
                                  .order_by(PatrolRound.id).with_for_update(skip_locked=True)))
    if not rounds:
        return []
    names = _names(session, rounds)
    checked = checked_points(session, [r.id for r in rounds])
    changes: list[AlertChange] = []
    for round_ in rounds:
        done = checked.get(round_.id, {})
        if complete_if_done(session, round_, now):
            continue
        missed = list(round_.missed or [])
        for point, deadline in deadlines(round_).items():
            if deadline <= now and point not in done and point not in missed:
                missed.append(point)
                with session.begin_nested():
                    changes.append(sink.raise_spec(session, missed_spec(names, round_, point, deadline), now))
        round_.missed = missed
        if round_.due_at <= now:
            points = round_points(round_)
            unchecked = [p for p in points if p not in done or done[p] > round_.due_at]
            round_.state = INCOMPLETE
            with session.begin_nested():
                changes.append(sink.raise_spec(session, overdue_spec(names, round_, unchecked, len(points)), now))
            log.info("patrol: round %s of %s overdue, %d of %d points unchecked", round_.id, round_.route_id,
                     len(unchecked), len(points))
    session.flush()
    return changes


class RoundKeeper:
    """Makes and closes rounds on a gateway's clock (see the module's docstring)."""

    def __init__(self, sink: AlertSink, interval: timedelta = INTERVAL) -> None:
        self.sink = sink
        self.interval = interval
        self._last: datetime | None = None

    def attach(self, gateway: GatewayPort) -> None:
        gateway.add_ticker(lambda now: self.tick(gateway.sessions, now))

    def tick(self, sessions: Sessions, now: datetime, force: bool = False) -> None:
        """One look (at most every `interval`, unless `force`); never raises: a failure is logged and the next
        look tries again, so one broken route cannot stop the gateway's other tickers."""
        if not force and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        try:
            with sessions.begin() as session:
                open_due_rounds(session, now)
                changes = sweep(session, now, self.sink)
        except Exception:
            log.exception("patrol rounds: tick failed (tried again in %s)", self.interval)
            return
        if changes:
            self.sink.deliver(changes)


# -- what the API shows -----------------------------------------------------------------------------------------


def rounds_json(session: Session, rounds: list[PatrolRound], now: datetime) -> list[dict[str, Any]]:
    """Rounds with their points' states: `checked` (in its window), `late` (checked after it), `missed` (its
    window ran out unchecked), `pending`; with who checked each and when, and whether its alert was raised."""
    if not rounds:
        return []
    names = _names(session, rounds)
    teams = {team: name for team, name in session.execute(select(PatrolTeam.id, PatrolTeam.name).where(
        PatrolTeam.id.in_(sorted({r.team_id for r in rounds if r.team_id}))))}
    firsts: dict[int, dict[str, PatrolCheckin]] = {}
    members: dict[int, list[str]] = {}
    for checkin in session.scalars(select(PatrolCheckin).where(PatrolCheckin.round_id.in_([r.id for r in rounds]))
                                   .order_by(PatrolCheckin.at, PatrolCheckin.id)):
        assert checkin.round_id is not None
        firsts.setdefault(checkin.round_id, {}).setdefault(checkin.point_id, checkin)
        seen = members.setdefault(checkin.round_id, [])
        if checkin.member not in seen:
            seen.append(checkin.member)
    out = []
    for round_ in rounds:
        alerted = set(round_.missed or [])
        points = []
        for stop in round_.points or []:
            point = str(stop.get("point"))
            deadline = round_.starts_at + _within(stop)
            first = firsts.get(round_.id, {}).get(point)
            if first is not None:
                state = "checked" if first.at <= deadline else "late"
            elif point in alerted or deadline <= now or round_.state != OPEN:
                state = "missed"
            else:
                state = "pending"
            row = names.points.get(point)
            points.append({
                "point": point, "name": row.name if row is not None else point,
                "grid": row.grid_id if row is not None else None,
                "location": dict(row.location or {}) if row is not None else {},
                "within": stop.get("within"), "deadline": deadline.isoformat(), "state": state,
                "alerted": point in alerted,
                "at": first.at.isoformat() if first is not None else None,
                "member": first.member if first is not None else None,
                "method": first.method if first is not None else None})
        out.append({
            "id": round_.id, "route": round_.route_id, "route_name": names.routes.get(round_.route_id),
            "site": round_.site_id, "team": round_.team_id, "team_name": teams.get(round_.team_id or ""),
            "starts_at": round_.starts_at.isoformat(), "due_at": round_.due_at.isoformat(), "state": round_.state,
            "completed_at": round_.completed_at.isoformat() if round_.completed_at else None,
            "checked": sum(1 for p in points if p["state"] in ("checked", "late")), "total": len(points),
            "missed": list(round_.missed or []), "members": members.get(round_.id, []), "points": points})
    return out
