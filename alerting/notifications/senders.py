"""The senders: threads that claim due outbox rows, compose each message, send it, and record the outcome.

They run in every process that has `notifications.workers` > 0 (started and stopped with the gateway); any
number of processes may run them against one PostgreSQL database (`outbox.claim`). A sender is woken at once
by its own process's alert changes and polls every `poll_seconds` for the rest (another process's alerts,
retries coming due, the family's wait, the end of quiet hours).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from alerting.affected import affected_of
from alerting.contacts import device_contacts
from alerting.notifications import links
from alerting.notifications.channels import Channels, Message, Outcome, Target, parse_target
from alerting.notifications.message import AlertView, compose
from alerting.notifications.outbox import Claimed, claim, finish, pending_count
from kernel.config import NotificationSettings
from kernel.db.models import Alert, Device, Grid, Site
from kernel.durations import parse_duration
from kernel.metrics import GatewayMetrics
from kernel.ports import Sessions
from kernel.timeutil import utcnow
from rules.persons import PersonDirectory

log = logging.getLogger(__name__)
BATCH = 10
"""Rows one sender claims at a time: small, so several senders share a burst (an SOS tells a whole team)."""
_ids = itertools.count(1)


class Dispatch(Protocol):
    """What the senders need of the channels (`channels.Channels`; a recording stand-in in logic tests)."""

    def send(self, target: Target, message: Message) -> Outcome: ...


class Notifier:
    """The outbox's senders in this process, and the one-off test send the API offers."""

    def __init__(self, settings: NotificationSettings, sessions: Sessions, metrics: GatewayMetrics | None = None,
                 channels: Dispatch | None = None, persons: Callable[[], PersonDirectory | None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.sessions = sessions
        self.metrics = metrics
        self.persons = persons
        self.clock = clock
        self._channels: Dispatch | None = channels
        self.name = f"{socket.gethostname()}:{os.getpid()}:{next(_ids)}"
        """Claims are made in this name (plus the thread's number), so a row shows who holds it."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._key: bytes | None = None
        self.ttl = parse_duration(settings.link_ttl)

    @property
    def channels(self) -> Dispatch:
        if self._channels is None:
            self._channels = Channels.from_settings(self.settings)
        return self._channels

    # -- lifecycle (kernel.ports.Service) ---------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self.channels  # noqa: B018 -- a bad `endpoints` or phone setting fails the start, not the first SOS
        self._threads = [threading.Thread(target=self._loop, args=(f"{self.name}/{i}",), daemon=True,
                                          name=f"anju-notify-{i}") for i in range(self.settings.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=self.settings.timeout_seconds + 5)
        self._threads = []

    def wake(self, *_: object) -> None:
        """Something was queued in this process (an alert listener): look now, not at the next poll."""
        self._wake.set()

    def _loop(self, worker: str) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                sent = self.run_once(worker)
            except Exception:  # a database hiccup must not end the sender: it tries again at the next poll
                log.exception("notification sender %s failed; retrying", worker)
                sent = 0
            if sent == 0:
                self._wake.wait(self.settings.poll_seconds)

    # -- one round ----------------------------------------------------------------------------------------

    def run_once(self, worker: str | None = None, limit: int = BATCH) -> int:
        """Claim, send and record up to `limit` due notifications; how many were claimed."""
        worker = worker or f"{self.name}/once"
        now = self.clock()
        with self.sessions.begin() as session:
            claimed = claim(session, worker, now, limit, timedelta(seconds=self.settings.lease_seconds))
            if self.metrics is not None:  # counted only when a full batch says there may be more
                self.metrics.outbox_depth.set(pending_count(session, now) if len(claimed) == limit else 0)
        for item in claimed:
            self._send(worker, item)
        return len(claimed)

    def _send(self, worker: str, item: Claimed) -> None:
        try:
            target = parse_target(item.target)
            message = self._message(item)
            outcome = self.channels.send(target, message) if message is not None else Outcome(
                False, "the alert is gone", retry=False)
        except ValueError as exc:  # a target that no longer parses (changed Apprise, hand-edited row)
            outcome = Outcome(False, str(exc), retry=False)
        now = self.clock()
        with self.sessions.begin() as session:
            result = finish(session, item, worker, outcome.delivered, outcome.error, outcome.retry, now,
                            self.settings, outcome.retry_after)
        if self.metrics is not None:
            self.metrics.deliveries.labels(item.channel, result).inc()
            if result == "delivered":
                self.metrics.notification_seconds.labels(item.channel).observe(
                    max(0.0, (now - item.created_at).total_seconds()))
        if result != "delivered":
            log.warning("notification %d (%s → %s): %s: %s", item.id, item.channel, item.shown, result,
                        outcome.error)

    def _message(self, item: Claimed) -> Message | None:
        with self.sessions() as session:
            view = self._view(session, item.alert_id) if item.alert_id is not None else None
            if view is None:
                return None
            link = self.link(session, view.id, act=item.role in ("on_duty", "maintenance"))
        return compose(view, item.step, item.role, link, self.clock())

    def link(self, session: Session, alert_id: int, act: bool) -> str:
        if self._key is None:
            self._key = links.link_key(session, self.settings.link_secret)
            session.commit()
        return links.short_url(self.settings.public_url,
                               links.short_token(self._key, alert_id, self.clock() + self.ttl, act))

    def _view(self, session: Session, alert_id: int) -> AlertView | None:
        alert = session.get(Alert, alert_id)
        return None if alert is None else alert_view(session, alert, self.persons)

    # -- the API's test send ------------------------------------------------------------------------------

    def send_test(self, text: str, by: str) -> tuple[Target, Outcome]:
        """Send a test message to `text` now, outside the outbox; raises ValueError for an unusable target."""
        target = parse_target(text)
        now = self.clock()
        body = (f"Anju 安居 测试消息 / test message\n由 {by} 于 {now:%Y-%m-%d %H:%M:%S} UTC 发送 / sent by {by}.\n"
                "收到即表示此目标可用 / receiving it means this target works.")
        outcome = self.channels.send(target, Message(title="Anju 测试 / test", body=body, severity="warning",
                                                     short="Anju 测试消息 test"))
        if self.metrics is not None:
            self.metrics.deliveries.labels(target.channel, "delivered" if outcome.delivered else "failed").inc()
        return target, outcome


def alert_view(session: Session, alert: Alert,
               persons: Callable[[], PersonDirectory | None] | None = None) -> AlertView:
    """What a message (or a one-tap link's page) shows of `alert`; with `persons`, the contacts too (a link's
    page, which anyone holding the link sees, leaves them out)."""
    site = session.get(Site, alert.site_id)
    grid = session.get(Grid, alert.grid_id) if alert.grid_id else None
    device = session.get(Device, alert.device_id) if alert.device_id else None
    return AlertView(
        id=alert.id, title=alert.title, severity=alert.severity, state=alert.state,
        created_at=alert.created_at, count=alert.count, acknowledged_by=alert.acknowledged_by,
        site_name=site.name if site else alert.site_id, timezone=site.timezone if site else "Asia/Shanghai",
        grid_name=grid.name if grid else None, device_name=device.name if device else None,
        zone=device.zone if device else None,
        location=device.location if device is not None and isinstance(device.location, dict) else {},
        contacts=device_contacts(session, device, persons()) if device is not None and persons else None,
        affected=affected_of(alert.evidence))
