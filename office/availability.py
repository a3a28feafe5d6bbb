"""Device availability over a period, from the stored online/offline transitions.

Computed from the `device_online` / `device_offline` events the gateway records
(on status messages, wills, traffic and its offline timer), so it needs no
sampling and works for any period the events are kept. The state at `since` is
the last transition before it; a device never heard from before or during the
period is not counted (its time is unknown, not up or down). An outage still
going on at `until` has `end: None`. Shared by `GET /availability` and the
office's reports, which show it beside the alerts of the same period.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db.models import Device, Event
from kernel.observations import DEVICE_OFFLINE, DEVICE_ONLINE


class Outage(BaseModel):
    start: datetime
    end: datetime | None = Field(description="None: still offline at `until`")
    seconds: float = Field(description="offline time inside the period")


class KindAvailability(BaseModel):
    kind: str
    devices: int
    uptime_pct: float | None = Field(description="online share of the known time of all its devices")
    outages: int


class Span:
    """One device's known, online and offline time in the period, and its outages."""

    def __init__(self) -> None:
        self.known = 0.0
        self.offline = 0.0
        self.outages: list[Outage] = []

    @property
    def uptime_pct(self) -> float | None:
        return _pct(self.known, self.offline)


def _pct(known: float, offline: float) -> float | None:
    return round(100.0 * (known - offline) / known, 3) if known > 0 else None


def span(before: str | None, transitions: Iterable[tuple[datetime, str]], since: datetime, until: datetime) -> Span:
    """Walk the transitions in the period (oldest first), from the state `before` it (None: unknown)."""
    result = Span()
    if before == DEVICE_OFFLINE:  # already offline when the period starts
        result.outages.append(Outage(start=since, end=None, seconds=0.0))

    def elapse(state: str | None, start: datetime, end: datetime) -> None:
        if state is not None:
            result.known += (end - start).total_seconds()
            if state == DEVICE_OFFLINE:
                result.offline += (end - start).total_seconds()
                result.outages[-1].seconds = round((end - result.outages[-1].start).total_seconds(), 3)

    state, at = before, since
    for ts, type_ in transitions:
        ts = min(max(ts, since), until)
        elapse(state, at, ts)
        if type_ == DEVICE_OFFLINE and state != DEVICE_OFFLINE:
            result.outages.append(Outage(start=ts, end=None, seconds=0.0))
        elif type_ == DEVICE_ONLINE and state == DEVICE_OFFLINE:
            result.outages[-1].end = ts
        state, at = type_, ts
    elapse(state, at, until)
    return result


def spans(session: Session, devices: list[Device], since: datetime, until: datetime) -> dict[str, Span]:
    """Each device's span, two queries per 500 devices."""
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
    return {i: span(before.get(i), during[i], since, until) for i in ids}


def by_kind(devices: list[Device], device_spans: dict[str, Span]) -> list[KindAvailability]:
    """Uptime of all devices of each kind together (known time weighted), kinds in name order."""
    rows: list[KindAvailability] = []
    for kind in sorted({d.kind for d in devices}):
        mine = [device_spans[d.id] for d in devices if d.kind == kind]
        rows.append(KindAvailability(kind=kind, devices=len(mine), outages=sum(len(s.outages) for s in mine),
                                     uptime_pct=_pct(sum(s.known for s in mine), sum(s.offline for s in mine))))
    return rows
