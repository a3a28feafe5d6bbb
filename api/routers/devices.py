"""Devices: the registry with health, registration (one, or many from CSV), readings, and raw messages live."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, WebSocket, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.auth import Permission, Principal
from api.deps import DB, Services, Svc, accept_websocket, errors, require
from api.jsonsafe import MAX_VALUE_BYTES, MAX_VALUE_DEPTH, BoundedObject, renderable_object
from api.stream import forward
from api.visibility import can_see_device, device_filter
from devices import DRIVERS
from gateway.registry import register_device
from gateway.timeseries import MAX_POINTS
from kernel.db.models import Device, Grid, Site
from kernel.db.writes import write_transaction
from kernel.siteconfig import ID_PATTERN, DeviceConfig
from kernel.timeutil import utcnow

router = APIRouter(prefix="/devices", tags=["devices"])
Reader = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]
Writer = Annotated[Principal, Depends(require(Permission.DEVICES_WRITE))]
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]
IMPORT_CHUNK = 200
"""CSV lines registered per transaction: short enough that a press stored meanwhile waits for one, not all."""


class DeviceOut(BaseModel):
    """A registered device and its server-owned health."""

    id: str
    site: str
    kind: str
    grid: str | None
    zone: str | None
    name: str | None
    location: dict[str, Any]
    attributes: dict[str, Any]
    registered_at: datetime
    online: bool | None = Field(description="None until the device has said anything")
    online_changed_at: datetime | None
    last_seen: datetime | None
    battery: float | None
    tamper: bool
    fault: str | None
    readings: dict[str, float] = Field(default_factory=dict, description="the values of the latest telemetry: "
                                       "`metric` or `metric:zone` → value, e.g. a fence's `voltage_kv:E1`")


BOUNDED = (f"a JSON object of at most {MAX_VALUE_DEPTH} levels and {MAX_VALUE_BYTES} bytes; more is refused (422) "
           "so that no stored value can break the answers that show it")


class DeviceIn(BaseModel):
    id: str = Field(pattern=ID_PATTERN)
    site: str = Field(pattern=ID_PATTERN)
    kind: str = Field(max_length=64)
    grid: str | None = Field(default=None, pattern=ID_PATTERN)
    zone: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    location: BoundedObject = Field(default_factory=dict, description=BOUNDED)
    attributes: BoundedObject = Field(default_factory=dict, description=BOUNDED)


class DevicePatch(BaseModel):
    grid: str | None = Field(default=None, pattern=ID_PATTERN)
    zone: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    location: BoundedObject | None = Field(default=None, description=BOUNDED)
    attributes: BoundedObject | None = Field(default=None, description=BOUNDED)


class ImportError_(BaseModel):
    line: int
    reason: str


class ImportResult(BaseModel):
    created: int
    updated: int
    errors: list[ImportError_]


class Point(BaseModel):
    ts: datetime
    value: float
    zone: str | None


class Readings(BaseModel):
    device_id: str
    metric: str | None
    step: int | None = Field(description="seconds per averaged point, when downsampled")
    points: list[Point]


def device_out(row: Device) -> DeviceOut:
    return DeviceOut(id=row.id, site=row.site_id, kind=row.kind, grid=row.grid_id, zone=row.zone, name=row.name,
                     location=renderable_object(row.location), attributes=renderable_object(row.attributes),
                     registered_at=row.registered_at,
                     online=row.online, online_changed_at=row.online_changed_at, last_seen=row.last_seen,
                     battery=row.battery, tamper=row.tamper, fault=row.fault, readings=row.readings or {})


def _visible(session: Session, who: Principal, device_id: str) -> Device:
    row = session.get(Device, device_id)
    if row is None or not can_see_device(who, row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
    return row


def _register(session: Session, body: DeviceIn) -> tuple[Device, bool]:
    """Validate against the registry and register; raises ValueError with a reason a person can act on."""
    if body.kind not in DRIVERS:
        raise ValueError(f"unknown kind {body.kind!r}; known: {', '.join(sorted(DRIVERS))}")
    if session.get(Site, body.site) is None:
        raise ValueError(f"no site {body.site!r}")
    if body.grid is not None:
        grid = session.get(Grid, body.grid)
        if grid is None or grid.site_id != body.site:
            raise ValueError(f"grid {body.grid!r} is not a grid of site {body.site!r}")
    existing = session.get(Device, body.id)
    if existing is not None and existing.kind != body.kind:
        raise ValueError(f"device {body.id} is already registered as a {existing.kind}")
    config = DeviceConfig(id=body.id, kind=body.kind, grid=body.grid, zone=body.zone, name=body.name,
                          location=body.location, attributes=body.attributes)
    return register_device(session, body.site, config), existing is None


@router.get("", response_model=list[DeviceOut], responses=errors(422))
def list_devices(
    session: DB, who: Reader,
    site: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["online", "offline", "unknown"] | None = None,
    q: Annotated[str | None, Query(max_length=100, description="part of the id or name")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[DeviceOut]:
    """The registry with each device's health."""
    stmt = select(Device).where(device_filter(who)).order_by(Device.id).limit(limit)
    for column, value in ((Device.site_id, site), (Device.kind, kind), (Device.grid_id, grid)):
        if value is not None:
            stmt = stmt.where(column == value)
    if state is not None:
        stmt = stmt.where(Device.online.is_(None) if state == "unknown" else Device.online.is_(state == "online"))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Device.id.like(pattern, escape="\\"), Device.name.like(pattern, escape="\\")))
    return [device_out(r) for r in session.scalars(stmt)]


