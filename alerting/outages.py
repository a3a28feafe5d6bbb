"""Site and network-segment outages: one grouped maintenance alert instead of a flood of offline alerts.

When a site's uplink or a segment's switch dies, every device behind it goes
offline at once; maintenance needs one alert saying "courtyard 7 is dark", not a
hundred saying "button 7-2-301 offline". So, on every offline transition (and
on the gateway's clock, for the groups that had one lately), a group of devices
— those with the same `attributes.segment`, else the whole site — is checked:
when at least `min_devices` and at least `fraction` of them went offline within
`window`, ONE grouped alert (rule `site-outage`) is opened, and the per-device
offline alerts of the incident are folded under it (`parent_id`): recorded and
visible in the API, but neither announced nor escalated. Devices of the group
going offline while it is open join it. When `fraction` of the incident's
devices are back online, the gateway resolves the grouped alert and its
children itself (by `system`, with a note).

The tracker's transaction hook runs before the rules': an incident opened by a
batch already exists when the rules raise that batch's offline alerts, which
are then born folded (the engine is given `parent_for` as its fold hook, `alerting.alerts.FoldHook`).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row, event, select
from sqlalchemy.orm import Session

from alerting.alerts import AlertChange, AlertSpec, fold, resolve
from kernel.config import GroupingSettings
from kernel.db.models import Alert, Device
from kernel.durations import parse_duration
from kernel.observations import DEVICE_OFFLINE, DEVICE_ONLINE, Observation
from kernel.ports import GatewayPort, Sessions

log = logging.getLogger(__name__)

RULE = "site-outage"
TYPE = "site_outage"
SYSTEM = "system"
SETTLE = timedelta(seconds=1)
"""The clock re-checks a group this long after its last transition (which was checked as it happened)."""
Group = tuple[str, str | None]
"""(site, segment): segment None is the site's devices without a segment."""


def group_of(device: Device | Row[Any]) -> Group:
    segment = (device.attributes or {}).get("segment")
    return device.site_id, str(segment) if segment not in (None, "") else None


def dedup_key(group: Group) -> str:
    return f"{RULE}|{group[0]}|{group[1] or '*'}"


class AlertSink(Protocol):
    """What the tracker needs of the rule engine: raise an alert (routed, silenced as any other), announce."""

    def raise_spec(self, session: Session, spec: AlertSpec, now: datetime) -> AlertChange: ...

    def deliver(self, changes: list[AlertChange]) -> None: ...


