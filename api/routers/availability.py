"""Availability: uptime and outages per device and per kind over a period (computed by `office.availability`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import Permission, Principal
from api.deps import DB, errors, require
from api.routers._common import Instant, PathId, SiteFilter
from api.visibility import can_see_device, device_filter
from kernel.db.models import Device
from kernel.timeutil import utcnow
from office.availability import KindAvailability, Outage, by_kind, spans

router = APIRouter(tags=["availability"])
Reader = Annotated[Principal, Depends(require(Permission.READINGS_READ))]
DEFAULT_PERIOD = timedelta(days=7)
MAX_PERIOD = timedelta(days=366)


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


class AvailabilityReport(BaseModel):
    since: datetime
    until: datetime
    kinds: list[KindAvailability]
    devices: list[DeviceRow]


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = min(until or utcnow(), utcnow())
    since = since or until - DEFAULT_PERIOD
    if since >= until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`since` must be before `until` (and the past)")
    if until - since > MAX_PERIOD:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the period may be at most 366 days")
    return since, until


@router.get("/devices/{device_id}/availability", response_model=DeviceAvailability, responses=errors(404, 422))
def device_availability(device_id: PathId, session: DB, who: Reader, since: Instant | None = None,
                        until: Instant | None = None) -> DeviceAvailability:
    """One device's uptime and outages over a period (default: the last 7 days)."""
    row = session.get(Device, device_id)
    if row is None or not can_see_device(who, row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
    since, until = _period(since, until)
    span = spans(session, [row], since, until)[row.id]
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
    device_spans = spans(session, devices, since, until)
    rows = [DeviceRow(device_id=d.id, name=d.name, kind=d.kind, site=d.site_id,
                      uptime_pct=device_spans[d.id].uptime_pct, outages=len(device_spans[d.id].outages),
                      offline_seconds=round(device_spans[d.id].offline, 3))
            for d in devices]
    return AvailabilityReport(since=since, until=until, kinds=by_kind(devices, device_spans), devices=rows)
