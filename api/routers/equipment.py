"""Buildings and their equipment: lifts, water and heating per building, and the outages with whom they affected.

Equipment is the building kinds (`elevator`, `water`, `heating`) and any device whose `attributes.serves` names
buildings (docs/buildings.md). A device's status is its latest readings (`devices.readings`, kept by the
gateway with every telemetry message: no time-series query); a device serving several buildings (a pump room,
a heating substation) is listed under each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from alerting.affected import EQUIPMENT_KINDS, BuildingInfo, affected_of, has_serves, served_buildings
from api.auth import Permission, Principal, Role
from api.deps import DB, errors, require
from api.routers._common import ConfigReader, Instant, SiteFilter
from api.visibility import alert_filter, device_filter
from kernel.db.models import Alert, Building, Device, Event
from kernel.timeutil import utcnow

router = APIRouter(tags=["equipment"])
DevicesReader = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]
AlertsReader = Annotated[Principal, Depends(require(Permission.ALERTS_READ))]
DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
MAX_OUTAGES = 1000
HEALTH_RULES = frozenset({"device-offline", "battery-low", "battery-critical", "device-tamper", "device-fault",
                          "device-flapping", "messages-rejected"})
"""The monitor's own health, not the equipment's: not an outage of the building."""
RESTORED = frozenset({"restore", "supply_restored"})
"""Events that end an outage of the device that sends them (a lift back in service, water back)."""


class Unit(BaseModel):
    name: str
    households: int


class BuildingOut(BaseModel):
    id: str
    site: str
    name: str
    courtyard: str | None
    grid: str | None
    units: list[Unit]
    households: int = Field(description="the units' households, summed")


class Lift(BaseModel):
    device_id: str
    name: str | None
    online: bool | None
    last_seen: datetime | None
    in_service: bool | None = Field(description="the latest `status`: in service (null: never reported)")
    running: bool | None
    floor: float | None


class Water(BaseModel):
    device_id: str
    name: str | None
    online: bool | None
    last_seen: datetime | None
    pressure_mpa: float | None
    level_pct: float | None = Field(description="the tank's level, when the device has a tank")


class Heating(BaseModel):
    device_id: str
    name: str | None
    online: bool | None
    last_seen: datetime | None
    supply_c: float | None
    return_c: float | None
    spread_c: float | None = Field(description="supply minus return")
    pressure_mpa: float | None


class OpenAlert(BaseModel):
    id: int
    device_id: str | None
    rule: str
    title: str
    severity: str
    state: str
    created_at: datetime


class OtherEquipment(BaseModel):
    device_id: str
    kind: str
    name: str | None
    online: bool | None
    last_seen: datetime | None
    readings: dict[str, float]


class BuildingEquipment(BuildingOut):
    lifts: list[Lift]
    water: list[Water]
    heating: list[Heating]
    other: list[OtherEquipment] = Field(description="other devices that serve the building (`attributes.serves`)")
    alerts: list[OpenAlert] = Field(description="open alerts of the building's equipment")


class EquipmentOut(BaseModel):
    buildings: list[BuildingEquipment]
    unassigned: list[OtherEquipment] = Field(description="equipment that serves no known building")


class Outage(BaseModel):
    alert_id: int
    site: str
    device_id: str | None
    device_name: str | None
    kind: str | None
    rule: str
    title: str
    severity: str
    state: str
    start: datetime
    end: datetime | None = Field(description="the device's restore (`restore`, `supply_restored`), else the "
                                             "alert's resolution; null: ongoing")
    ongoing: bool
    seconds: float = Field(description="from start to end, or to now when ongoing")
    buildings: list[dict[str, Any]] = Field(description="[{id, name, households}]")
    households: int
    vulnerable: int = Field(description="the elders living alone and persons under a welfare check named")
    parent_id: int | None = Field(description="the grouped outage alert it was folded under, if any")


class Outages(BaseModel):
    since: datetime
    until: datetime
    outages: list[Outage]


def building_out(row: Building) -> BuildingOut:
    units = [Unit(name=str(u.get("name")), households=int(u.get("households") or 0))
             for u in row.units or [] if isinstance(u, dict)]
    return BuildingOut(id=row.id, site=row.site_id, name=row.name, courtyard=row.courtyard, grid=row.grid_id,
                       units=units, households=row.households)


def _buildings(session: Session, who: Principal, site: str | None) -> list[Building]:
    stmt = select(Building).order_by(Building.site_id, Building.id)
    if site is not None:
        stmt = stmt.where(Building.site_id == site)
    if who.role is Role.PATROL:
        stmt = stmt.where(Building.grid_id.in_(sorted(who.grids or ())))
    return list(session.scalars(stmt))


@router.get("/buildings", response_model=list[BuildingOut], responses=errors(422))
def list_buildings(session: DB, who: ConfigReader, site: SiteFilter = None) -> list[BuildingOut]:
    """The buildings of the site file with their units and households (a patrol user: those of their grids)."""
    return [building_out(r) for r in _buildings(session, who, site)]


def _equipment_filter(session: Session) -> ColumnElement[bool]:
    return or_(Device.kind.in_(sorted(EQUIPMENT_KINDS)), has_serves(session))


def _served(rows: Iterable[Building]) -> tuple[dict[str, BuildingInfo], dict[tuple[str, str], str]]:
    infos = {r.id: BuildingInfo(r.id, r.site_id, r.name, r.households) for r in rows}
    return infos, {(b.site, b.name): b.id for b in infos.values()}


def _reading(readings: Mapping[str, Any], metric: str) -> float | None:
    """The latest value of `metric` (or of its first zone, `metric:zone`)."""
    value = readings.get(metric)
    if value is None:
        value = next((v for k, v in sorted(readings.items()) if k.startswith(metric + ":")), None)
    return float(value) if isinstance(value, int | float) else None


def _flag(readings: Mapping[str, Any], metric: str) -> bool | None:
    value = _reading(readings, metric)
    return None if value is None else value >= 0.5


def _status(device: Device) -> tuple[str, BaseModel]:
    readings = device.readings or {}
    common: dict[str, Any] = {"device_id": device.id, "name": device.name, "online": device.online,
                              "last_seen": device.last_seen}
    if device.kind == "elevator":
        return "lifts", Lift(**common, in_service=_flag(readings, "in_service"), running=_flag(readings, "running"),
                             floor=_reading(readings, "floor"))
    if device.kind == "water":
        return "water", Water(**common, pressure_mpa=_reading(readings, "pressure_mpa"),
                              level_pct=_reading(readings, "level_pct"))
    if device.kind == "heating":
        supply, back, spread = _reading(readings, "supply_c"), _reading(readings, "return_c"), \
            _reading(readings, "spread_c")
        if spread is None and supply is not None and back is not None:
            spread = round(supply - back, 2)
        return "heating", Heating(**common, supply_c=supply, return_c=back, spread_c=spread,
                                  pressure_mpa=_reading(readings, "pressure_mpa"))
    return "other", _other(device)


def _other(device: Device) -> OtherEquipment:
    values = {k: float(v) for k, v in (device.readings or {}).items() if isinstance(v, int | float)}
    return OtherEquipment(device_id=device.id, kind=device.kind, name=device.name, online=device.online,
                          last_seen=device.last_seen, readings=values)


@router.get("/equipment", response_model=EquipmentOut, responses=errors(422))
def equipment(session: DB, who: DevicesReader, site: SiteFilter = None) -> EquipmentOut:
    """Per building: its lifts (in service, running, floor), water (pressure, tank level) and heating (supply,
    return, spread, pressure) from the latest readings, and the open alerts of that equipment."""
    buildings = _buildings(session, who, site)
    infos, by_name = _served(session.scalars(select(Building)))
    stmt = select(Device).where(_equipment_filter(session), device_filter(who)).order_by(Device.id)
    if site is not None:
        stmt = stmt.where(Device.site_id == site)
    devices = list(session.scalars(stmt))
    serves = {d.id: served_buildings(d.site_id, d.kind, d.attributes, d.location, infos, by_name) for d in devices}
    alerts: dict[str, list[OpenAlert]] = {}
    if devices:
        ids = [d.id for d in devices]
        for row in session.scalars(select(Alert).where(Alert.state != "resolved", alert_filter(who),
                                                       Alert.device_id.in_(ids)).order_by(Alert.id.desc())):
            if row.rule not in HEALTH_RULES and row.device_id is not None:
                alerts.setdefault(row.device_id, []).append(OpenAlert(
                    id=row.id, device_id=row.device_id, rule=row.rule, title=row.title, severity=row.severity,
                    state=row.state, created_at=row.created_at))
    out = []
    for building in buildings:
        groups: dict[str, list[Any]] = {"lifts": [], "water": [], "heating": [], "other": []}
        open_alerts: list[OpenAlert] = []
        for device in devices:
            if building.id in serves[device.id]:
                group, item = _status(device)
                groups[group].append(item)
                open_alerts.extend(alerts.get(device.id, ()))
        out.append(BuildingEquipment.model_validate({**building_out(building).model_dump(), **groups,
                                                     "alerts": open_alerts}))
    unassigned = [_other(d) for d in devices if not serves[d.id]]
    return EquipmentOut(buildings=out, unassigned=unassigned)


@router.get("/equipment/outages", response_model=Outages, responses=errors(422))
def outages(session: DB, who: AlertsReader, site: SiteFilter = None, since: Instant | None = None,
            until: Instant | None = None) -> Outages:
    """Equipment alerts raised in the period (default: the last 30 days), newest first, with start, end (the
    device's restore or the alert's resolution; null while ongoing), duration, and the buildings, households
    and vulnerable residents they affected (as named in the alert when it was raised)."""
    now = utcnow()
    until = until or now
    try:
        since = since or until - DEFAULT_PERIOD
    except OverflowError:
        since = None
    if since is None or since >= until or until - since > MAX_PERIOD:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since must be before until, at most 366 days")
    equipment = {d.id: d for d in session.scalars(select(Device).where(_equipment_filter(session)))}
    infos, by_name = _served(session.scalars(select(Building)))
    stmt = (select(Alert).where(Alert.created_at >= since, Alert.created_at < until, alert_filter(who),
                                Alert.rule.notin_(HEALTH_RULES),
                                or_(Alert.kind.in_(sorted(EQUIPMENT_KINDS)),
                                    Alert.device_id.in_(list(equipment)) if equipment else false()))
            .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(MAX_OUTAGES))
    if site is not None:
        stmt = stmt.where(Alert.site_id == site)
    rows = list(session.scalars(stmt))
    restores = _restores(session, {r.device_id for r in rows if r.device_id}, since)
    out = []
    for row in rows:
        device = equipment.get(row.device_id) if row.device_id else None
        affected = affected_of(row.evidence)
        if affected is None and device is not None:
            ids = served_buildings(device.site_id, device.kind, device.attributes, device.location, infos, by_name)
            affected = {"buildings": [{"id": b, "name": infos[b].name, "households": infos[b].households}
                                      for b in ids], "households": sum(infos[b].households for b in ids)}
        affected = affected or {}
        restored = next((at for at in restores.get(row.device_id or "", ()) if at >= row.created_at), None)
        end = min((t for t in (restored, row.resolved_at) if t is not None), default=None)
        out.append(Outage(
            alert_id=row.id, site=row.site_id, device_id=row.device_id, device_name=device.name if device else None,
            kind=row.kind, rule=row.rule, title=row.title, severity=row.severity, state=row.state,
            start=row.created_at, end=end, ongoing=end is None,
            seconds=max(0.0, ((end or now) - row.created_at).total_seconds()),
            buildings=[dict(b) for b in affected.get("buildings") or [] if isinstance(b, Mapping)],
            households=int(affected.get("households") or 0),
            vulnerable=len(affected.get("vulnerable") or []) + int(affected.get("vulnerable_more") or 0),
            parent_id=row.parent_id))
    return Outages(since=since, until=until, outages=out)


def _restores(session: Session, devices: set[str], since: datetime) -> dict[str, list[datetime]]:
    """When each device said its equipment was back, oldest first."""
    if not devices:
        return {}
    found: dict[str, list[datetime]] = {}
    for device_id, ts in session.execute(
            select(Event.device_id, Event.ts).where(Event.device_id.in_(sorted(devices)), Event.type.in_(RESTORED),
                                                    Event.ts >= since).order_by(Event.ts)):
        found.setdefault(device_id, []).append(ts)
    return found
