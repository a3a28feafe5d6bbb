"""The office's figures over a period (SPEC §7): how many alerts, how fast they were owned and solved.

Judged on what residents live through, so the definitions are explicit (docs/office.md has them with examples):

- An alert counts in the period it was **raised** in (`created_at` in [since, until)). Alerts folded under an
  outage (`parent_id`) are counted once, as the outage; alerts raised under a silence (maintenance windows)
  are counted as `silenced` and nowhere else: nobody was asked to act on them.
- **Time to acknowledge** is raised → the first person's step: the acknowledgement, or the resolution when a
  person resolved it without acknowledging first. An alert the system resolved (an outage that ended) was never
  acknowledged.
- **Time to resolve** is raised → resolved, whoever resolved it.
- **p50, p90** are nearest-rank percentiles: the smallest time such that at least 50 % (90 %) of the alerts
  took no longer. "90 % were acknowledged within p90" is then literally true.
- **Within target**: an alert is judged once it has an answer or its target has run out without one (at the
  time the report is made, or when the system resolved it): `counted`. `met` are those answered within the
  target of their site and severity (`kernel.siteconfig.ResponseTargets`). An alert still inside its target is
  not judged yet.
- **Escalated**: climbed at least one level above the first responders; **beyond community**: two or more (the
  street or above, in the standard chains).
- **Overdue**: not resolved when the report is made and past its target: `acknowledge` while nobody has
  acknowledged it, else `resolve`.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from alerting.outages import SYSTEM
from kernel.db.models import Alert, Device, Grid, Site
from kernel.siteconfig import ResponseTargets
from kernel.timeutil import utcnow
from kernel.vocabulary import DISPOSITION_LABELS, DISPOSITIONS, SEVERITIES
from office.availability import KindAvailability, by_kind, spans
from office.period import local_days
from office.sites import site_timezone

GroupBy = Literal["site", "grid", "rule", "severity"]
GROUP_BYS: tuple[str, ...] = ("site", "grid", "rule", "severity")
UNSPECIFIED = "unspecified"
"""The disposition of an alert resolved without one (by the system, or before dispositions existed)."""
SEVERITY_LABELS: dict[str, str] = {"critical": "紧急", "major": "重要", "minor": "次要", "warning": "提示"}
NO_GRID = "未分网格"
MAX_OVERDUE = 200
"""Overdue alerts listed per group (the oldest first); `overdue_count` says how many there are in all."""
MAX_PERIOD = timedelta(days=366)
REPORT_COLUMNS = (Alert.id, Alert.site_id, Alert.grid_id, Alert.rule, Alert.severity, Alert.title, Alert.state,
                  Alert.level, Alert.created_at, Alert.acknowledged_at, Alert.resolved_at, Alert.resolved_by,
                  Alert.disposition, Alert.silenced_by)
"""What a report reads of each alert (and `anju bench report` reads bare, as its limit)."""


class Percentiles(BaseModel):
    count: int = Field(description="alerts with a time")
    p50: float | None = Field(description="seconds; None when no alert has a time")
    p90: float | None


class TargetShare(BaseModel):
    met: int
    counted: int = Field(description="alerts judged: answered, or past the target without an answer")
    pct: float | None = Field(description="met / counted × 100, one decimal; None when nothing was judged")


class OverdueAlert(BaseModel):
    id: int
    site: str
    grid: str | None
    rule: str
    severity: str
    title: str
    state: str
    created_at: datetime
    age_seconds: float
    missed: Literal["acknowledge", "resolve"]
    target_seconds: float


class GroupFigures(BaseModel):
    key: str | None = Field(description="the site, grid, rule or severity; None for alerts without a grid, and "
                                        "for the total")
    label: str
    raised: int
    acknowledged: int
    resolved: int
    open: int = Field(description="not resolved when the report was made")
    escalated: int
    beyond_community: int = Field(description="escalated two levels or more (the street or above)")
    silenced: int = Field(description="raised under a silence: counted here only")
    time_to_acknowledge: Percentiles
    time_to_resolve: Percentiles
    acknowledged_within_target: TargetShare
    resolved_within_target: TargetShare
    dispositions: dict[str, int] = Field(description="resolved alerts by disposition, every key present, plus "
                                                     "`unspecified`")
    by_severity: dict[str, int]
    daily: list[int] = Field(description="alerts raised on each day of `days`")
    overdue_count: int
    overdue: list[OverdueAlert] = Field(description=f"the oldest {MAX_OVERDUE} overdue alerts")
    availability: list[KindAvailability] | None = Field(
        default=None, description="devices of this site or grid by kind (grouped by site or grid only)")


class SeverityTargetOut(BaseModel):
    acknowledge_seconds: float
    resolve_seconds: float


class AlertReport(BaseModel):
    since: datetime
    until: datetime
    as_of: datetime = Field(description="when the figures were read: open and overdue are as of then")
    timezone: str
    group_by: GroupBy
    filters: dict[str, str]
    days: list[date]
    targets: dict[str, dict[str, SeverityTargetOut]] = Field(description="site → severity → its targets")
    dispositions: dict[str, str] = Field(description="the disposition vocabulary, key → label")
    total: GroupFigures
    groups: list[GroupFigures]
    availability: list[KindAvailability] = Field(description="every device in the report's scope, by kind")


@dataclass(frozen=True, slots=True)
class ReportQuery:
    since: datetime
    until: datetime
    group_by: GroupBy = "grid"
    site: str | None = None
    grid: str | None = None
    rule: str | None = None
    severity: str | None = None
    timezone: str | None = None
    """For the days of `daily`; default: the site's (or the first site's), else Asia/Shanghai."""

    def check(self) -> None:
        if self.since >= self.until:
            raise ValueError("`from` must be before `to`")
        if self.until - self.since > MAX_PERIOD:
            raise ValueError("a report covers at most 366 days")
        if self.group_by not in GROUP_BYS:
            raise ValueError(f"group_by is one of {', '.join(GROUP_BYS)}")


@dataclass(slots=True)
class _Row:
    id: int
    site: str
    grid: str | None
    rule: str
    severity: str
    title: str
    state: str
    level: int
    created: datetime
    acknowledged: datetime | None
    resolved: datetime | None
    resolved_by: str | None
    disposition: str | None
    silenced: bool


@dataclass(slots=True)
class _Tally:
    """One group's alerts as they are read; `figures` turns them into the published numbers."""

    raised: int = 0
    acknowledged: int = 0
    resolved: int = 0
    open: int = 0
    escalated: int = 0
    beyond_community: int = 0
    silenced: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    resolve_seconds: list[float] = field(default_factory=list)
    ack_met: int = 0
    ack_counted: int = 0
    resolve_met: int = 0
    resolve_counted: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    severities: Counter[str] = field(default_factory=Counter)
    daily: Counter[date] = field(default_factory=Counter)
    overdue: list[OverdueAlert] = field(default_factory=list)


