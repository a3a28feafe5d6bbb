"""`anju rules backtest`: what would a rule file have raised over the stored history?

The stored events and readings since `since` are replayed in time order
through the real rule engine, inside one database transaction that is rolled
back at the end: the live alerts, timers and notifications are never touched.
The replayed rules run under a `backtest:` id prefix, so they cannot merge
into, or share timers with, the live rules of the same name.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerting.engine import RuleEngine
from devices.base import ReadingValue
from gateway.registry import device_info
from kernel.db.models import Alert, Device, Event, Reading, RuleTimer
from kernel.observations import Observation
from rules.schema import Rule

PREFIX = "backtest:"


@dataclass(slots=True)
class WouldFire:
    rule: str
    severity: str
    site: str
    device_id: str | None
    title: str
    first_at: str
    count: int


def _replay(session: Session, since: datetime, until: datetime) -> Iterator[Observation]:
    """Stored events and readings as observations, merged in time order."""
    devices = {row.id: device_info(row) for row in session.scalars(select(Device))}

    def events() -> Iterator[tuple[datetime, int, Observation]]:
        stmt = select(Event).where(Event.ts >= since, Event.ts < until).order_by(Event.ts, Event.id)
        for e in session.scalars(stmt).yield_per(1000):
            if e.device_id in devices:
                channel = "status" if e.type in ("device_online", "device_offline") else "event"
                yield e.ts, e.id, Observation(devices[e.device_id], channel, e.type, e.ts, e.ts, e.msg_id,
                                               dict(e.data), event_id=e.id)

    def readings() -> Iterator[tuple[datetime, int, Observation]]:
        stmt = select(Reading).where(Reading.ts >= since, Reading.ts < until).order_by(Reading.ts, Reading.id)
        for r in session.scalars(stmt).yield_per(1000):
            if r.device_id in devices:
                yield r.ts, -r.id, Observation(devices[r.device_id], "telemetry", "heartbeat", r.ts, r.ts,
                                               readings=[ReadingValue(r.metric, r.value, r.zone)])

    for _ts, _key, obs in heapq.merge(events(), readings(), key=lambda item: (item[0], item[1])):
        yield obs


def backtest(session: Session, rules: list[Rule], since: datetime, until: datetime) -> list[WouldFire]:
    """Replay history through `rules`; the caller must roll the session back (see `run_backtest`)."""
    # Open the transaction with a write: pysqlite only sends BEGIN before DML, and a
    # SAVEPOINT released outside a transaction would commit the replay's alerts.
    session.execute(delete(RuleTimer).where(RuleTimer.rule.startswith(PREFIX)))
    copies = [rule.model_copy(update={"id": PREFIX + rule.id}) for rule in rules]
    engine = RuleEngine(copies, arm_absences=False)
    for obs in _replay(session, since, until):
        engine.on_observations(session, [obs])
        engine.fire_timers(session, obs.ts)  # the replay's clock is the events' own time
    engine.fire_timers(session, until)
    session.flush()
    found = session.scalars(select(Alert).where(Alert.rule.startswith(PREFIX)).order_by(Alert.created_at))
    return [WouldFire(a.rule[len(PREFIX):], a.severity, a.site_id, a.device_id, a.title, a.created_at.isoformat(),
                      a.count) for a in found]


def run_backtest(sessions: Any, rules: list[Rule], since: datetime, until: datetime) -> list[WouldFire]:
    session: Session = sessions()
    try:
        return backtest(session, rules, since, until)
    finally:
        session.rollback()
        session.close()
