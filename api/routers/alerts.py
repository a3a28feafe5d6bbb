"""Alerts: list, one with its history, acknowledge, resolve, and the live stream (SPEC §3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import alerts as lifecycle
from alerting.contacts import device_contacts
from api.auth import Permission, Principal
from api.deps import DB, Services, Svc, accept_websocket, errors, require
from api.jsonsafe import renderable, renderable_object
from api.liveview import live_url
from api.present import present_alert, present_alerts
from api.routers._common import Instant
from api.routers.notify import DeliveryOut, deliveries_of
from api.stream import forward
from api.visibility import alert_filter, can_see_alert
from kernel.db.models import Alert, Device
from kernel.timeutil import utcnow
from kernel.vocabulary import DISPOSITION_LABELS, Disposition, Severity, State

router = APIRouter(prefix="/alerts", tags=["alerts"])

Audience = Literal["patrol", "maintenance"]
AlertId = Annotated[int, Path(ge=1, le=2**62)]


class AlertOut(BaseModel):
    """An alert as the API, the live stream and `anju/v1/{site}/alerts` show it."""

    id: int
    site: str
    grid: str | None
    device_id: str | None
    kind: str | None
    rule: str
    type: str
    severity: Severity
    audience: Audience
    title: str
    state: State
    level: int = Field(description="current escalation level: 0 is the grid's patrol team, 1.. up the site's chain")
    count: int = Field(description="how many triggers were merged into this alert")
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    disposition: Disposition | None = Field(default=None, description="how it ended: " + "; ".join(
        f"`{key}` {label}" for key, label in DISPOSITION_LABELS.items()))
    evidence: Any = Field(description="the triggering event(s), payloads with images replaced by their size; a "
                                      "picture as `snapshot_id`: its public id for `GET /snapshots/{id}` (null once "
                                      "expired)")
    silenced_by: int | None
    parent_id: int | None = Field(default=None, description="the grouped alert (a site or segment outage) this one "
                                                             "is folded under: recorded, not announced")


class HistoryStep(BaseModel):
    at: datetime
    action: str = Field(description="created, notified, skipped, repeated, escalated, reminded, acknowledged, "
                                    "resolved, folded; reported (a field report: `by` the reporter)")
    by: str | None
    level: int
    note: str | None


class AlertDevice(BaseModel):
    id: str
    name: str | None
    kind: str
    zone: str | None
    grid: str | None
    location: dict[str, Any]
    live_url: str | None = Field(default=None, description="the camera's live view (`attributes.live_url`): an "
                                                           "http(s) address, else null (api/liveview.py)")


class Contacts(BaseModel):
    """Who the patrol calls for an elder's SOS: the elder, and the family (`rules.persons.contact`)."""

    elder: dict[str, Any] | None = Field(description="`{name, ...}`: the device's `attributes.elder` (a name or an "
                                                      "object), else the person whose `devices` list the button")
    family: list[dict[str, Any]] = Field(description="`[{name, relation, phone, ...}]`: the device's "
                                                     "`attributes.family`, else that person's")


class AlertDetail(AlertOut):
    history: list[HistoryStep]
    device: AlertDevice | None
    contacts: Contacts | None
    deliveries: list[DeliveryOut] = Field(description="who was (or is to be) told off-app, and how it went "
                                                      "(targets redacted), oldest first")


class AckIn(BaseModel):
    by: str | None = Field(default=None, max_length=200, description="who acknowledges; default the token's user")
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=4000, pattern=r"\S",
                      description="what was found and what was done (required)")
    disposition: Disposition | None = Field(default=None, description="how it ended; required for critical and "
                                                                      "major alerts (docs/office.md)")
    by: str | None = Field(default=None, max_length=200)


class DispositionIn(BaseModel):
    disposition: Disposition
    note: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="why it is corrected (required)")


def _visible(session: DB, who: Principal, alert_id: int) -> Alert:
    alert = session.scalars(select(Alert).where(Alert.id == alert_id, alert_filter(who))).one_or_none()
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return alert


def _by(who: Principal, given: str | None) -> str:
    """The name recorded in the history; a name typed by the caller is kept with the token it came from."""
    given = (given or "").strip()
    return who.name if not given or given == who.name else f"{given} (via {who.name})"


