"""Look-ups and alert shapes the condition evaluators share: stored events in a window, the nearest
partner event, group keys, titles and evidence.

The queries here were profiled (`anju bench`): keep their shape (a window's rows limited to
`RECENT_LIMIT`, a partner read a page at a time) when changing them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.registry import device_info
from kernel.db.models import Device, Event
from kernel.deviceinfo import DeviceInfo
from kernel.observations import PICTURE_FIELDS, Observation
from rules.alertspec import AlertSpec
from rules.persons import PersonInfo
from rules.schema import EventMatch, Rule, event_zone, key_value
from rules.timers import DueTimer

RECENT_LIMIT = 2000
"""Window look-ups read at most this many stored events (a 2-minute window of one site is far smaller)."""
NEAREST_PAGE = 16
"""Rows a correlation reads at first when looking for its partner event (then four times more per page)."""

Stored = tuple[Event, DeviceInfo]
"""A stored event and its device."""


def slim(data: Mapping[str, Any]) -> dict[str, Any]:
    """The payload for evidence, with base64 images replaced by their size."""
    return {k: (f"<{len(v)} bytes>" if k in PICTURE_FIELDS and isinstance(v, str) else v) for k, v in data.items()}


class Fields(dict[str, Any]):
    """Template values for alert titles: a missing placeholder stays visible instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def device_fields(device: DeviceInfo, data: Mapping[str, Any]) -> dict[str, Any]:
    """The device placeholders of an alert title."""
    return {"device": device.id, "device_name": device.name or device.id, "zone": event_zone(device.zone, data) or "",
            "grid": device.grid or "", "site": device.site}


def render(rule: Rule, fields: Fields, subject: str) -> str:
    """The rule's `message` filled in, or `name: subject` when it has none."""
    return rule.message.format_map(fields) if rule.message else f"{rule.name}: {subject}"


def title(rule: Rule, obs: Observation) -> str:
    fields = Fields({k: v for k, v in obs.data.items() if isinstance(v, str | int | float)})
    fields.update(device_fields(obs.device, obs.data), rule=rule.name)
    return render(rule, fields, fields["device_name"])


def evidence(obs: Observation) -> dict[str, Any]:
    """An observation as evidence of an alert."""
    return {"event_id": obs.event_id, "device_id": obs.device.id, "msg_id": obs.msg_id, "type": obs.type,
            "ts": obs.ts.isoformat(), "data": slim(obs.data)}


def stored_evidence(item: Stored) -> dict[str, Any]:
    """A stored event as evidence of an alert."""
    event, _device = item
    return {"event_id": event.id, "device_id": event.device_id, "msg_id": event.msg_id, "type": event.type,
            "ts": event.ts.isoformat(), "data": slim(event.data)}


def group(part: str, rule: Rule, device: DeviceInfo, data: Mapping[str, Any]) -> str | None:
    """The value of a `per`/`same` key for this device and payload."""
    return key_value(part, rule=rule.id, site=device.site, grid=device.grid, zone=device.zone,
                     kind=device.kind, device=device.id, data=data)


def spec(rule: Rule, obs: Observation, evidence: list[dict[str, Any]],
         data: Mapping[str, Any] | None = None) -> AlertSpec:
    """The alert `rule` raises about `obs`'s device, with its evidence (one item, or a list of events)."""
    device = obs.device
    data = obs.data if data is None else data
    return AlertSpec(
        rule=rule.id, type=obs.type, severity=rule.severity, title=title(rule, obs), site=device.site,
        grid=device.grid, device_id=device.id, kind=device.kind, audience=rule.audience,
        dedup_key=rule.dedup.key_for(rule=rule.id, site=device.site, grid=device.grid, zone=device.zone,
                                     kind=device.kind, device=device.id, data=data),
        silenceable=rule.silenceable, evidence={"events": evidence} if len(evidence) > 1 else evidence[0],
    )


def timer_subject(session: Session, rule: Rule, timer: DueTimer, evidence: dict[str, Any],
                  now: datetime) -> Observation | None:
    """A due timer as an observation of the device that armed it (None: the device was deleted since)."""
    row = session.get(Device, timer.device_id)
    if row is None:
        return None
    return Observation(device_info(row), "timer", rule.condition_name, now, now, data=evidence.get("data", {}))


def timer_device(person: PersonInfo) -> str:
    """What a person's timer stores as its device (`rule_timers.device_id` is NOT NULL): their first button, or ''.

    Informational only: the timer is the person's by its group key, and the alert's device is looked up
    afresh when it fires.
    """
    return person.buttons[0] if person.buttons else ""


def events(session: Session, watchlists: Mapping[str, set[str]], site: str, match: EventMatch, start: datetime,
           end: datetime, after: bool = False, device_id: str | None = None) -> list[Stored]:
    """Stored events of `site` (of one device, if given) matching `match` in (start, end] (with `after`:
    [start, end)), oldest first."""
    stmt = events_in_window(site, match, start, end, after, device_id)
    return [(event, device_info(device))
            for event, device in session.execute(stmt.order_by(Event.ts, Event.id).limit(RECENT_LIMIT))
            if match.matches(event.kind, event.type, event.data, watchlists)]


def nearest(session: Session, watchlists: Mapping[str, set[str]], site: str, match: EventMatch, start: datetime,
            end: datetime, *, before_id: int, newest: bool, accept: Callable[[Event, DeviceInfo], bool],
            after: bool = False) -> Stored | None:
    """The newest (or oldest) stored event in the window, stored before `before_id`, that matches and is
    accepted; read a page at a time, nearest first.

    A correlation wants one partner, not the window: reading every fence alarm of a busy site's two
    minutes for each camera capture (and every capture for each alarm) made a capture's cost grow with
    the site's traffic (docs/architecture.md#measured-decisions).
    """
    stmt = events_in_window(site, match, start, end, after).where(Event.id < before_id)
    stmt = stmt.order_by(Event.ts.desc(), Event.id.desc()) if newest else stmt.order_by(Event.ts, Event.id)
    offset, page = 0, NEAREST_PAGE
    while offset < RECENT_LIMIT:
        rows = session.execute(stmt.limit(page).offset(offset)).all()
        for found, device in rows:
            info = device_info(device)
            if match.matches(found.kind, found.type, found.data, watchlists) and accept(found, info):
                return found, info
        if len(rows) < page:
            return None
        offset, page = offset + page, page * 4
    return None


def events_in_window(site: str, match: EventMatch, start: datetime, end: datetime, after: bool,
                     device_id: str | None = None) -> Any:
    """Events of `site` (and device) of `match`'s kind and types in (start, end], or [start, end) with
    `after`, joined to their devices; the caller orders and limits."""
    in_window = ((Event.ts >= start) & (Event.ts < end)) if after else ((Event.ts > start) & (Event.ts <= end))
    stmt = select(Event, Device).join(Device, Device.id == Event.device_id).where(Event.site_id == site, in_window)
    if device_id is not None:
        stmt = stmt.where(Event.device_id == device_id)
    if match.kind is not None:
        stmt = stmt.where(Event.kind == match.kind)
    if match.types is not None:
        stmt = stmt.where(Event.type.in_(sorted(match.types)))
    return stmt
