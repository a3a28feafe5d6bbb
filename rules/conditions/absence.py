"""`absence`: nothing matching for `for` (a device gone quiet, an elder not seen: `per: person`).

Every sighting pushes the timer forward (`extend=True`); when it comes due the alert is raised and the
timer re-armed, so someone still absent after another period is reminded (merged into the open alert).
A live engine arms every device's (or person's) timer at start-up (`arm_devices`, `arm_persons`), so one
never seen fires too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.registry import device_info
from kernel.db.models import Device, Person
from kernel.observations import Observation
from rules import timers
from rules.alertspec import AlertSpec
from rules.conditions import support
from rules.conditions.base import ConditionEvaluator, EvalContext
from rules.persons import PersonInfo
from rules.schema import Absence, Rule

NOT_SEEN = "not seen since monitoring started"
"""The evidence of an absence timer armed at start-up, before any sighting."""


class AbsenceEvaluator(ConditionEvaluator[Absence]):
    def evaluate(self, ctx: EvalContext, rule: Rule, cond: Absence, obs: Observation) -> AlertSpec | None:
        if not cond.event.matches(obs.device.kind, obs.type, obs.data, ctx.watchlists):
            return None
        if cond.per_person:  # a sighting counts only when it shows someone under a welfare check
            device = obs.device
            person = ctx.persons().identify(site=device.site, kind=device.kind, device=device.id,
                                            type=obs.type, data=obs.data)
            if person is not None and person.welfare_check and (
                    rule.scope is None or rule.scope.covers_person(person.site, person.grid)):
                timers.arm(ctx.session, rule.id, person.id, support.timer_device(person), obs.received_at + cond.for_,
                           obs.received_at, _sighting(person, obs), extend=True)
            return None
        group = support.group(cond.per, rule, obs.device, obs.data) or ""
        timers.arm(ctx.session, rule.id, group, obs.device.id, obs.received_at + cond.for_, obs.received_at,
                   support.evidence(obs), extend=True)
        return None

    def fire(self, ctx: EvalContext, rule: Rule, cond: Absence, timer: timers.DueTimer, evidence: dict[str, Any],
             now: datetime) -> AlertSpec | None:
        if cond.per_person:
            return _person_absent(ctx.session, rule, cond, timer, evidence, now)
        obs = support.timer_subject(ctx.session, rule, timer, evidence, now)
        if obs is None:
            return None
        # Still absent after another period: remind again (merged).
        timers.arm(ctx.session, rule.id, timer.group_key, timer.device_id, now + cond.for_, now, timer.evidence,
                   extend=True)
        return support.spec(rule, obs, [evidence])


def _sighting(person: PersonInfo, obs: Observation) -> dict[str, Any]:
    """A person absence's evidence: who, and when and where they were last seen."""
    seen = {**support.evidence(obs), "kind": obs.device.kind, "device_name": obs.device.name}
    note = f"last seen {seen['ts']} at {obs.device.id} ({obs.device.kind} {obs.type})"
    return {"person_id": person.id, "person_name": person.name, "last_seen": seen, "note": note}


def _person_absent(session: Session, rule: Rule, cond: Absence, timer: timers.DueTimer, evidence: dict[str, Any],
                   now: datetime) -> AlertSpec | None:
    """A person not seen for `for`: the alert is about them, at their flat's button when they have one.

    The person is read afresh (their buttons, grid and check may have changed since the timer was armed);
    a person deleted or taken off the welfare check since then is dropped quietly, and not re-armed.
    """
    row = session.get(Person, timer.group_key)
    if row is None or not row.welfare_check:
        return None
    person = PersonInfo.from_row(row)
    device = next((device_info(d) for b in person.buttons if (d := session.get(Device, b)) is not None), None)
    timers.arm(session, rule.id, person.id, support.timer_device(person), now + cond.for_, now, timer.evidence,
               extend=True)  # still not seen after another period: remind again (merged)
    grid = person.grid or (device.grid if device is not None else None)
    fields = support.Fields(support.device_fields(device, {}) if device is not None else {})
    fields.update(person_id=person.id, person_name=person.name, grid=grid or "", site=person.site, rule=rule.name)
    zone = device.zone if device is not None else None
    return AlertSpec(
        rule=rule.id, type=rule.condition_name, severity=rule.severity,
        title=support.render(rule, fields, person.name), site=person.site, grid=grid,
        device_id=device.id if device else None, kind=device.kind if device else None,
        audience=rule.audience, silenceable=rule.silenceable, evidence=evidence,
        dedup_key=rule.dedup.key_for(rule=rule.id, site=person.site, grid=grid, zone=zone,
                                     kind=device.kind if device else None, device=device.id if device else None,
                                     data={}, person=person.id),
    )


def arm_devices(session: Session, rules: Iterable[Rule], now: datetime) -> None:
    """At start-up, give every device in an absence rule's reach a timer, so one never seen fires.

    Existing timers are kept (a restart must not postpone a welfare check).
    """
    for rule in rules:
        cond = rule.condition
        if not isinstance(cond, Absence) or cond.per_person:
            continue
        stmt = select(Device)
        if cond.event.kind is not None:
            stmt = stmt.where(Device.kind == cond.event.kind)
        for row in session.scalars(stmt):
            info = device_info(row)
            if rule.scope is not None and not rule.scope.matches(info.site, info.grid, info.zone, info.kind, info.id):
                continue
            group = support.group(cond.per, rule, info, {}) or ""
            timers.arm(session, rule.id, group, info.id, now + cond.for_, now,
                       {"device_id": info.id, "note": NOT_SEEN}, extend=False)


def arm_persons(session: Session, rules: Iterable[Rule], new: list[PersonInfo], now: datetime) -> None:
    """Arm the `per: person` absence timers of persons newly under a welfare check; existing timers are kept."""
    for rule in rules:
        cond = rule.condition
        if not new or not isinstance(cond, Absence) or not cond.per_person:
            continue
        for person in new:
            if rule.scope is None or rule.scope.covers_person(person.site, person.grid):
                timers.arm(session, rule.id, person.id, support.timer_device(person), now + cond.for_, now,
                           {"person_id": person.id, "person_name": person.name, "last_seen": None,
                            "note": NOT_SEEN}, extend=False)
