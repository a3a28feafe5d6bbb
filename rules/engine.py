"""The rule runtime: observations in (inside the gateway's transaction), alert changes out (after commit).

Alerts are raised in the same transaction that stores the triggering message,
so a crash can never leave a stored press without its alert, or an alert
without its press. Publishing to `anju/v1/{site}/alerts` happens only after the
commit, so nobody is told about an alert that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from gateway.registry import device_info
from kernel.db.models import Device, Event, Person
from kernel.deviceinfo import DeviceInfo
from kernel.metrics import GatewayMetrics
from kernel.observations import Observation
from kernel.topics import alerts_topic
from rules import cancel, floor, pack, timers
from rules.alerts import AlertChange, AlertSpec, announced, raise_alert
from rules.escalation import DEFAULT_REMINDER, escalate_due, notify
from rules.index import RuleIndex
from rules.loader import load_rule_files
from rules.persons import PersonDirectory, PersonInfo
from rules.routing import Routing
from rules.schema import (
    Absence,
    Correlation,
    Count,
    Duration,
    EventMatch,
    Rule,
    Threshold,
    event_zone,
    key_value,
)
from rules.silences import matching_silence
from rules.watchlists import load_watchlists

log = logging.getLogger(__name__)

AlertListener = Callable[[list[AlertChange]], None]
LARGE_FIELDS = ("snapshot",)
"""Payload fields too big for evidence (base64 images): replaced by their size."""
CONFIG_REFRESH = timedelta(seconds=5)
"""How soon a change made through the API (watchlists, chains, rosters, rule files) reaches every gateway."""
RECENT_LIMIT = 2000
"""Window look-ups read at most this many stored events (a 2-minute window of one site is far smaller)."""
NEAREST_PAGE = 16
"""Rows a correlation reads at first when looking for its partner event (then four times more per page)."""
NOT_SEEN = "not seen since monitoring started"
"""The evidence of an absence timer armed at start-up, before any sighting."""


def builtin_rules_path() -> Path:
    return Path(__file__).resolve().parent / "builtin.yaml"


def _slim(data: Mapping[str, Any]) -> dict[str, Any]:
    """The payload for evidence, with base64 images replaced by their size."""
    return {k: (f"<{len(v)} bytes>" if k in LARGE_FIELDS and isinstance(v, str) else v) for k, v in data.items()}


class _Fields(dict[str, Any]):
    """Template values for alert titles: a missing placeholder stays visible instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class RuleEngine:
    def __init__(self, rules: list[Rule], watchlists: Mapping[str, set[str]] | None = None,
                 arm_absences: bool = True) -> None:
        self.base_rules = list(rules)
        """The configured pack; the API's rule files are added to it (`rules.pack`)."""
        self._set_rules(self.base_rules)
        self.watchlists: Mapping[str, set[str]] = watchlists or {}
        self.listeners: list[AlertListener] = []
        self._live = False
        """Attached to a gateway: API-managed configuration is read from the database and refreshed."""
        self._refreshed_at: datetime | None = None
        self._refresh_wanted = 0
        """Bumped by `request_refresh`; `refresh` records the value it served, so no request is lost in between."""
        self._refresh_served = -1
        self._api_files: tuple[tuple[str, datetime], ...] = ()
        self.routing = Routing()
        """Replaced on attach by the chains and rosters in the database (site file and API)."""
        self._absences_armed = not arm_absences
        """Live engines arm every device's absence timer on their first tick; a backtest replays history instead."""
        self._armed_persons: set[str] | None = None
        """Persons under a welfare check that this engine has armed (None until it arms absences at all)."""
        self.persons: PersonDirectory | None = None
        """Who a sighting shows (`per: person`): read with the configuration, or on first use (a backtest)."""
        self._publish: Callable[[str, bytes], None] | None = None
        self.present: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        """How an alert is shown on the alerts topic: the API's form (pictures by their public id), set by the
        application (`anju.runtime`); None: as stored."""
        self.metrics: GatewayMetrics | None = None
        self.fold: Callable[[Session, AlertSpec], int | None] | None = None
        """The grouped alert a new alert belongs under (`rules.outages`), if any; set on attach."""

    @classmethod
    def from_files(cls, paths: list[str] | None) -> RuleEngine:
        """The configured rule files, or the built-in pack when there are none; with the safety floor whole."""
        return cls(floor.with_floor(load_rule_files(paths or [builtin_rules_path()])))

    # -- wiring ---------------------------------------------------------------------------------

    def _set_rules(self, rules: list[Rule]) -> None:
        enabled = [r for r in rules if r.enabled]
        self._by_id = {rule.id: rule for rule in enabled}
        self.all_rules = {rule.id: rule for rule in rules}
        """Every rule, disabled ones too (silences name rules that may be switched on again)."""
        self._index = RuleIndex(enabled)
        """The rules each observation is evaluated against (`rules.index`): with a thousand rules, trying every
        one on every message cost more than storing it. Replaced whole, so a batch running meanwhile is
        evaluated against one rule set or the other, never a mix within one observation."""
        self.rules = enabled

    def attach(self, gateway: Any) -> None:
        """Evaluate inside the gateway's transactions, publish after its commits, escalate on its clock."""
        from rules.outages import OutageTracker

        self._live = True  # configuration is loaded with the first batch or tick, then refreshed on the clock
        OutageTracker(self, gateway.settings.health.grouping).attach(gateway)  # its hook runs before the rules'
        gateway.pipeline.transaction_hooks.append(self.on_observations)
        self._publish = lambda topic, payload: gateway.hub.publish(topic, payload, qos=1)
        self.metrics = gateway.metrics
        gateway.tickers.append(lambda now: self.tick(gateway.sessions, now))

    # -- evaluation (inside the transaction) ----------------------------------------------------

    def refresh(self, session: Session, now: datetime) -> None:
        """Read what the API manages: watchlists, escalation chains and rosters, rule files."""
        wanted = self._refresh_wanted
        self.watchlists = load_watchlists(session)
        self.routing = Routing.from_db(session)
        self.persons = PersonDirectory.load(session)
        files = pack.stored_files(session)
        stamp = tuple((name, at) for name, _content, at in files)
        if stamp != self._api_files:
            self._set_rules(pack.compose(self.base_rules, ((name, content) for name, content, _at in files)))
            self._api_files = stamp
            if self._absences_armed and self._live:
                self._absences_armed = False  # a new absence rule covers every device from now (kept, not postponed)
            log.info("rules: %d active (%d API-managed files)", len(self.rules), len(files))
        self._refreshed_at = now
        self._refresh_served = wanted

    def request_refresh(self) -> None:
        """Re-read the configuration before the next message or tick (after a change through the API)."""
        self._refresh_wanted += 1

    def _refresh_due(self, now: datetime | None) -> bool:
        if not self._live:
            return False
        if self._refresh_served != self._refresh_wanted or self._refreshed_at is None:
            return True
        return now is not None and now - self._refreshed_at >= CONFIG_REFRESH

    def on_observations(self, session: Session, observations: list[Observation]) -> None:
        if observations and self._refresh_due(None):
            self.refresh(session, observations[0].received_at)
        changes: list[AlertChange] = []
        failed = 0
        for obs in observations:
            for rule in self._index.for_observation(obs):  # those that can act on it, in pack order
                # A broken rule must cost its own alert, never the stored message or the other rules:
                # evaluation errors are logged, and each alert write gets a savepoint.
                try:
                    spec = self._evaluate(session, rule, obs)
                    if spec is not None:
                        with session.begin_nested():
                            changes.append(self.raise_spec(session, spec, obs.received_at))
                except Exception:
                    failed += 1
                    log.exception("rule %s failed on %s %s of %s", rule.id, obs.channel, obs.type, obs.device.id)
            if cancel.is_cancel(obs):  # after the rules: a press earlier in this batch has raised its SOS
                try:
                    with session.begin_nested():
                        changes.extend(cancel.record_cancel(session, obs))
                except Exception:
                    log.exception("the cancel of %s could not be added to its SOS alert", obs.device.id)
        if self.metrics is not None:  # counted per batch: a counter per evaluation would cost more than the rule
            self.metrics.rule_evaluations.labels("evaluated").inc(len(observations) * len(self.rules) - failed)
            self.metrics.rule_evaluations.labels("failed").inc(failed)
        if changes:
            self._after_commit(session, changes)

    def _evaluate(self, session: Session, rule: Rule, obs: Observation) -> AlertSpec | None:
        device = obs.device
        if rule.scope is not None and not rule.scope.matches(device.site, device.grid, device.zone, device.kind,
                                                             device.id, obs.data):
            return None
        if rule.schedule is not None and not rule.schedule.active(obs.ts):
            return None
        condition = rule.condition
        if isinstance(condition, EventMatch):
            if condition.matches(device.kind, obs.type, obs.data, self.watchlists):
                return self._spec(rule, obs, [self._evidence(obs)])
        elif isinstance(condition, Threshold):
            return self._threshold(session, rule, condition, obs)
        elif isinstance(condition, Count):
            return self._count(session, rule, condition, obs)
        elif isinstance(condition, Correlation):
            return self._correlation(session, rule, condition, obs)
        elif isinstance(condition, Duration):
            self._duration(session, rule, condition, obs)
        elif isinstance(condition, Absence):
            self._absence(session, rule, condition, obs)
        return None

    # Timer conditions arm or cancel a timer in the database; the clock raises their alerts.

    def _duration(self, session: Session, rule: Rule, cond: Duration, obs: Observation) -> None:
        kind, data = obs.device.kind, obs.data
        group = self._group(cond.per, rule, obs.device, data) or ""
        if cond.end.matches(kind, obs.type, data, self.watchlists):
            timers.cancel(session, rule.id, group)
        elif cond.start.matches(kind, obs.type, data, self.watchlists):
            timers.arm(session, rule.id, group, obs.device.id, obs.received_at + cond.longer_than, obs.received_at,
                       self._evidence(obs), extend=False)

    def _absence(self, session: Session, rule: Rule, cond: Absence, obs: Observation) -> None:
        if not cond.event.matches(obs.device.kind, obs.type, obs.data, self.watchlists):
            return
        if cond.per_person:  # a sighting counts only when it shows someone under a welfare check
            device = obs.device
            person = self._directory(session).identify(site=device.site, kind=device.kind, device=device.id,
                                                       type=obs.type, data=obs.data)
            if person is not None and person.welfare_check and (
                    rule.scope is None or rule.scope.covers_person(person.site, person.grid)):
                timers.arm(session, rule.id, person.id, _timer_device(person), obs.received_at + cond.for_,
                           obs.received_at, self._sighting(person, obs), extend=True)
            return
        group = self._group(cond.per, rule, obs.device, obs.data) or ""
        timers.arm(session, rule.id, group, obs.device.id, obs.received_at + cond.for_, obs.received_at,
                   self._evidence(obs), extend=True)

    def _directory(self, session: Session) -> PersonDirectory:
        """The person directory, read now if the configuration was never loaded (a backtest)."""
        if self.persons is None:
            self.persons = PersonDirectory.load(session)
        return self.persons

    def _sighting(self, person: PersonInfo, obs: Observation) -> dict[str, Any]:
        """A person absence's evidence: who, and when and where they were last seen."""
        seen = {**self._evidence(obs), "kind": obs.device.kind, "device_name": obs.device.name}
        note = f"last seen {seen['ts']} at {obs.device.id} ({obs.device.kind} {obs.type})"
        return {"person_id": person.id, "person_name": person.name, "last_seen": seen, "note": note}

    def _arm_absences(self, session: Session, now: datetime) -> None:
        """At start-up, give every device (or person) in an absence rule's reach a timer, so one never seen fires.

        Existing timers are kept (a restart must not postpone a welfare check).
        """
        self._armed_persons = set()
        self._arm_new_persons(session, now)
        for rule in self.rules:
            cond = rule.condition
            if not isinstance(cond, Absence) or cond.per_person:
                continue
            stmt = select(Device)
            if cond.event.kind is not None:
                stmt = stmt.where(Device.kind == cond.event.kind)
            for row in session.scalars(stmt):
                info = device_info(row)
                if rule.scope is not None and not rule.scope.matches(info.site, info.grid, info.zone, info.kind,
                                                                     info.id):
                    continue
                group = self._group(cond.per, rule, info, {}) or ""
                timers.arm(session, rule.id, group, info.id, now + cond.for_, now,
                           {"device_id": info.id, "note": NOT_SEEN}, extend=False)

    def _arm_new_persons(self, session: Session, now: datetime) -> None:
        """Arm the persons under a welfare check that this engine has not armed yet: all of them at start-up,
        then those the API or the site file adds later. Existing timers are kept, never postponed."""
        if self._armed_persons is None:
            return
        watched = {p.id: p for p in self._directory(session).welfare()}
        new = [watched[pid] for pid in sorted(watched.keys() - self._armed_persons)]
        self._armed_persons = set(watched)  # someone taken off the list and put back is armed again
        for rule in self.rules:
            cond = rule.condition
            if not new or not isinstance(cond, Absence) or not cond.per_person:
                continue
            for person in new:
                if rule.scope is None or rule.scope.covers_person(person.site, person.grid):
                    timers.arm(session, rule.id, person.id, _timer_device(person), now + cond.for_, now,
                               {"person_id": person.id, "person_name": person.name, "last_seen": None,
                                "note": NOT_SEEN}, extend=False)

    def raise_spec(self, session: Session, spec: AlertSpec, now: datetime) -> AlertChange:
        """Raise (or merge) the alert; a new, unsilenced one goes to the first staffed level of its chain."""
        parent = self.fold(session, spec) if self.fold is not None else None
        if parent is not None:  # part of a site or segment outage: recorded under it, not announced
            return raise_alert(session, spec, now, None, parent_id=parent)
        silence = matching_silence(session, spec, now)
        route = None if silence is not None else (lambda alert: notify(session, alert, self.routing, 0, now,
                                                                       "notified"))
        return raise_alert(session, spec, now, None, silence, on_created=route)

    def _threshold(self, session: Session, rule: Rule, cond: Threshold, obs: Observation) -> AlertSpec | None:
        if cond.kind is not None and cond.kind != obs.device.kind:
            return None
        for reading in obs.readings:
            if reading.metric != cond.metric:
                continue
            data = {**obs.data, "zone": reading.zone} if reading.zone else obs.data
            evidence = self._evidence(obs)
            evidence["reading"] = {"metric": reading.metric, "value": reading.value, "zone": reading.zone}
            if cond.for_ is None:
                if cond.breached(reading.value):
                    return self._spec(rule, obs, [evidence], data=data)
                continue
            # Sustained: the first breaching reading arms a timer, a normal reading cancels it.
            group = rule.dedup.key_for(rule=rule.id, site=obs.device.site, grid=obs.device.grid,
                                       zone=obs.device.zone, kind=obs.device.kind, device=obs.device.id,
                                       data=data) or obs.device.id
            if cond.breached(reading.value):
                timers.arm(session, rule.id, group, obs.device.id, obs.received_at + cond.for_, obs.received_at,
                           evidence, extend=False)
            else:
                timers.cancel(session, rule.id, group)
        return None

    def _count(self, session: Session, rule: Rule, cond: Count, obs: Observation) -> AlertSpec | None:
        """N matching events in a sliding window, counted from the stored events (so restarts lose nothing)."""
        if obs.event_id is None or not cond.event.matches(obs.device.kind, obs.type, obs.data, self.watchlists):
            return None
        group = self._group(cond.per, rule, obs.device, obs.data)
        # `per: device` (a burst of denials at one gate): only that device's events, through its own index,
        # instead of every matching event of the site's window loaded and grouped here.
        device = obs.device.id if cond.per == "device" else None
        recent = [e for e in self._events(session, obs.device.site, cond.event, obs.ts - cond.within, obs.ts,
                                          device_id=device)
                  if self._group(cond.per, rule, e[1], e[0].data) == group]
        if len(recent) < cond.at_least:
            return None
        return self._spec(rule, obs, [self._stored_evidence(e) for e in recent[-5:]])

    def _correlation(self, session: Session, rule: Rule, cond: Correlation, obs: Observation) -> AlertSpec | None:
        """`first` then `then` within the window, same group, in event time (looked up in stored events).

        Usually `then` arrives last and finds its `first`. Devices publish on their own connections, so a
        `first` can also arrive after its `then` (a fence host's alarm delayed behind a camera's capture):
        then the `first` looks forward for a `then` that happened after it. Each pair fires once, on
        whichever of its two events was stored last, and the alert is always about the `then`.
        """
        event_id = obs.event_id
        if event_id is None:
            return None
        kind, data = obs.device.kind, obs.data
        site = obs.device.site
        group = self._group(cond.same, rule, obs.device, data)

        def in_group(event: Event, device: DeviceInfo) -> bool:
            return self._group(cond.same, rule, device, event.data) == group

        # Only events stored before this one (`before_id`): a pair stored in one batch (both already in the
        # table when the rules run) would otherwise fire on each of its two events.
        if cond.then.matches(kind, obs.type, data, self.watchlists):
            first = self._nearest(session, site, cond.first, obs.ts - cond.within, obs.ts, before_id=event_id,
                                  newest=True, accept=in_group)
            if first is not None:
                return self._spec(rule, obs, [self._stored_evidence(first), self._evidence(obs)])
        if cond.first.matches(kind, obs.type, data, self.watchlists):
            then = self._nearest(session, site, cond.then, obs.ts, obs.ts + cond.within, before_id=event_id,
                                 newest=False, accept=in_group, after=True)
            if then is not None:
                # The alert is about the `then` (the camera that saw the intruder), whichever event came last:
                # the same pair must give the same alert, device and dedup key in either arrival order.
                then_event, then_device = then
                subject = Observation(device=then_device, channel="event", type=then_event.type, ts=then_event.ts,
                                      received_at=obs.received_at, msg_id=then_event.msg_id,
                                      data=dict(then_event.data or {}), event_id=then_event.id)
                return self._spec(rule, subject, [self._evidence(obs), self._stored_evidence(then)])
        return None

    def _events(self, session: Session, site: str, match: EventMatch, start: datetime, end: datetime,
                after: bool = False, device_id: str | None = None) -> list[tuple[Event, DeviceInfo]]:
        """Stored events of `site` (of one device, if given) matching `match` in (start, end] (with `after`:
        [start, end)), oldest first."""
        stmt = _events_in_window(site, match, start, end, after, device_id)
        return [(event, device_info(device))
                for event, device in session.execute(stmt.order_by(Event.ts, Event.id).limit(RECENT_LIMIT))
                if match.matches(event.kind, event.type, event.data, self.watchlists)]

    def _nearest(self, session: Session, site: str, match: EventMatch, start: datetime, end: datetime, *,
                 before_id: int, newest: bool, accept: Callable[[Event, DeviceInfo], bool],
                 after: bool = False) -> tuple[Event, DeviceInfo] | None:
        """The newest (or oldest) stored event in the window, stored before `before_id`, that matches and is
        accepted; read a page at a time, nearest first.

        A correlation wants one partner, not the window: reading every fence alarm of a busy site's two
        minutes for each camera capture (and every capture for each alarm) made a capture's cost grow with
        the site's traffic (profiled: 12 of 23 s of processing, all five kinds at one site).
        """
        stmt = _events_in_window(site, match, start, end, after).where(Event.id < before_id)
        stmt = stmt.order_by(Event.ts.desc(), Event.id.desc()) if newest else stmt.order_by(Event.ts, Event.id)
        offset, page = 0, NEAREST_PAGE
        while offset < RECENT_LIMIT:
            rows = session.execute(stmt.limit(page).offset(offset)).all()
            for found, device in rows:
                info = device_info(device)
                if match.matches(found.kind, found.type, found.data, self.watchlists) and accept(found, info):
                    return found, info
            if len(rows) < page:
                return None
            offset, page = offset + page, page * 4
        return None

    @staticmethod
    def _group(part: str, rule: Rule, device: DeviceInfo, data: Mapping[str, Any]) -> str | None:
        return key_value(part, rule=rule.id, site=device.site, grid=device.grid, zone=device.zone,
                         kind=device.kind, device=device.id, data=data)

    def _spec(self, rule: Rule, obs: Observation, evidence: list[dict[str, Any]],
              data: Mapping[str, Any] | None = None) -> AlertSpec:
        device = obs.device
        data = obs.data if data is None else data
        return AlertSpec(
            rule=rule.id, type=obs.type, severity=rule.severity, title=self._title(rule, obs), site=device.site,
            grid=device.grid, device_id=device.id, kind=device.kind, audience=rule.audience,
            dedup_key=rule.dedup.key_for(rule=rule.id, site=device.site, grid=device.grid, zone=device.zone,
                                         kind=device.kind, device=device.id, data=data),
            silenceable=rule.silenceable, evidence={"events": evidence} if len(evidence) > 1 else evidence[0],
        )

    @staticmethod
    def _stored_evidence(item: tuple[Event, DeviceInfo]) -> dict[str, Any]:
        event, _device = item
        return {"event_id": event.id, "device_id": event.device_id, "msg_id": event.msg_id, "type": event.type,
                "ts": event.ts.isoformat(), "data": _slim(event.data)}

    @staticmethod
    def _title(rule: Rule, obs: Observation) -> str:
        fields = _Fields({k: v for k, v in obs.data.items() if isinstance(v, str | int | float)})
        fields.update(_device_fields(obs.device, obs.data), rule=rule.name)
        return _render(rule, fields, fields["device_name"])

    @staticmethod
    def _evidence(obs: Observation) -> dict[str, Any]:
        return {"event_id": obs.event_id, "device_id": obs.device.id, "msg_id": obs.msg_id, "type": obs.type,
                "ts": obs.ts.isoformat(), "data": _slim(obs.data)}

    # -- after commit ---------------------------------------------------------------------------

    def _after_commit(self, session: Session, changes: list[AlertChange]) -> None:
        @event.listens_for(session, "after_commit", once=True)
        def _committed(_session: Session) -> None:
            self.deliver(changes)

    def deliver(self, changes: list[AlertChange]) -> None:
        changes = [c for c in changes if announced(c.alert)]  # silenced or folded: recorded, not announced
        if not changes:
            return
        for change in changes:
            if self.metrics is not None:
                self.metrics.alert_changes.labels(change.action, change.alert["severity"]).inc()
            if self._publish is not None:
                shown = change.alert if self.present is None else self.present(change.alert)
                payload = orjson.dumps({"action": change.action, **shown})
                try:
                    self._publish(alerts_topic(change.site), payload)
                except Exception:  # the alert is stored; the API still shows it
                    log.exception("could not publish alert %s", change.alert["id"])
        for listener in self.listeners:
            try:
                listener(changes)
            except Exception:  # one broken listener must not starve the others
                log.exception("alert listener %r failed", listener)

    # -- clock ------------------------------------------------------------------------------------

    def tick(self, sessions: Any, now: datetime) -> None:
        """Escalations and rule timers that came due; alerts are delivered after the commit."""
        refreshed = self._refresh_due(now)
        if refreshed:
            with sessions() as session:
                self.refresh(session, now)
        with sessions.begin() as session:
            if not self._absences_armed:
                self._arm_absences(session, now)
                self._absences_armed = True
            elif refreshed:
                self._arm_new_persons(session, now)
            changes = escalate_due(session, now, self.routing, DEFAULT_REMINDER)
            changes.extend(self.fire_timers(session, now))
        if changes:
            self.deliver(changes)

    def fire_timers(self, session: Session, now: datetime) -> list[AlertChange]:
        changes = []
        for timer in timers.claim_due(session, now, self._by_id):
            rule = self._by_id.get(timer.rule)
            if rule is None:  # rule removed since the timer was armed
                continue
            cond = rule.condition
            evidence = {**timer.evidence, "timer": {"armed_at": timer.armed_at.isoformat(),
                                                   "due_at": timer.due_at.isoformat()}}
            if isinstance(cond, Absence) and cond.per_person:
                spec = self._person_absent(session, rule, cond, timer, evidence, now)
            else:
                row = session.get(Device, timer.device_id)
                if row is None:  # device deleted since the timer was armed
                    continue
                obs = Observation(device_info(row), "timer", rule.condition_name, now, now,
                                  data=evidence.get("data", {}))
                if isinstance(cond, Absence):  # still absent after another period: remind again (merged)
                    timers.arm(session, rule.id, timer.group_key, timer.device_id, now + cond.for_, now,
                               timer.evidence, extend=True)
                spec = self._spec(rule, obs, [evidence])
            if spec is not None:
                with session.begin_nested():
                    changes.append(self.raise_spec(session, spec, now))
        return changes

    def _person_absent(self, session: Session, rule: Rule, cond: Absence, timer: timers.DueTimer,
                       evidence: dict[str, Any], now: datetime) -> AlertSpec | None:
        """A person not seen for `for`: the alert is about them, at their flat's button when they have one.

        The person is read afresh (their buttons, grid and check may have changed since the timer was armed);
        a person deleted or taken off the welfare check since then is dropped quietly, and not re-armed.
        """
        row = session.get(Person, timer.group_key)
        if row is None or not row.welfare_check:
            return None
        person = PersonInfo.from_row(row)
        device = next((device_info(d) for b in person.buttons if (d := session.get(Device, b)) is not None),
                      None)
        timers.arm(session, rule.id, person.id, _timer_device(person), now + cond.for_, now, timer.evidence,
                   extend=True)  # still not seen after another period: remind again (merged)
        grid = person.grid or (device.grid if device is not None else None)
        fields = _Fields(_device_fields(device, {}) if device is not None else {})
        fields.update(person_id=person.id, person_name=person.name, grid=grid or "", site=person.site,
                      rule=rule.name)
        zone = device.zone if device is not None else None
        return AlertSpec(
            rule=rule.id, type=rule.condition_name, severity=rule.severity, title=_render(rule, fields, person.name),
            site=person.site, grid=grid, device_id=device.id if device else None, kind=device.kind if device else None,
            audience=rule.audience, silenceable=rule.silenceable, evidence=evidence,
            dedup_key=rule.dedup.key_for(rule=rule.id, site=person.site, grid=grid, zone=zone,
                                         kind=device.kind if device else None, device=device.id if device else None,
                                         data={}, person=person.id),
        )


def _timer_device(person: PersonInfo) -> str:
    """What a person's timer stores as its device (`rule_timers.device_id` is NOT NULL): their first button, or ''.

    Informational only: the timer is the person's by its group key, and the alert's device is looked up
    afresh when it fires.
    """
    return person.buttons[0] if person.buttons else ""


def _device_fields(device: DeviceInfo, data: Mapping[str, Any]) -> dict[str, Any]:
    """The device placeholders of an alert title."""
    return {"device": device.id, "device_name": device.name or device.id, "zone": event_zone(device.zone, data) or "",
            "grid": device.grid or "", "site": device.site}


def _render(rule: Rule, fields: _Fields, subject: str) -> str:
    """The rule's `message` filled in, or `name: subject` when it has none."""
    return rule.message.format_map(fields) if rule.message else f"{rule.name}: {subject}"


def _events_in_window(site: str, match: EventMatch, start: datetime, end: datetime, after: bool,
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