def nearest_rank(values: Sequence[float], pct: float) -> float | None:
    """The smallest value with at least `pct` % of `values` at or below it (`values` sorted)."""
    if not values:
        return None
    return values[max(0, math.ceil(pct / 100.0 * len(values)) - 1)]


def _share(met: int, counted: int) -> TargetShare:
    return TargetShare(met=met, counted=counted, pct=round(100.0 * met / counted, 1) if counted else None)


def _percentiles(values: list[float]) -> Percentiles:
    values.sort()
    p50, p90 = nearest_rank(values, 50), nearest_rank(values, 90)
    return Percentiles(count=len(values), p50=None if p50 is None else round(p50, 3),
                       p90=None if p90 is None else round(p90, 3))


def targets_of(stored: dict[str, Any] | None) -> ResponseTargets:
    """A site's stored targets (`sites.targets`); none, or ones no longer readable, are the defaults."""
    if stored:
        with suppress(ValidationError):  # as written by an older release: the defaults, rather than no report
            return ResponseTargets.model_validate(stored)
    return ResponseTargets()


def site_targets(session: Session, site_ids: Iterable[str]) -> dict[str, ResponseTargets]:
    """Each site's targets; a site without a row has the defaults."""
    result = {site: ResponseTargets() for site in site_ids}
    for site_id, stored in session.execute(select(Site.id, Site.targets).where(Site.id.in_(list(result)))):
        result[site_id] = targets_of(stored)
    return result


Limits = Callable[[str, str], tuple[float, float]]
"""(site, severity) → (acknowledge, resolve) target in seconds."""


def _limits(targets: dict[str, ResponseTargets]) -> Limits:
    """The targets in seconds, parsed once per site and severity of a report, not once per alert."""
    @cache
    def limits(site: str, severity: str) -> tuple[float, float]:
        target = targets[site].of(severity)
        return target.acknowledge_seconds, target.resolve_seconds
    return limits


