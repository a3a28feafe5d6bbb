"""An in-process harness for rule tests: observations in, alerts out, on a real database, with a fake clock.

No broker, no gateway threads, no sleeping. The engine takes its `now` from the observations it is fed
(`received_at`) and from `tick(now)`, so the harness owns the clock: it stamps each observation with its
current time and `advance()` moves that time and ticks the engine (timers, escalations) at once.

Usage (pytest)::

    from testkit.rules import RuleHarness

    def test_five_denials_are_a_burst(sqlite_url: str, site_id: str) -> None:
        with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), make_site(site_id)) as rules:
            for _ in range(5):
                rules.event("gate1", "pass", result="denied", method="card", credential="C-77", direction="in")
            assert rules.alerts()["gate-denied-burst"].count == 1
            rules.advance(timedelta(minutes=10))      # timers and escalations that came due fire now

`event()` stores the event as the gateway's pipeline does (so `count` and `correlation` find it in the
table) and evaluates it in the same transaction; `feed()` does the same for hand-made observations, several
in one transaction (one batch). `delivered` lists the alert changes the engine announced after each commit.
Any database URL works (a fresh SQLite file is the usual choice; the PostgreSQL fixtures too); the
database is migrated and the site configuration applied on open.

With `notifications=NotificationSettings(...)` the engine also plans who is told (`alerting.notifications`):
`outbox()` lists the queued rows, and `send_due(channels)` runs one senders' round at the harness's time
through the channels given (a recording channel in logic tests; the real ones in end-to-end tests).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting.alerts import AlertChange
from alerting.engine import RuleEngine
from alerting.notifications.senders import Dispatch, Notifier
from devices.base import ReadingValue
from gateway import store
from gateway.registry import apply_site_config, device_info
from kernel.config import NotificationSettings
from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import Alert, Device, Notification
from kernel.deviceinfo import DeviceInfo
from kernel.observations import Observation
from kernel.siteconfig import CommunityConfig

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""The harness clock's default start: a Monday morning, inside any office-hours schedule."""


class RuleHarness:
    """A rule engine fed by hand, on a database of its own, with time stepped explicitly."""

    def __init__(self, engine: RuleEngine, sessions: sessionmaker[Session], now: datetime = START) -> None:
        self.engine, self.sessions, self.now = engine, sessions, now
        self.delivered: list[AlertChange] = []
        """Every change the engine announced (after its commit), in order."""
        engine.listeners.append(self.delivered.extend)
        self._ids = itertools.count(1)
        self.notifications: NotificationSettings | None = None

    @classmethod
    @contextmanager
    def open(cls, db_url: str, engine: RuleEngine, site: Mapping[str, Any] | None = None,
             now: datetime = START, notifications: NotificationSettings | None = None) -> Iterator[RuleHarness]:
        """A harness on the database at `db_url` (migrated here), with `site` (a site file's content) applied;
        with `notifications`, the engine plans notifications by the site's chains, rosters and policy."""
        db = make_engine(db_url)
        try:
            migrate(db)
            sessions = session_factory(db)
            if site is not None:
                with sessions.begin() as session:
                    apply_site_config(session, CommunityConfig.model_validate(site))
            harness = cls(engine, sessions, now)
            if notifications is not None:
                engine.use_notifications(notifications)
                harness.notifications = notifications
                with sessions() as session:  # routing, rosters and persons as a live engine reads them
                    engine.refresh(session, now)
            yield harness
        finally:
            db.dispose()

    # -- input ------------------------------------------------------------------------------------

    def device(self, device_id: str) -> DeviceInfo:
        with self.sessions() as session:
            row = session.get(Device, device_id)
            if row is None:
                raise KeyError(f"no device {device_id!r}: add it to the harness's site")
            return device_info(row)

    def event(self, device_id: str, type_: str, *, ts: datetime | None = None, **data: Any) -> Observation:
        """A device's event at the harness's time (or at event time `ts`, a device clock), stored and evaluated."""
        obs = Observation(self.device(device_id), "event", type_, ts or self.now, self.now,
                          msg_id=f"h-{next(self._ids)}", data=dict(data))
        self.feed(obs)
        return obs

    def reading(self, device_id: str, metric: str, value: float, *, zone: str | None = None) -> Observation:
        """A telemetry reading at the harness's time, evaluated (threshold rules)."""
        obs = Observation(self.device(device_id), "telemetry", "heartbeat", self.now, self.now,
                          msg_id=f"h-{next(self._ids)}", readings=[ReadingValue(metric, value, zone)])
        self.feed(obs)
        return obs

    def feed(self, *observations: Observation) -> None:
        """One batch: events stored (ids set, as the pipeline sets them), then the rules, in one transaction."""
        with self.sessions.begin() as session:
            stored = [o for o in observations if o.channel in ("event", "status") and o.event_id is None]
            ids = store.insert_events(session, [
                {"site_id": o.device.site, "device_id": o.device.id, "kind": o.device.kind, "type": o.type,
                 "ts": o.ts, "received_at": o.received_at, "msg_id": o.msg_id, "data": o.data} for o in stored])
            for event_id, obs in zip(ids, stored, strict=True):
                obs.event_id = event_id
            self.engine.on_observations(session, list(observations))

    # -- the clock --------------------------------------------------------------------------------

    def advance(self, delta: timedelta) -> None:
        """Move the clock and tick the engine: due rule timers fire, unacknowledged alerts escalate."""
        self.now += delta
        self.engine.tick(self.sessions, self.now)

    # -- output -----------------------------------------------------------------------------------

    def alerts(self) -> dict[str, Alert]:
        """The stored alerts by rule (the latest of a rule when it has several)."""
        with self.sessions() as session:
            return {a.rule: a for a in session.scalars(select(Alert).order_by(Alert.id))}

    def outbox(self) -> list[Notification]:
        """The queued notifications, in the order they were planned."""
        with self.sessions() as session:
            return list(session.scalars(select(Notification).order_by(Notification.id)))

    def send_due(self, channels: Dispatch) -> int:
        """One senders' round at the harness's time through `channels`: how many notifications were claimed."""
        notifier = Notifier(self.notifications or NotificationSettings(), self.sessions, channels=channels,
                            persons=lambda: self.engine.persons, clock=lambda: self.now)
        return notifier.run_once(limit=1000)
