"""Condition kinds: one module each, behind one interface (`base.ConditionEvaluator`).

`evaluate` is what the engine calls for each (rule, observation) pair the index selects: scope and
schedule first, then the evaluator of the rule's condition kind, looked up in `EVALUATORS` by type.
To add a kind: a model in `rules.schema`, a module here, a line in `EVALUATORS`.
"""

from __future__ import annotations

from typing import Any

from kernel.observations import Observation
from rules.alertspec import AlertSpec
from rules.conditions.absence import AbsenceEvaluator
from rules.conditions.base import ConditionEvaluator, EvalContext
from rules.conditions.correlation import CorrelationEvaluator
from rules.conditions.count import CountEvaluator
from rules.conditions.duration import DurationEvaluator
from rules.conditions.event import EventEvaluator
from rules.conditions.threshold import ThresholdEvaluator
from rules.schema import Absence, Correlation, Count, Duration, EventMatch, Rule, Threshold

EVALUATORS: dict[type, ConditionEvaluator[Any]] = {
    EventMatch: EventEvaluator(),
    Threshold: ThresholdEvaluator(),
    Count: CountEvaluator(),
    Duration: DurationEvaluator(),
    Absence: AbsenceEvaluator(),
    Correlation: CorrelationEvaluator(),
}
"""The evaluator of each condition model (`Rule.condition`'s type)."""


def evaluator(rule: Rule) -> ConditionEvaluator[Any]:
    return EVALUATORS[type(rule.condition)]


def evaluate(ctx: EvalContext, rule: Rule, obs: Observation) -> AlertSpec | None:
    """The alert `obs` raises under `rule` now, if any (timer kinds may arm or cancel a timer instead)."""
    device = obs.device
    if rule.scope is not None and not rule.scope.matches(device.site, device.grid, device.zone, device.kind,
                                                         device.id, obs.data):
        return None
    if rule.schedule is not None and not rule.schedule.active(obs.ts):
        return None
    condition = rule.condition
    return EVALUATORS[type(condition)].evaluate(ctx, rule, condition, obs)


__all__ = ["EVALUATORS", "ConditionEvaluator", "EvalContext", "evaluate", "evaluator"]