def _tally(tally: _Tally, row: _Row, limits: Limits, as_of: datetime, zone: ZoneInfo) -> None:
    if row.silenced:
        tally.silenced += 1
        return
    tally.raised += 1
    tally.severities[row.severity] += 1
    tally.daily[row.created.astimezone(zone).date()] += 1
    ack_target, resolve_target = limits(row.site, row.severity)
    by_person = row.resolved is not None and row.resolved_by != SYSTEM
    first = row.acknowledged or (row.resolved if by_person else None)
    if first is not None:
        seconds = (first - row.created).total_seconds()
        tally.acknowledged += 1
        tally.ack_seconds.append(seconds)
        tally.ack_counted += 1
        tally.ack_met += seconds <= ack_target
    elif ((row.resolved or as_of) - row.created).total_seconds() > ack_target:
        tally.ack_counted += 1  # nobody answered within the target
    if row.resolved is not None:
        seconds = (row.resolved - row.created).total_seconds()
        tally.resolved += 1
        tally.resolve_seconds.append(seconds)
        tally.resolve_counted += 1
        tally.resolve_met += seconds <= resolve_target
        tally.dispositions[row.disposition or UNSPECIFIED] += 1
    elif (as_of - row.created).total_seconds() > resolve_target:
        tally.resolve_counted += 1
    if row.level >= 1:
        tally.escalated += 1
    if row.level >= 2:
        tally.beyond_community += 1
    if row.state != "resolved":
        tally.open += 1
        age = (as_of - row.created).total_seconds()
        missed: Literal["acknowledge", "resolve"] | None = None
        limit = 0.0
        if first is None and age > ack_target:
            missed, limit = "acknowledge", ack_target
        elif age > resolve_target:
            missed, limit = "resolve", resolve_target
        if missed is not None:
            tally.overdue.append(OverdueAlert(
                id=row.id, site=row.site, grid=row.grid, rule=row.rule, severity=row.severity, title=row.title,
                state=row.state, created_at=row.created, age_seconds=round(age, 3), missed=missed,
                target_seconds=limit))


def _figures(key: str | None, label: str, tally: _Tally, days: list[date]) -> GroupFigures:
    overdue = sorted(tally.overdue, key=lambda o: (o.created_at, o.id))
    return GroupFigures(
        key=key, label=label, raised=tally.raised, acknowledged=tally.acknowledged, resolved=tally.resolved,
        open=tally.open, escalated=tally.escalated, beyond_community=tally.beyond_community,
        silenced=tally.silenced, time_to_acknowledge=_percentiles(tally.ack_seconds),
        time_to_resolve=_percentiles(tally.resolve_seconds),
        acknowledged_within_target=_share(tally.ack_met, tally.ack_counted),
        resolved_within_target=_share(tally.resolve_met, tally.resolve_counted),
        dispositions={key_: tally.dispositions.get(key_, 0) for key_ in (*DISPOSITIONS, UNSPECIFIED)},
        by_severity={s: tally.severities.get(s, 0) for s in SEVERITIES},
        daily=[tally.daily.get(day, 0) for day in days],
        overdue_count=len(overdue), overdue=overdue[:MAX_OVERDUE])


def _rows(session: Session, query: ReportQuery, scope: ColumnElement[bool]) -> list[_Row]:
    stmt = (select(*REPORT_COLUMNS).where(Alert.created_at >= query.since, Alert.created_at < query.until,
                                   Alert.parent_id.is_(None), scope)
            .order_by(Alert.id))
    for column, value in ((Alert.site_id, query.site), (Alert.grid_id, query.grid), (Alert.rule, query.rule),
                          (Alert.severity, query.severity)):
        if value is not None:
            stmt = stmt.where(column == value)
    return [_Row(id=id_, site=site, grid=grid, rule=rule, severity=severity, title=title, state=state, level=level,
                 created=created, acknowledged=acknowledged, resolved=resolved, resolved_by=resolved_by,
                 disposition=disposition, silenced=silenced_by is not None)
            for (id_, site, grid, rule, severity, title, state, level, created, acknowledged, resolved, resolved_by,
                 disposition, silenced_by) in session.connection().execute(stmt)]