@router.get("", response_model=list[AlertOut], responses=errors(422))
def list_alerts(
    session: DB,
    who: Annotated[Principal, Depends(require(Permission.ALERTS_READ))],
    state: State | None = None,
    severity: Severity | None = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(max_length=64)] = None,
    audience: Audience | None = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Instant | None, Query(description="only alerts raised at or after this instant")] = None,
    until: Annotated[Instant | None, Query(description="only alerts raised before this instant")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="only alerts with a smaller id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Alerts this caller may see, newest first."""
    stmt = select(Alert).where(alert_filter(who)).order_by(Alert.id.desc()).limit(limit)
    for column, value in ((Alert.state, state), (Alert.severity, severity), (Alert.site_id, site),
                          (Alert.grid_id, grid), (Alert.audience, audience), (Alert.rule, rule)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(Alert.created_at >= since)
    if until is not None:
        stmt = stmt.where(Alert.created_at < until)
    if before is not None:
        stmt = stmt.where(Alert.id < before)
    return present_alerts(session, [lifecycle.alert_json(a) for a in session.scalars(stmt)])


@router.get("/{alert_id}", response_model=AlertDetail, responses=errors(404, 422))
def get_alert(alert_id: AlertId, svc: Svc, session: DB,
              who: Annotated[Principal, Depends(require(Permission.ALERTS_READ))]) -> dict[str, Any]:
    """One alert with its history, where its device is and, for an elder's SOS, who to call."""
    return alert_detail(svc, session, _visible(session, who, alert_id))


def alert_detail(svc: Services, session: Session, alert: Alert) -> dict[str, Any]:
    """The alert as `GET /alerts/{id}` shows it (also the answer of `POST /reports`)."""
    body: dict[str, Any] = present_alert(session, lifecycle.alert_json(alert))
    body["history"] = renderable(lifecycle.history(session, alert.id))
    device = session.get(Device, alert.device_id) if alert.device_id else None
    body["device"] = None if device is None else {
        "id": device.id, "name": device.name, "kind": device.kind, "zone": device.zone, "grid": device.grid_id,
        "location": renderable_object(device.location), "live_url": live_url(device.attributes)}
    body["contacts"] = None if device is None else _contacts(svc, session, device)
    body["deliveries"] = deliveries_of(session, alert.id)
    return body


@router.get("/{alert_id}/deliveries", response_model=list[DeliveryOut], responses=errors(404, 422))
def get_deliveries(alert_id: AlertId, session: DB,
                   who: Annotated[Principal, Depends(require(Permission.ALERTS_READ))]) -> list[DeliveryOut]:
    """The alert's notifications: one per target and step (created, escalated, reminded, family), with their state,
    attempts and last error; the target only as shown (keys masked)."""
    return deliveries_of(session, _visible(session, who, alert_id).id)


def _contacts(svc: Services, session: Session, device: Device) -> dict[str, Any] | None:
    found = device_contacts(session, device, svc.engine.persons)
    return None if found is None else renderable(found)


@router.post("/{alert_id}/ack", response_model=AlertOut, responses=errors(404, 409, 422))
def acknowledge(alert_id: AlertId, svc: Svc, session: DB,
                who: Annotated[Principal, Depends(require(Permission.ALERTS_HANDLE))],
                body: AckIn | None = None) -> dict[str, Any]:
    """Own the alert: escalation stops (an SOS keeps reminding every 15 min until it is resolved)."""
    _visible(session, who, alert_id)
    body = body or AckIn()
    return _apply(svc, session, lambda: lifecycle.acknowledge(session, alert_id, _by(who, body.by), utcnow(),
                                                              body.note))


@router.post("/{alert_id}/resolve", response_model=AlertOut, responses=errors(404, 409, 422))
def resolve(alert_id: AlertId, body: ResolveIn, svc: Svc, session: DB,
            who: Annotated[Principal, Depends(require(Permission.ALERTS_HANDLE))]) -> dict[str, Any]:
    """Close the alert with a disposition note."""
    _visible(session, who, alert_id)
    return _apply(svc, session, lambda: lifecycle.resolve(session, alert_id, _by(who, body.by), body.note, utcnow(),
                                                          body.disposition))


@router.put("/{alert_id}/disposition", response_model=AlertOut, responses=errors(404, 409, 422))
def amend_disposition(alert_id: AlertId, body: DispositionIn, svc: Svc, session: DB,
                      who: Annotated[Principal, Depends(require(Permission.ALERTS_AMEND))]) -> dict[str, Any]:
    """Correct how a resolved alert ended (the old value, the new one and why go into its history)."""
    _visible(session, who, alert_id)
    return _apply(svc, session, lambda: lifecycle.set_disposition(session, alert_id, body.disposition, who.name,
                                                                  body.note, utcnow()))


def _apply(svc: Services, session: Session, step: Callable[[], lifecycle.AlertChange]) -> dict[str, Any]:
    """Take one lifecycle step and commit it, then announce it (topic and stream); a refused step is a 409."""
    try:
        change = step()
        session.commit()
    except lifecycle.DispositionError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except lifecycle.AlertError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    svc.engine.deliver([change])
    return present_alert(session, change.alert)


@router.websocket("/stream")
async def stream(websocket: WebSocket, since: int | None = None) -> None:
    """Every alert change this caller may see, as it happens: `{"type": "change", "seq", "action", "alert"}`.

    The first frame is `{"type": "hello", "seq": <latest>}`. A client that
    reconnects with `?since=<the last seq it saw>` first gets what it missed.
    """
    who = await accept_websocket(websocket, Permission.ALERTS_READ)
    if who is None:
        return
    svc: Services = websocket.app.state.services
    hub, watch = svc.alerts, svc.token_watch
    ended = watch.watch(who) if watch is not None else None
    sub = await hub.subscribe(who)
    try:
        upto = hub.last_seq
        await websocket.send_json({"type": "hello", "seq": upto})
        if since is not None and since < upto:
            for frame in await hub.replay(who, since, upto):
                await websocket.send_json(frame)
        await forward(websocket, sub.queue, lambda frame: frame["seq"] > upto and can_see_alert(who, frame["alert"]),
                      ended)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        hub.unsubscribe(sub)
        if watch is not None and ended is not None:
            watch.unwatch(who, ended)