class OutageTracker:
    def __init__(self, engine: AlertSink, settings: GroupingSettings | None = None) -> None:
        settings = settings or GroupingSettings()
        self.engine = engine
        self.min_devices = settings.min_devices
        self.fraction = settings.fraction
        self.window: timedelta = parse_duration(settings.window)
        self._recent: dict[Group, datetime] = {}
        """Groups with a transition within the window: checked on every tick."""
        self._dark: set[Group] = set()
        """Those of `_recent` with an offline transition among them. Only these can open an outage; the others
        are only looked at for an open one (which loads no devices). Profiled (py-spy, `anju bench latency`):
        a site whose devices only came online had all its devices loaded on every tick, holding the
        interpreter lock for tens of milliseconds while a press waited to be received."""
        self._lock = threading.Lock()

    def attach(self, gateway: GatewayPort) -> None:
        """Check groups in the gateway's transactions and on its clock; the caller gives the engine
        `parent_for` as its fold hook."""
        gateway.add_transaction_hook(self.on_observations)
        gateway.add_ticker(lambda now: self.tick(gateway.sessions, now))

    # -- inside the gateway's transaction ---------------------------------------------------------------

    def on_observations(self, session: Session, observations: list[Observation]) -> None:
        groups: dict[Group, datetime] = {}
        went_offline: set[Group] = set()
        for obs in observations:
            if obs.type in (DEVICE_OFFLINE, DEVICE_ONLINE):
                group = (obs.device.site, obs.device.segment)
                groups[group] = max(groups.get(group, obs.received_at), obs.received_at)
                if obs.type == DEVICE_OFFLINE:
                    went_offline.add(group)
        if not groups:
            return
        with self._lock:
            self._recent.update(groups)
            self._dark.update(went_offline)
        changes = [c for group, at in groups.items() for c in self.check(session, group, at, group in went_offline)
                   if c.action != "repeated"]  # two workers opening the same outage: one alert, told once
        if changes:
            @event.listens_for(session, "after_commit", once=True)
            def _committed(_session: Session) -> None:
                self.engine.deliver(changes)

    def parent_for(self, session: Session, spec: AlertSpec) -> int | None:
        """The open outage a device's new offline alert belongs under, if it is one of its devices."""
        if spec.type != DEVICE_OFFLINE or spec.device_id is None:
            return None
        for alert in self._open(session, spec.site):
            if spec.device_id in _devices(alert):
                return alert.id
        return None

    def check(self, session: Session, group: Group, now: datetime, went_offline: bool = True) -> list[AlertChange]:
        """Open, extend or close the group's outage; returns the announced changes.

        Devices only coming online cannot open an outage: without an open one, the group's devices are not
        even loaded (profiled: a site's start-up, every device's first message, spent most of its time here).
        """
        outage = next((a for a in self._open(session, group[0]) if a.dedup_key == dedup_key(group)), None)
        if outage is None and not went_offline:
            return []
        # Plain rows of the few columns needed, not ORM objects: a site can have thousands of devices.
        members = [d for d in session.execute(select(Device.id, Device.site_id, Device.online,
                                                     Device.online_changed_at, Device.attributes)
                                              .where(Device.site_id == group[0]))
                   if group_of(d) == group]
        offline = {d.id for d in members if d.online is False}
        if outage is None:
            recent = sorted(d.id for d in members if d.id in offline and d.online_changed_at is not None
                            and d.online_changed_at >= now - self.window)
            if len(recent) < self.min_devices or len(recent) < self.fraction * len(members):
                return []
            change = self._open_outage(session, group, recent, len(members), now)
            return [change]
        devices = _devices(outage)
        joined = sorted(offline - set(devices))
        if joined:  # more of the group went dark while the outage is open: they belong to it
            devices = devices + joined
            self._fold_children(session, outage.id, joined, now)
            outage.evidence = [{**outage.evidence[0], "devices": devices}, *outage.evidence[1:]]
        back = sum(1 for d in members if d.id in devices and d.online is True)
        if back >= self.fraction * len(devices):
            return self._close(session, outage, back, len(devices), now)
        return []

    def _open_outage(self, session: Session, group: Group, devices: list[str], total: int,
                     now: datetime) -> AlertChange:
        site, segment = group
        where = f"{site} segment {segment}" if segment else site
        spec = AlertSpec(
            rule=RULE, type=TYPE, severity="major", audience="maintenance", site=site,
            title=f"站点断网 / Outage: {len(devices)} of {total} devices of {where} offline",
            dedup_key=dedup_key(group),
            evidence={"site": site, "segment": segment, "devices": devices, "total": total,
                      "window_s": self.window.total_seconds()},
        )
        change = self.engine.raise_spec(session, spec, now)
        self._fold_children(session, change.alert["id"], devices, now)
        log.warning("outage at %s: %d of %d devices offline within %s", where, len(devices), total, self.window)
        return change

    @staticmethod
    def _fold_children(session: Session, parent_id: int, devices: list[str], now: datetime) -> None:
        """The devices' open offline alerts go under the outage (those raised before it was recognised)."""
        for alert in session.scalars(select(Alert).where(
                Alert.device_id.in_(devices), Alert.type == DEVICE_OFFLINE, Alert.state != "resolved",
                Alert.parent_id.is_(None))):
            fold(session, alert, parent_id, now)

    @staticmethod
    def _close(session: Session, outage: Alert, back: int, total: int, now: datetime) -> list[AlertChange]:
        note = f"{back} of {total} devices back online: outage over (closed by the gateway)"
        changes = [resolve(session, outage.id, SYSTEM, note, now, by_system=True)]
        for child in session.scalars(select(Alert).where(Alert.parent_id == outage.id, Alert.state != "resolved")):
            resolve(session, child.id, SYSTEM, note, now, by_system=True)  # folded: recorded, not announced
        log.info("outage %d at %s closed: %s", outage.id, outage.site_id, note)
        return changes

    @staticmethod
    def _open(session: Session, site: str) -> list[Alert]:
        return list(session.scalars(select(Alert).where(Alert.rule == RULE, Alert.site_id == site,
                                                        Alert.state != "resolved")))

    # -- on the gateway's clock ---------------------------------------------------------------------------

    def tick(self, sessions: Sessions, now: datetime) -> None:
        """Check the groups that had a transition lately, so an outage is decided within the window on the
        gateway's clock, whatever the traffic; groups quiet for longer than the window are dropped."""
        with self._lock:
            for group, at in list(self._recent.items()):
                if now - at > self.window:
                    del self._recent[group]
                    self._dark.discard(group)
            # A transition checked its group a moment ago, in its own transaction: leave it that second.
            groups = [(g, g in self._dark) for g, at in self._recent.items() if now - at >= SETTLE]
        if not groups:
            return
        changes: list[AlertChange] = []
        with sessions.begin() as session:
            for group, dark in groups:
                changes.extend(c for c in self.check(session, group, now, dark) if c.action != "repeated")
        if changes:
            self.engine.deliver(changes)


def _devices(alert: Alert) -> list[str]:
    evidence = alert.evidence[0] if alert.evidence else {}
    return list(evidence.get("devices", [])) if isinstance(evidence, dict) else []