@router.post("", response_model=DeviceOut, status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
def create_device(body: DeviceIn, svc: Svc, session: DB, _who: Writer) -> DeviceOut:
    """Register a device (SPEC §3). Registering an id again updates it (same kind only)."""
    try:
        row, _created = _register(session, body)
        session.commit()
    except ValueError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    svc.gateway.registry.forget(row.id)
    return device_out(row)


@router.post("/import", response_model=ImportResult, responses=errors(422))
def import_devices(
    svc: Svc, _who: Writer,
    csv_text: Annotated[str, Body(media_type="text/csv", max_length=5_000_000,
                                  description="a header row (id,site,kind,grid,zone,name, optional "
                                              "location.<key> columns), then one device per line")],
) -> ImportResult:
    """Bulk registration: each good line is registered, each bad one reported with its line number.

    Registered `IMPORT_CHUNK` lines per transaction (kernel/db/writes.py): on SQLite a single transaction for
    thousands of lines failed with "database is locked" as soon as a press was stored meanwhile, and held
    the gateway's batches back while it lasted. A chunk that was committed stays when a later one fails.
    """
    # Universal newlines: a file saved on an old Mac (bare `\r`) made the csv module raise, answered as 500.
    reader = csv.DictReader(io.StringIO(csv_text, newline=None))
    try:
        missing = {"id", "site", "kind"} - set(reader.fieldnames or [])
        if missing:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"the header row must name id, site and kind (missing: {', '.join(sorted(missing))})")
        bodies, problems = _read_lines(reader)
    except csv.Error as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"not a CSV file (line {reader.line_num}): {exc}") from None
    created = updated = 0
    for start in range(0, len(bodies), IMPORT_CHUNK):
        chunk = bodies[start:start + IMPORT_CHUNK]
        new, old, refused = write_transaction(svc.sessions, partial(_import_chunk, chunk=chunk))
        created, updated = created + new, updated + old
        problems.extend(refused)
        for _line, body in chunk:
            svc.gateway.registry.forget(body.id)
    problems.sort(key=lambda problem: problem.line)
    return ImportResult(created=created, updated=updated, errors=problems)


