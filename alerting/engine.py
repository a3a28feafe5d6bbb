"""The rule runtime: observations in (inside the gateway's transaction), alert changes out (after commit).

Alerts are raised in the same transaction that stores the triggering message,
so a crash can never leave a stored press without its alert, or an alert
without its press. Publishing to `anju/v1/{site}/alerts` happens only after the
commit, so nobody is told about an alert that was rolled back.

What a condition means is in `rules.conditions` (one evaluator per kind); this class owns the state around
them: the active rule set and its index, the API-managed configuration, the clock, and the way alerts go
out (routing, silences, the outage fold, publishing, listeners).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.orm import Session

from alerting import cancel
from alerting.affected import AffectedDirectory
from alerting.alerts import AlertChange, AlertSpec, FoldHook, announced, raise_alert
from alerting.escalation import DEFAULT_REMINDER, escalate_due, notify
from alerting.notifications.plan import Planner
from alerting.notifications.senders import Notifier
from alerting.outages import OutageTracker
from alerting.routing import Routing
from alerting.silences import matching_silence
from kernel.config import NotificationSettings
from kernel.db.models import Alert
from kernel.metrics import GatewayMetrics
from kernel.observations import Observation
from kernel.ports import GatewayPort, Sessions
from kernel.topics import alerts_topic
from rules import floor, pack, timers
from rules.conditions import EvalContext, evaluate, evaluator
from rules.conditions.absence import arm_devices, arm_persons
from rules.index import RuleIndex
from rules.loader import builtin_rules_path, load_rule_files
from rules.persons import PersonDirectory
from rules.schema import Rule
from rules.watchlists import load_watchlists

log = logging.getLogger(__name__)

AlertListener = Callable[[list[AlertChange]], None]
CONFIG_REFRESH = timedelta(seconds=5)
"""How soon a change made through the API (watchlists, chains, rosters, rule files) reaches every gateway."""


class RuleEngine:
    def __init__(self, rules: list[Rule], watchlists: Mapping[str, set[str]] | None = None,
                 arm_absences: bool = True, fold: FoldHook | None = None) -> None:
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
        self.affected: AffectedDirectory | None = None
        """Buildings, what equipment serves them and their vulnerable residents (`alerting.affected`): read with
        the configuration, so raising an equipment alert looks them up in memory."""
        self._publish: Callable[[str, bytes], None] | None = None
        self.present: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        """How an alert is shown on the alerts topic: the API's form (pictures by their public id), set by the
        application (`anju.runtime`); None: as stored."""
        self.metrics: GatewayMetrics | None = None
        self.fold: FoldHook | None = fold
        """The grouped alert a new alert belongs under, if any: the outage tracker's (`alerting.outages`),
        given on attach."""
        self.planner: Planner | None = None
        """Queues who is told of each alert step (`alerting.notifications`); None: nobody is (a backtest)."""
        self.notifier: Notifier | None = None
        """This process's notification senders, and the API's test send; set on attach."""

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

    def attach(self, gateway: GatewayPort) -> None:
        """Evaluate inside the gateway's transactions, publish after its commits, escalate on its clock."""
        self._live = True  # configuration is loaded with the first batch or tick, then refreshed on the clock
        outages = OutageTracker(self, gateway.settings.health.grouping)
        outages.attach(gateway)  # its hook runs before the rules'
        self.fold = outages.parent_for
        gateway.add_transaction_hook(self.on_observations)
        self._publish = gateway.publish
        self.metrics = gateway.metrics
        gateway.add_ticker(lambda now: self.tick(gateway.sessions, now))
        settings = gateway.settings.notifications
        if settings.enabled:
            self.use_notifications(settings)
        self.notifier = Notifier(settings, gateway.sessions, gateway.metrics, persons=lambda: self.persons)
        if settings.enabled and settings.workers:
            gateway.add_service(self.notifier)
            self.listeners.append(self._wake_senders)

    def _wake_senders(self, _changes: list[AlertChange]) -> None:
        """After a commit: the senders look now if that commit queued notifications (else they poll)."""
        if self.planner is not None and self.notifier is not None and self.planner.take_queued():
            self.notifier.wake()

    def use_notifications(self, settings: NotificationSettings) -> None:
        """Queue notifications for alert steps from now on (the in-process harness calls it; `attach` does)."""
        self.planner = Planner(settings, lambda: self.persons)

    # -- evaluation (inside the transaction) ----------------------------------------------------

    def refresh(self, session: Session, now: datetime) -> None:
        """Read what the API manages: watchlists, escalation chains and rosters, rule files."""
        wanted = self._refresh_wanted
        self.watchlists = load_watchlists(session)
        self.routing = Routing.from_db(session)
        self.persons = PersonDirectory.load(session)
        self.affected = AffectedDirectory.load(session)
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

    def _context(self, session: Session) -> EvalContext:
        return EvalContext(session, self.watchlists, self._directory)

    def on_observations(self, session: Session, observations: list[Observation]) -> None:
        if observations and self._refresh_due(None):
            self.refresh(session, observations[0].received_at)
        ctx = self._context(session)
        changes: list[AlertChange] = []
        failed = 0
        for obs in observations:
            for rule in self._index.for_observation(obs):  # those that can act on it, in pack order
                # A broken rule must cost its own alert, never the stored message or the other rules:
                # evaluation errors are logged, and each alert write gets a savepoint.
                try:
                    spec = evaluate(ctx, rule, obs)
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

    def _directory(self, session: Session) -> PersonDirectory:
        """The person directory, read now if the configuration was never loaded (a backtest)."""
        if self.persons is None:
            self.persons = PersonDirectory.load(session)
        return self.persons

    def _arm_absences(self, session: Session, now: datetime) -> None:
        """At start-up, give every device (or person) in an absence rule's reach a timer, so one never seen fires.

        Existing timers are kept (a restart must not postpone a welfare check).
        """
        self._armed_persons = set()
        self._arm_new_persons(session, now)
        arm_devices(session, self.rules, now)

    def _arm_new_persons(self, session: Session, now: datetime) -> None:
        """Arm the persons under a welfare check that this engine has not armed yet: all of them at start-up,
        then those the API or the site file adds later. Existing timers are kept, never postponed."""
        if self._armed_persons is None:
            return
        watched = {p.id: p for p in self._directory(session).welfare()}
        new = [watched[pid] for pid in sorted(watched.keys() - self._armed_persons)]
        self._armed_persons = set(watched)  # someone taken off the list and put back is armed again
        arm_persons(session, self.rules, new, now)

    def raise_spec(self, session: Session, spec: AlertSpec, now: datetime) -> AlertChange:
        """Raise (or merge) the alert; a new, unsilenced one goes to the first staffed level of its chain."""
        try:
            self._add_affected(session, spec)
        except Exception:  # naming the households is worth much, but never the alert itself
            log.exception("could not name who alert %s of %s affects", spec.rule, spec.device_id)
        parent = self.fold(session, spec) if self.fold is not None else None
        if parent is not None:  # part of a site or segment outage: recorded under it, not announced
            return raise_alert(session, spec, now, None, parent_id=parent)
        silence = matching_silence(session, spec, now)
        route = None if silence is not None else partial(self._route_new, session, now)
        return raise_alert(session, spec, now, None, silence, on_created=route)

    def _add_affected(self, session: Session, spec: AlertSpec) -> None:
        """An alert of equipment that serves buildings names their households and vulnerable residents (in its
        evidence, `affected`), from the directory read with the configuration (docs/buildings.md)."""
        if spec.device_id is None or "affected" in spec.evidence:
            return
        if self.affected is None:  # never refreshed (a backtest, the harness): read once
            self.affected = AffectedDirectory.load(session)
        affected = self.affected.for_device(spec.device_id)
        if affected is not None:
            spec.evidence = {**spec.evidence, "affected": affected}

    def _route_new(self, session: Session, now: datetime, alert: Alert) -> None:
        notify(session, alert, self.routing, 0, now, "notified", self.planner)
        if self.planner is not None:
            self.planner.sos_raised(session, alert, now, self.routing.policy(alert.site_id),
                                    self.routing.timezone(alert.site_id))

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
                observe_response(self.metrics, change)
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

    def tick(self, sessions: Sessions, now: datetime) -> None:
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
            changes = escalate_due(session, now, self.routing, DEFAULT_REMINDER, self.planner)
            changes.extend(self.fire_timers(session, now))
        if changes:
            self.deliver(changes)

    def fire_timers(self, session: Session, now: datetime) -> list[AlertChange]:
        """Raise the alerts of this engine's timers due by `now` (each kind says what its timer raises)."""
        changes = []
        ctx = self._context(session)
        for timer in timers.claim_due(session, now, self._by_id):
            rule = self._by_id.get(timer.rule)
            if rule is None:  # rule removed since the timer was armed
                continue
            evidence = {**timer.evidence, "timer": {"armed_at": timer.armed_at.isoformat(),
                                                   "due_at": timer.due_at.isoformat()}}
            spec = evaluator(rule).fire(ctx, rule, rule.condition, timer, evidence, now)
            if spec is not None:
                with session.begin_nested():
                    changes.append(self.raise_spec(session, spec, now))
        return changes


def observe_response(metrics: GatewayMetrics, change: AlertChange) -> None:
    """Time to acknowledge and to resolve, by severity, for `/metrics` (the office's reports read the database)."""
    alert = change.alert
    field = {"acknowledged": "acknowledged_at", "resolved": "resolved_at"}.get(change.action)
    if field is None or not alert.get(field) or not alert.get("created_at"):
        return
    seconds = (datetime.fromisoformat(alert[field]) - datetime.fromisoformat(alert["created_at"])).total_seconds()
    histogram = metrics.time_to_acknowledge if change.action == "acknowledged" else metrics.time_to_resolve
    histogram.labels(alert["severity"]).observe(max(seconds, 0.0))
