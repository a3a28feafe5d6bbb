"""`count`: N matching events in a sliding window, counted from the stored events (so restarts lose nothing)."""

from __future__ import annotations

from kernel.observations import Observation
from rules.alertspec import AlertSpec
from rules.conditions import support
from rules.conditions.base import ConditionEvaluator, EvalContext
from rules.schema import Count, Rule


class CountEvaluator(ConditionEvaluator[Count]):
    def evaluate(self, ctx: EvalContext, rule: Rule, cond: Count, obs: Observation) -> AlertSpec | None:
        if obs.event_id is None or not cond.event.matches(obs.device.kind, obs.type, obs.data, ctx.watchlists):
            return None
        group = support.group(cond.per, rule, obs.device, obs.data)
        # `per: device` (a burst of denials at one gate): only that device's events, through its own index,
        # instead of every matching event of the site's window loaded and grouped here.
        device = obs.device.id if cond.per == "device" else None
        recent = [e for e in support.events(ctx.session, ctx.watchlists, obs.device.site, cond.event,
                                            obs.ts - cond.within, obs.ts, device_id=device)
                  if support.group(cond.per, rule, e[1], e[0].data) == group]
        if len(recent) < cond.at_least:
            return None
        return support.spec(rule, obs, [support.stored_evidence(e) for e in recent[-5:]])
