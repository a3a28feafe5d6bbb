"""The rule runtime: observations in (inside the gateway's transaction), alert changes out (after commit).

Alerts are raised in the same transaction that stores the triggering message,
so a crash can never leave a stored press without its alert, or an alert
without its press. Publishing to `anju/v1/{site}/alerts` happens only after the
commit, so nobody is told about an alert that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.orm import Session

from anju.topics import alerts_topic
from gateway.observations import Observation
from rules.alerts import AlertChange, AlertSpec, raise_alert
from rules.escalation import DEFAULT_CHAIN, DEFAULT_REMINDER, escalate_due
from rules.loader import load_rule_files
from rules.schema import Rule, event_zone

log = logging.getLogger(__name__)

AlertListener = Callable[[list[AlertChange]], None]
LARGE_FIELDS = ("snapshot",)
"""Payload fields too big for evidence (base64 images): replaced by their size."""


def builtin_rules_path() -> Path:
    return Path(__file__).resolve().parent / "builtin.yaml"


class _Fields(dict[str, Any]):
    """Template values for alert titles: a missing placeholder stays visible instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class RuleEngine:
    def __init__(self, rules: list[Rule], watchlists: Mapping[str, set[str]] | None = None) -> None:
        self.rules = [r for r in rules if getattr(r, "enabled", True)]
        self.watchlists: Mapping[str, set[str]] = watchlists or {}
        self.listeners: list[AlertListener] = []
        self._publish: Callable[[str, bytes], None] | None = None
        unsupported = sorted({r.condition_name for r in self.rules} - {"event"})
        if unsupported:
            log.warning("rule conditions not evaluated by this version yet: %s", ", ".join(unsupported))

    @classmethod
    def from_files(cls, paths: list[str] | None) -> RuleEngine:
        """The configured rule files, or the built-in pack when there are none."""
        return cls(load_rule_files(paths or [builtin_rules_path()]))

    # -- wiring ---------------------------------------------------------------------------------

    def attach(self, gateway: Any) -> None:
        """Evaluate inside the gateway's transactions, publish after its commits, escalate on its clock."""
        gateway.pipeline.transaction_hooks.append(self.on_observations)
        self._publish = lambda topic, payload: gateway.hub.publish(topic, payload, qos=1)
        gateway.tickers.append(lambda now: self.tick(gateway.sessions, now))

    # -- evaluation (inside the transaction) ----------------------------------------------------

    def on_observations(self, session: Session, observations: list[Observation]) -> None:
        changes: list[AlertChange] = []
        for obs in observations:
            for rule in self.rules:
                spec = self._evaluate(rule, obs)
                if spec is not None:
                    changes.append(raise_alert(session, spec, obs.received_at, DEFAULT_CHAIN[0].wait))
        if changes:
            self._after_commit(session, changes)

    def _evaluate(self, rule: Rule, obs: Observation) -> AlertSpec | None:
        match = getattr(rule.when, "event", None)
        if match is None:
            return None
        device = obs.device
        if rule.scope is not None and not rule.scope.matches(device.site, device.grid, device.zone, device.kind,
                                                             device.id, obs.data):
            return None
        if rule.schedule is not None and not rule.schedule.active(obs.ts):
            return None
        if not match.matches(device.kind, obs.type, obs.data, self.watchlists):
            return None
        return AlertSpec(
            rule=rule.id, type=obs.type, severity=rule.severity, title=self._title(rule, obs), site=device.site,
            grid=device.grid, device_id=device.id, kind=device.kind, audience=rule.audience,
            dedup_key=rule.dedup.key_for(rule=rule.id, site=device.site, grid=device.grid, zone=device.zone,
                                         kind=device.kind, device=device.id, data=obs.data),
            silenceable=rule.silenceable, evidence=self._evidence(obs),
        )

    @staticmethod
    def _title(rule: Rule, obs: Observation) -> str:
        device = obs.device
        fields = _Fields({k: v for k, v in obs.data.items() if isinstance(v, str | int | float)})
        fields.update(device=device.id, device_name=device.name or device.id,
                      zone=event_zone(device.zone, obs.data) or "", grid=device.grid or "", site=device.site,
                      rule=rule.name)
        template = rule.message
        return template.format_map(fields) if template else f"{rule.name}: {fields['device_name']}"

    @staticmethod
    def _evidence(obs: Observation) -> dict[str, Any]:
        data = {k: (f"<{len(v)} bytes>" if k in LARGE_FIELDS and isinstance(v, str) else v)
                for k, v in obs.data.items()}
        return {"event_id": obs.event_id, "msg_id": obs.msg_id, "type": obs.type, "ts": obs.ts.isoformat(),
                "data": data}

    # -- after commit ---------------------------------------------------------------------------

    def _after_commit(self, session: Session, changes: list[AlertChange]) -> None:
        @event.listens_for(session, "after_commit", once=True)
        def _committed(_session: Session) -> None:
            self._deliver(changes)

    def _deliver(self, changes: list[AlertChange]) -> None:
        for change in changes:
            if self._publish is not None:
                payload = orjson.dumps({"action": change.action, **change.alert})
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
        with sessions.begin() as session:
            changes = escalate_due(session, now, DEFAULT_CHAIN, DEFAULT_REMINDER)
        if changes:
            self._deliver(changes)
