"""`correlation`: `first` then `then` within the window, in the same group (a fence alarm, then a face)."""

from __future__ import annotations

from kernel.db.models import Event
from kernel.deviceinfo import DeviceInfo
from kernel.observations import Observation
from rules.alertspec import AlertSpec
from rules.conditions import support
from rules.conditions.base import ConditionEvaluator, EvalContext
from rules.schema import Correlation, Rule


class CorrelationEvaluator(ConditionEvaluator[Correlation]):
    def evaluate(self, ctx: EvalContext, rule: Rule, cond: Correlation, obs: Observation) -> AlertSpec | None:
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
        group = support.group(cond.same, rule, obs.device, data)

        def in_group(event: Event, device: DeviceInfo) -> bool:
            return support.group(cond.same, rule, device, event.data) == group

        # Only events stored before this one (`before_id`): a pair stored in one batch (both already in the
        # table when the rules run) would otherwise fire on each of its two events.
        if cond.then.matches(kind, obs.type, data, ctx.watchlists):
            first = support.nearest(ctx.session, ctx.watchlists, site, cond.first, obs.ts - cond.within, obs.ts,
                                    before_id=event_id, newest=True, accept=in_group)
            if first is not None:
                return support.spec(rule, obs, [support.stored_evidence(first), support.evidence(obs)])
        if cond.first.matches(kind, obs.type, data, ctx.watchlists):
            then = support.nearest(ctx.session, ctx.watchlists, site, cond.then, obs.ts, obs.ts + cond.within,
                                   before_id=event_id, newest=False, accept=in_group, after=True)
            if then is not None:
                # The alert is about the `then` (the camera that saw the intruder), whichever event came last:
                # the same pair must give the same alert, device and dedup key in either arrival order.
                then_event, then_device = then
                subject = Observation(device=then_device, channel="event", type=then_event.type, ts=then_event.ts,
                                      received_at=obs.received_at, msg_id=then_event.msg_id,
                                      data=dict(then_event.data or {}), event_id=then_event.id)
                return support.spec(rule, subject, [support.evidence(obs), support.stored_evidence(then)])
        return None
