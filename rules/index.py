"""Which rules can act on an observation: those `RuleEngine.on_observations` (`alerting.engine`) evaluates,
in pack order.

Trying every rule on every observation is fine for the built-in pack, but a
district configures rules per community, grid and gate: with 1,000 rules,
`anju bench scale` spent more time in `_evaluate` and `Scope.matches` turning
rules down one by one than in storing the messages (rate 0.40 of the built-in
pack's). Nearly every rule says in its scope or condition which site, device
kind, message type or reading it is about, so the index lists, per (site, kind,
type, readings) of an observation, only the rules that could act on it.

The reach of a rule is computed conservatively from what `_evaluate` checks
before it can do anything (raise an alert, arm or cancel a timer): what a rule
does not restrict, or restricts in a way not indexed here (grids, zones,
devices, payload fields, schedules), is left to the evaluation. A rule left out
is one whose evaluation would have returned without effect, so the alerts,
timers and their order are exactly those of evaluating every rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from kernel.observations import Observation
from rules.schema import Absence, Correlation, Count, Duration, EventMatch, Rule, Threshold

CACHE_LIMIT = 65_536
"""Candidate lists kept; the keys are bounded by sites × kinds × types anyway, this only guards against surprises."""
NO_METRICS: frozenset[str] = frozenset()

Key = tuple[str, str, str, frozenset[str]]
"""(site, kind, type, metrics of the observation's readings)."""


@dataclass(frozen=True, slots=True)
class Reach:
    """The observations a rule can act on; None in a field means "not restricted" (left to the evaluation)."""

    sites: frozenset[str] | None
    """`scope.sites`."""
    kinds: frozenset[str] | None
    """`scope.kinds`."""
    matchers: tuple[tuple[str | None, frozenset[str] | None], ...] | None
    """(kind, types) of the condition's event matchers, any of which may match; None for a condition not known
    here (a future one): it could act on any observation."""
    metric: str | None = None
    """A threshold acts only on observations carrying a reading of its metric."""

    def admits(self, kind: str, type_: str, metrics: frozenset[str]) -> bool:
        """Whether an observation of `kind`/`type_` with readings of `metrics` may concern the rule (site aside)."""
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.metric is not None and self.metric not in metrics:
            return False
        if self.matchers is None:
            return True
        return any((k is None or k == kind) and (t is None or type_ in t) for k, t in self.matchers)


def reach(rule: Rule) -> Reach:
    """What `rules.conditions.evaluate` requires of an observation before the rule can have any effect.

    Scope: `sites` and `kinds` are checked first. Then: an event, count, duration, absence or correlation
    does nothing unless one of its event matchers matches the device's kind and the type (`EventMatch.matches`
    checks those before any payload field); a threshold does nothing unless the kind is its kind and the
    observation has a reading of its metric (`rules.conditions.threshold`).
    """
    scope = rule.scope
    sites = frozenset(scope.sites) if scope is not None and scope.sites is not None else None
    kinds = frozenset(scope.kinds) if scope is not None and scope.kinds is not None else None
    cond = rule.condition
    if isinstance(cond, Threshold):
        return Reach(sites, kinds, ((cond.kind, None),), cond.metric)
    if isinstance(cond, EventMatch | Count | Duration | Absence | Correlation):
        return Reach(sites, kinds, tuple((m.kind, m.types) for m in rule.when.matchers()))
    return Reach(sites, kinds, None)


class RuleIndex:
    """The enabled rules, and for each kind of observation the ones that could act on it, in pack order.

    Candidate lists are computed on first use and kept: which sites exist is only known from the traffic,
    and the first observation of each (site, kind, type, readings) costs one pass over that site's rules and
    the rules of no particular site. Built once per rule set (`alerting.engine.RuleEngine._set_rules`) and never changed
    after, apart from the cache, so a gateway's clock thread may swap in a new index while a batch runs.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._any_site: list[tuple[int, Rule, Reach]] = []
        self._by_site: dict[str, list[tuple[int, Rule, Reach]]] = {}
        for position, rule in enumerate(self.rules):
            entry = (position, rule, reach(rule))
            if entry[2].sites is None:
                self._any_site.append(entry)
            else:
                for site in entry[2].sites:
                    self._by_site.setdefault(site, []).append(entry)
        self._cache: dict[Key, tuple[Rule, ...]] = {}

    def candidates(self, site: str, kind: str, type_: str, metrics: frozenset[str] = NO_METRICS) -> tuple[Rule, ...]:
        """The rules that could act on an observation of this site, kind and type carrying readings of `metrics`."""
        key = (site, kind, type_, metrics)
        found = self._cache.get(key)
        if found is None:
            pool = sorted(self._by_site.get(site, []) + self._any_site, key=itemgetter(0))  # back in pack order
            found = tuple(rule for _position, rule, r in pool if r.admits(kind, type_, metrics))
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return found

    def for_observation(self, obs: Observation) -> tuple[Rule, ...]:
        metrics = frozenset(r.metric for r in obs.readings) if obs.readings else NO_METRICS
        return self.candidates(obs.device.site, obs.device.kind, obs.type, metrics)
