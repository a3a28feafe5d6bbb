"""`event`: one matching event raises an alert at once (a press, a fence alarm)."""

from __future__ import annotations

from kernel.observations import Observation
from rules.alertspec import AlertSpec
from rules.conditions import support
from rules.conditions.base import ConditionEvaluator, EvalContext
from rules.schema import EventMatch, Rule


class EventEvaluator(ConditionEvaluator[EventMatch]):
    def evaluate(self, ctx: EvalContext, rule: Rule, cond: EventMatch, obs: Observation) -> AlertSpec | None:
        if cond.matches(obs.device.kind, obs.type, obs.data, ctx.watchlists):
            return support.spec(rule, obs, [support.evidence(obs)])
        return None
