"""The one interface every condition kind implements, and the context the engine evaluates it in.

Adding a condition kind means a schema model (`rules.schema`), one module here with a
`ConditionEvaluator`, and one line in `rules.conditions.EVALUATORS`: the engine (`alerting.engine`) never
names a kind. Evaluators are stateless: the engine owns the state (rules, watchlists, the person directory),
the database owns the timers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from kernel.observations import Observation
from rules.alertspec import AlertSpec
from rules.conditions import support
from rules.persons import PersonDirectory
from rules.schema import Rule
from rules.timers import DueTimer

C = TypeVar("C")


@dataclass(slots=True)
class EvalContext:
    """What an evaluation may read or write: the caller's transaction and the engine's current configuration.

    Built once per batch (or tick), not per rule: the hot path evaluates thousands of rules a second.
    """

    session: Session
    watchlists: Mapping[str, set[str]]
    directory: Callable[[Session], PersonDirectory]
    """The engine's person directory, loaded on first use when the configuration was never read (a backtest)."""

    def persons(self) -> PersonDirectory:
        return self.directory(self.session)


class ConditionEvaluator(ABC, Generic[C]):
    """One condition kind: what an observation does to it, and what its timer raises when it comes due."""

    @abstractmethod
    def evaluate(self, ctx: EvalContext, rule: Rule, cond: C, obs: Observation) -> AlertSpec | None:
        """The alert this observation raises now, if any (timer kinds arm or cancel a timer and return None).

        Scope and schedule are checked by the caller (`rules.conditions.evaluate`).
        """

    def fire(self, ctx: EvalContext, rule: Rule, cond: C, timer: DueTimer, evidence: dict[str, Any],
             now: datetime) -> AlertSpec | None:
        """The alert of a due timer: about the device that armed it (None if it was deleted since)."""
        obs = support.timer_subject(ctx.session, rule, timer, evidence, now)
        return None if obs is None else support.spec(rule, obs, [evidence])
