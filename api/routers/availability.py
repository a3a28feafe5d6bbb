"""Availability: uptime and outages per device and per kind over a period, from the stored transitions.

Computed from the `device_online` / `device_offline` events the gateway records
(on status messages, wills, traffic and its offline timer), so it needs no
sampling and works for any period the events are kept. The state at `since` is
the last transition before it; a device never heard from before or during the
period is not counted (its time is unknown, not up or down). An outage still
going on at `until` has `end: null`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Permission, Principal
from api.deps import DB, errors, require
from api.routers._common import Instant, PathId, SiteFilter
from api.visibility import can_see_device, device_filter
from kernel.db.models import Device, Event
from kernel.observations import DEVICE_OFFLINE, DEVICE_ONLINE
from kernel.timeutil import utcnow

router = APIRouter(tags=["availability"])
Reader = Annotated[Principal, Depends(require(Permission.READINGS_READ))]
DEFAULT_PERIOD = timedelta(days=7)
MAX_PERIOD = timedelta(days=366)


class Outage(BaseModel):
    start: datetime
    end: datetime | None = Field(description="None: still offline at `until`")
    seconds: float = Field(description="offline time inside the period")


class DeviceAvailability(BaseModel):
    device_id: str
    since: datetime
    until: datetime
    uptime_pct: float | None = Field(description="online share of the known time; None when nothing is known")
    outages: list[Outage]


class DeviceRow(BaseModel):
    device_id: str
    name: str | None
    kind: str
    site: str
    uptime_pct: float | None
    outages: int
    offline_seconds: float


class KindRow(BaseModel):
    kind: str
    devices: int
    uptime_pct: float | None = Field(description="online share of the known time of all its devices")
    outages: int


class AvailabilityReport(BaseModel):
    since: datetime
    until: datetime
    kinds: list[KindRow]
    devices: list[DeviceRow]


class _Span:
    """One device's known, online and offline time in the period, and its outages."""

    def __init__(self) -> None:
        self.known = 0.0
        self.offline = 0.0
        self.outages: list[Outage] = []

    @property
    def uptime_pct(self) -> float | None:
        return round(100.0 * (self.known - self.offline) / self.known, 3) if self.known > 0 else None


def _span(before: str | None, transitions: Iterable[tuple[datetime, str]], since: datetime,
          until: datetime) -> _Span:
    """Walk the transitions in the period (oldest first), from the state `before` it (None: unknown)."""
    span = _Span()
    if before == DEVICE_OFFLINE:  # already offline when the period starts
        span.outages.append(Outage(start=since, end=None, seconds=0.0))

    def elapse(state: str | None, start: datetime, end: datetime) -> None:
        if state is not None:
            span.known += (end - start).total_seconds()
            if state == DEVICE_OFFLINE:
                span.offline += (end - start).total_seconds()
                span.outages[-1].seconds = round((end - span.outages[-1].start).total_seconds(), 3)

    state, at = before, since
    for ts, type_ in transitions:
        ts = min(max(ts, since), until)
        elapse(state, at, ts)
        if type_ == DEVICE_OFFLINE and state != DEVICE_OFFLINE:
            span.outages.append(Outage(start=ts, end=None, seconds=0.0))
        elif type_ == DEVICE_ONLINE and state == DEVICE_OFFLINE:
            span.outages[-1].end = ts
        state, at = type_, ts
    elapse(state, at, until)
    return span


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = min(until or utcnow(), utcnow())
    since = since or until - DEFAULT_PERIOD
    if since >= until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`since` must be before `until` (and the past)")
    if until - since > MAX_PERIOD:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the period may be at most 366 days")
    return since, until


def _spans(session: Session, devices: list[Device], since: datetime, until: datetime) -> dict[str, _Span]:
    ids = [d.id for d in devices]
    types = (DEVICE_ONLINE, DEVICE_OFFLINE)
    before: dict[str, str] = {}
    during: dict[str, list[tuple[datetime, str]]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        # The state at `since`: each device's last transition before it.
        for device_id, type_, _ts in session.execute(
                select(Event.device_id, Event.type, Event.ts)
                .where(Event.device_id.in_(chunk), Event.type.in_(types), Event.ts < since)
                .order_by(Event.device_id, Event.ts, Event.id)):
            before[device_id] = type_
        for device_id, type_, ts in session.execute(
                select(Event.device_id, Event.type, Event.ts)
                .where(Event.device_id.in_(chunk), Event.type.in_(types), Event.ts >= since, Event.ts <= until)
                .order_by(Event.device_id, Event.ts, Event.id)):
            during[device_id].append((ts, type_))
    return {i: _span(before.get(i), during[i], since, until) for i in ids}


@router.get("/devices/{device_id}/availability", response_model=DeviceAvailability, responses=errors(404, 422))
def device_availability(device_id: PathId, session: DB, who: Reader, since: Instant | None = None,
                        until: Instant | None = None) -> DeviceAvailability:
    """One device's uptime and outages over a period (default: the last 7 days)."""
    row = session.get(Device, device_id)
    if row is None or not can_see_device(who, row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
    since, until = _period(since, until)
    span = _spans(session, [row], since, until)[row.id]
    return DeviceAvailability(device_id=row.id, since=since, until=until, uptime_pct=span.uptime_pct,
                              outages=span.outages)


@router.get("/availability", response_model=AvailabilityReport, responses=errors(422))
def availability(session: DB, who: Reader, site: SiteFilter = None,
                 kind: Annotated[str | None, Query(max_length=64)] = None,
                 since: Instant | None = None, until: Instant | None = None) -> AvailabilityReport:
    """Uptime and outages per kind and per device over a period (default: the last 7 days)."""
    since, until = _period(since, until)
    stmt = select(Device).where(device_filter(who)).order_by(Device.kind, Device.id)
    if site is not None:
        stmt = stmt.where(Device.site_id == site)
    if kind is not None:
        stmt = stmt.where(Device.kind == kind)
    devices = list(session.scalars(stmt))
    spans = _spans(session, devices, since, until)
    rows = [DeviceRow(device_id=d.id, name=d.name, kind=d.kind, site=d.site_id, uptime_pct=spans[d.id].uptime_pct,
                      outages=len(spans[d.id].outages), offline_seconds=round(spans[d.id].offline, 3))
            for d in devices]
    kinds: list[KindRow] = []
    for k in sorted({d.kind for d in devices}):
        mine = [spans[d.id] for d in devices if d.kind == k]
        known = sum(s.known for s in mine)
        offline = sum(s.offline for s in mine)
        kinds.append(KindRow(kind=k, devices=len(mine), outages=sum(len(s.outages) for s in mine),
                             uptime_pct=round(100.0 * (known - offline) / known, 3) if known > 0 else None))
    return AvailabilityReport(since=since, until=until, kinds=kinds, devices=rows)