def _key(row: _Row, group_by: str) -> str | None:
    return {"site": row.site, "grid": row.grid, "rule": row.rule, "severity": row.severity}[group_by]


def _labels(session: Session, group_by: str, keys: Iterable[str | None]) -> dict[str | None, str]:
    wanted = [k for k in keys if k is not None]
    if group_by == "grid":
        names = dict(session.execute(select(Grid.id, Grid.name).where(Grid.id.in_(wanted))).all())
    elif group_by == "site":
        names = dict(session.execute(select(Site.id, Site.name).where(Site.id.in_(wanted))).all())
    elif group_by == "severity":
        names = SEVERITY_LABELS
    else:
        names = {}
    return {k: NO_GRID if k is None else names.get(k, k) for k in keys}


def _order(group_by: str, key: str | None, label: str) -> tuple[Any, ...]:
    """Severities most urgent first; others by key in natural order (g2 before g10; Chinese names do not sort as
    people count: 第一, 第三, 第二), the alerts without a grid last."""
    if group_by == "severity":
        return (SEVERITIES.index(key) if key in SEVERITIES else len(SEVERITIES), key or "")
    natural = [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", key or "")]
    return (key is None, natural, label)


def _availability(session: Session, query: ReportQuery, device_scope: ColumnElement[bool], as_of: datetime,
                  group_by: str) -> tuple[list[KindAvailability], dict[str | None, list[KindAvailability]]]:
    stmt = select(Device).where(device_scope).order_by(Device.kind, Device.id)
    if query.site is not None:
        stmt = stmt.where(Device.site_id == query.site)
    if query.grid is not None:
        stmt = stmt.where(Device.grid_id == query.grid)
    devices = list(session.scalars(stmt))
    until = min(query.until, as_of)
    if until <= query.since:
        return [], {}
    device_spans = spans(session, devices, query.since, until)
    per_group: dict[str | None, list[KindAvailability]] = {}
    if group_by in ("site", "grid"):
        members: defaultdict[str | None, list[Device]] = defaultdict(list)
        for device in devices:
            members[device.site_id if group_by == "site" else device.grid_id].append(device)
        per_group = {key: by_kind(group, device_spans) for key, group in members.items()}
    return by_kind(devices, device_spans), per_group


def build_report(session: Session, query: ReportQuery, *, alert_scope: ColumnElement[bool] | None = None,
                 device_scope: ColumnElement[bool] | None = None, as_of: datetime | None = None) -> AlertReport:
    """The report of `query`, over the alerts (and devices) the scopes let the caller see."""
    query.check()
    as_of = as_of or utcnow()
    timezone = query.timezone or site_timezone(session, query.site)
    zone = ZoneInfo(timezone)
    days = local_days(query.since, query.until, timezone)
    rows = _rows(session, query, alert_scope if alert_scope is not None else true())
    targets = site_targets(session, sorted({r.site for r in rows} | ({query.site} if query.site else set())))
    limits = _limits(targets)
    total = _Tally()
    groups: defaultdict[str | None, _Tally] = defaultdict(_Tally)
    for row in rows:
        _tally(total, row, limits, as_of, zone)
        _tally(groups[_key(row, query.group_by)], row, limits, as_of, zone)
    labels = _labels(session, query.group_by, groups)
    availability, per_group = _availability(session, query, device_scope if device_scope is not None else true(),
                                            as_of, query.group_by)
    figures = []
    for key in sorted(groups, key=lambda k: _order(query.group_by, k, labels[k])):
        group = _figures(key, labels[key], groups[key], days)
        if query.group_by in ("site", "grid"):
            group.availability = per_group.get(key, [])
        figures.append(group)
    filters = {name: value for name, value in (("site", query.site), ("grid", query.grid), ("rule", query.rule),
                                               ("severity", query.severity)) if value is not None}
    return AlertReport(
        since=query.since, until=query.until, as_of=as_of, timezone=timezone, group_by=query.group_by,
        filters=filters, days=days,
        targets={site: {sev: SeverityTargetOut(acknowledge_seconds=t.of(sev).acknowledge_seconds,
                                               resolve_seconds=t.of(sev).resolve_seconds) for sev in SEVERITIES}
                 for site, t in targets.items()},
        dispositions={**DISPOSITION_LABELS, UNSPECIFIED: "未填写 not given (resolved by the system or before "
                                                         "dispositions existed)"},
        total=_figures(None, "合计", total, days), groups=figures, availability=availability)