def _read_lines(reader: csv.DictReader[str]) -> tuple[list[tuple[int, DeviceIn]], list[ImportError_]]:
    """Each line as a device to register, or the reason it cannot be one."""
    bodies: list[tuple[int, DeviceIn]] = []
    problems: list[ImportError_] = []
    for line, record in enumerate(reader, start=2):
        values = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        location = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("location.") and v}
        try:
            bodies.append((line, DeviceIn(id=values.get("id", ""), site=values.get("site", ""),
                                          kind=values.get("kind", ""), grid=values.get("grid") or None,
                                          zone=values.get("zone") or None, name=values.get("name") or None,
                                          location=location)))
        except ValidationError as exc:
            problems.append(ImportError_(line=line, reason="; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())))
    return bodies, problems


def _import_chunk(session: Session, *, chunk: list[tuple[int, DeviceIn]]) -> tuple[int, int, list[ImportError_]]:
    """Register some lines in the caller's transaction: (created, updated, the lines refused and why)."""
    created = updated = 0
    refused: list[ImportError_] = []
    for line, body in chunk:
        try:
            with session.begin_nested():
                _row, is_new = _register(session, body)
        except ValueError as exc:
            refused.append(ImportError_(line=line, reason=str(exc)))
            continue
        created, updated = created + is_new, updated + (not is_new)
    return created, updated, refused


@router.get("/{device_id}", response_model=DeviceOut, responses=errors(404, 422))
def get_device(device_id: DeviceId, session: DB, who: Reader) -> DeviceOut:
    return device_out(_visible(session, who, device_id))


@router.patch("/{device_id}", response_model=DeviceOut, responses=errors(404, 422))
def update_device(device_id: DeviceId, body: DevicePatch, svc: Svc, session: DB, who: Writer) -> DeviceOut:
    row = _visible(session, who, device_id)
    given = body.model_dump(exclude_unset=True)
    if "grid" in given and given["grid"] is not None:
        grid = session.get(Grid, given["grid"])
        if grid is None or grid.site_id != row.site_id:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"grid {given['grid']!r} is not a grid of site {row.site_id!r}")
    for key, column in (("grid", "grid_id"), ("zone", "zone"), ("name", "name"), ("location", "location"),
                        ("attributes", "attributes")):
        if key in given:
            setattr(row, column, given[key] if given[key] is not None or key in ("grid", "zone", "name") else {})
    session.commit()
    svc.gateway.registry.forget(device_id)
    return device_out(row)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
def delete_device(device_id: DeviceId, svc: Svc, session: DB, who: Writer) -> None:
    """Unregister: its messages are dead-lettered from now on; its stored events and alerts stay."""
    row = _visible(session, who, device_id)
    session.delete(row)
    session.commit()
    svc.gateway.registry.forget(device_id)
    svc.gateway.deadlines.disarm(device_id)


@router.get("/{device_id}/readings", response_model=Readings, responses=errors(404, 422))
def readings(
    device_id: DeviceId, svc: Svc, session: DB,
    _who: Annotated[Principal, Depends(require(Permission.READINGS_READ))],
    metric: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    step: Annotated[int | None, Query(ge=1, le=31 * 86400, description="average into buckets of this many "
                                                                        "seconds (per zone)")] = None,
) -> Readings:
    """Stored telemetry, oldest first (default: the last 24 hours), from the configured reading store.

    Raw: the first 5000 points of the range; with `step`: the mean per bucket and zone, the latest 5000 buckets.
    """
    if session.get(Device, device_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
    until = _aware(until) or utcnow()
    since = _aware(since) or until - timedelta(days=1)
    found = svc.gateway.readings.read(device_id, metric, since, until, step, MAX_POINTS)
    return Readings(device_id=device_id, metric=metric, step=step,
                    points=[Point(ts=p.ts, value=p.value, zone=p.zone) for p in found])


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.websocket("/{device_id}/messages/stream")
async def messages(websocket: WebSocket, device_id: str) -> None:
    """A device's raw messages as they arrive (integrators): topic, payload text (first 4 KiB), QoS, size."""
    who = await accept_websocket(websocket, Permission.MESSAGES_READ)
    if who is None:
        return
    svc: Services = websocket.app.state.services
    ended = svc.token_watch.watch(who) if svc.token_watch is not None else None
    queue, stop = svc.tap.watch(device_id)
    try:
        await forward(websocket, queue, lambda _frame: True, ended)
    finally:
        stop()
        if svc.token_watch is not None and ended is not None:
            svc.token_watch.unwatch(who, ended)
