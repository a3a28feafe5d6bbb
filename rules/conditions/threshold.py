"""`threshold`: a reading beyond a bound raises at once, or (with `for`) once it has stayed beyond it.

A sustained threshold arms a timer on the first breaching reading and cancels it on a normal one; the
timer's alert is the generic one (`ConditionEvaluator.fire`).
"""

from __future__ import annotations

from kernel.observations import Observation
from rules import timers
from rules.alertspec import AlertSpec
from rules.conditions import support
from rules.conditions.base import ConditionEvaluator, EvalContext
from rules.schema import Rule, Threshold


class ThresholdEvaluator(ConditionEvaluator[Threshold]):
    def evaluate(self, ctx: EvalContext, rule: Rule, cond: Threshold, obs: Observation) -> AlertSpec | None:
        if cond.kind is not None and cond.kind != obs.device.kind:
            return None
        for reading in obs.readings:
            if reading.metric != cond.metric:
                continue
            data = {**obs.data, "zone": reading.zone} if reading.zone else obs.data
            evidence = support.evidence(obs)
            evidence["reading"] = {"metric": reading.metric, "value": reading.value, "zone": reading.zone}
            if cond.for_ is None:
                if cond.breached(reading.value):
                    return support.spec(rule, obs, [evidence], data=data)
                continue
            # Sustained: the first breaching reading arms a timer, a normal reading cancels it.
            group = rule.dedup.key_for(rule=rule.id, site=obs.device.site, grid=obs.device.grid,
                                       zone=obs.device.zone, kind=obs.device.kind, device=obs.device.id,
                                       data=data) or obs.device.id
            if cond.breached(reading.value):
                timers.arm(ctx.session, rule.id, group, obs.device.id, obs.received_at + cond.for_,
                           obs.received_at, evidence, extend=False)
            else:
                timers.cancel(ctx.session, rule.id, group)
        return None
