"""`duration`: a state that lasts (a door held open): the start event arms a timer, the end event cancels it.

The earliest start is kept (`extend=False`); the timer's alert is the generic one (`ConditionEvaluator.fire`).
"""

from __future__ import annotations

from kernel.observations import Observation
from rules import timers
from rules.alertspec import AlertSpec
from rules.conditions import support
from rules.conditions.base import ConditionEvaluator, EvalContext
from rules.schema import Duration, Rule


class DurationEvaluator(ConditionEvaluator[Duration]):
    def evaluate(self, ctx: EvalContext, rule: Rule, cond: Duration, obs: Observation) -> AlertSpec | None:
        kind, data = obs.device.kind, obs.data
        group = support.group(cond.per, rule, obs.device, data) or ""
        if cond.end.matches(kind, obs.type, data, ctx.watchlists):
            timers.cancel(ctx.session, rule.id, group)
        elif cond.start.matches(kind, obs.type, data, ctx.watchlists):
            timers.arm(ctx.session, rule.id, group, obs.device.id, obs.received_at + cond.longer_than,
                       obs.received_at, support.evidence(obs), extend=False)
        return None
