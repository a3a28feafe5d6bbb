"""The six condition kinds as written in a rule file (`when:`), and the pure matching the runtime calls.

The methods here (`EventMatch.matches`, `Threshold.breached`) are pure: what a condition does with state,
clocks and the database is in `rules.conditions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, StrictInt, ValidationInfo, field_validator, model_validator

from kernel.durations import TimeSpan
from rules import catalog
from rules.matchers import FieldMatcher, Number, lookup
from rules.schema.base import PER_PERSON, AbsenceKey, GroupKey, LocatedValueError, StrictModel, known_kind


class EventMatch(StrictModel):
    """Which messages a condition is about. Every given part must match; an empty matcher matches any message."""

    kind: str | None = None
    type: list[str] | None = None
    """One type or several (written as a string or a list); none means any type."""
    where: dict[str, FieldMatcher] | None = None
    """Payload field (dotted paths reach into objects) → matcher; all must match."""
    where_any: list[dict[str, FieldMatcher]] | None = None
    """Alternatives: at least one of these `where` blocks must match as well (an OR)."""

    @field_validator("kind")
    @classmethod
    def _kind(cls, kind: str | None) -> str | None:
        return None if kind is None else known_kind(kind)

    @field_validator("type", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        if value is not None and (not isinstance(value, list) or not value
                                  or not all(isinstance(v, str) for v in value)):
            raise ValueError(f"`type` is a type name or a non-empty list of them, not {value!r}")
        return value

    @field_validator("type")
    @classmethod
    def _types_exist(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None or "kind" not in info.data:
            return value  # a bad kind is reported once, on its own line
        kind = info.data["kind"]
        known = catalog.types_of(kind) if kind else catalog.all_types()
        for i, name in enumerate(value):
            if name not in known:
                whose = f"`{kind}`" if kind else "any device kind"
                raise LocatedValueError(f"`{name}` is not a type of {whose}; known: {', '.join(known)}",
                                        *([i] if len(value) > 1 else []))
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: dict[str, FieldMatcher] | None, info: ValidationInfo) -> dict[str, FieldMatcher] | None:
        if value is not None:
            _check_where(value, info)
        return value

    @field_validator("where_any")
    @classmethod
    def _where_any(cls, value: list[dict[str, FieldMatcher]] | None,
                   info: ValidationInfo) -> list[dict[str, FieldMatcher]] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("`where_any` needs at least one alternative")
        for i, block in enumerate(value):
            try:
                _check_where(block, info)
            except LocatedValueError as exc:
                raise LocatedValueError(str(exc), i, *exc.subloc) from None
        return value

    @property
    def is_empty(self) -> bool:
        """Matches every message (heartbeats included): only sensible in an `absence`."""
        return self.kind is None and self.type is None and self.where is None and self.where_any is None

    @property
    def types(self) -> frozenset[str] | None:
        return None if self.type is None else frozenset(self.type)

    def matches(self, kind: str, type: str, data: Mapping[str, Any], watchlists: Mapping[str, set[str]]) -> bool:
        """Whether a message of `kind`/`type` with payload `data` matches. Pure; never raises."""
        if self.kind is not None and kind != self.kind:
            return False
        if self.type is not None and type not in self.type:
            return False
        if self.where is not None and not _all_match(self.where, data, watchlists):
            return False
        return self.where_any is None or any(_all_match(block, data, watchlists) for block in self.where_any)


def _all_match(block: Mapping[str, FieldMatcher], data: Mapping[str, Any], watchlists: Mapping[str, set[str]]) -> bool:
    return all(matcher.matches(lookup(data, path), watchlists) for path, matcher in block.items())


def _check_where(block: dict[str, FieldMatcher], info: ValidationInfo) -> None:
    """Empty blocks are mistakes; values of fields the drivers fix (`cause`, `result`...) must be possible."""
    if not block:
        raise ValueError("an empty `where` block; remove it or add a field")
    kind, types = info.data.get("kind"), info.data.get("type")
    if not kind or "type" not in info.data:
        return
    for path, matcher in block.items():
        allowed = catalog.field_values(kind, types, path)
        if allowed is None:
            continue
        for op in ("eq", "ne", "in_", "not_in"):
            if op not in matcher.model_fields_set:
                continue
            operand = getattr(matcher, op)
            for value in operand if isinstance(operand, list) else [operand]:
                if value is not None and value not in allowed:  # null is "has no value", always meaningful
                    choices = ", ".join(sorted(str(v) for v in allowed))
                    what = f"{kind} {'/'.join(types)}" if types else kind
                    sub = (path,) if op == "eq" and matcher.model_fields_set == {"eq"} else (path, op.rstrip("_"))
                    raise LocatedValueError(f"`{path}` of {what} is never {value!r}; it is one of: {choices}", *sub)


class Threshold(StrictModel):
    """A reading crosses a limit (optionally for a while): `{kind: fence, metric: voltage_kv, below: 5.0}`."""

    kind: str | None = None
    metric: str
    below: Number | None = None
    """Fires when the reading is strictly below this."""
    above: Number | None = None
    """Fires when the reading is strictly above this."""
    for_: TimeSpan | None = Field(default=None, alias="for")
    """Only when the limit stays crossed this long (every reading in between crossed it)."""

    @field_validator("kind")
    @classmethod
    def _kind(cls, kind: str | None) -> str | None:
        return None if kind is None else known_kind(kind)

    @field_validator("metric")
    @classmethod
    def _metric(cls, metric: str, info: ValidationInfo) -> str:
        if "kind" not in info.data:
            return metric
        kind = info.data["kind"]
        known = catalog.metrics_of(kind) if kind else catalog.all_metrics()
        if metric not in known:
            whose = f"`{kind}`" if kind else "any device kind"
            listed = ", ".join(known) if known else "none"
            raise ValueError(f"`{metric}` is not a reading of {whose}; its readings: {listed}")
        return metric

    @model_validator(mode="after")
    def _one_limit(self) -> Threshold:
        if self.below is None and self.above is None:
            raise ValueError("a threshold needs `below:` or `above:`")
        if self.below is not None and self.above is not None:
            raise LocatedValueError("a threshold has one limit, `below:` or `above:`, not both; write two rules",
                                    "above")
        return self

    def breached(self, value: float) -> bool:
        """Whether one reading is past the limit (the runtime handles `for`)."""
        if self.below is not None:
            return value < self.below
        return self.above is not None and value > self.above


class Count(StrictModel):
    """At least N matching events within a sliding window, counted separately per device (or zone, ...)."""

    event: EventMatch
    at_least: StrictInt = Field(ge=1)
    within: TimeSpan
    per: GroupKey = "device"


class Duration(StrictModel):
    """Something started and did not end in time: `start` seen, no matching `end` within `longer_than`."""

    start: EventMatch
    end: EventMatch
    longer_than: TimeSpan
    per: GroupKey = "device"
    """`end` must have the same value of this as `start` (e.g. `field:plate`: the same car left)."""


class Absence(StrictModel):
    """Nothing matching for a while, per device (or zone, ...): a silent device; or per person: a welfare check.

    `per: person` counts a matching message only when the person directory (`rules.persons`) says whom it shows,
    and covers the persons with `welfare_check: true`.
    """

    event: EventMatch = Field(default_factory=EventMatch)
    for_: TimeSpan = Field(alias="for")
    per: AbsenceKey = "device"

    @property
    def per_person(self) -> bool:
        return self.per == PER_PERSON


class Correlation(StrictModel):
    """`first` then `then` within a window, both with the same device/zone/grid/site (or field)."""

    first: EventMatch
    then: EventMatch
    within: TimeSpan
    same: GroupKey = "zone"


Condition = EventMatch | Threshold | Count | Duration | Absence | Correlation
CONDITION_NAMES: tuple[str, ...] = ("event", "threshold", "count", "duration", "absence", "correlation")


class When(StrictModel):
    """Exactly one condition, written as a one-key mapping (`when: {event: {...}}`)."""

    event: EventMatch | None = None
    threshold: Threshold | None = None
    count: Count | None = None
    duration: Duration | None = None
    absence: Absence | None = None
    correlation: Correlation | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            given = [k for k in value if k in CONDITION_NAMES]
            if not given and not value:
                raise ValueError(f"no condition; give one of: {', '.join(CONDITION_NAMES)}")
            if len(given) > 1:
                raise LocatedValueError(f"{len(given)} conditions ({', '.join(given)}) in `when`; a rule has "
                                        "exactly one, so split it into several rules", given[1])
        return value

    @model_validator(mode="after")
    def _present(self) -> When:
        if self.condition_name is None:
            raise ValueError(f"no condition; give one of: {', '.join(CONDITION_NAMES)}")
        self._not_every_message()
        return self

    def _not_every_message(self) -> None:
        """An empty matcher outside `absence` would raise an alert for every heartbeat of every device."""
        c = self.condition
        named: list[tuple[EventMatch, tuple[str, ...]]] = []
        if isinstance(c, EventMatch):
            named = [(c, ("event",))]
        elif isinstance(c, Count):
            named = [(c.event, ("count", "event"))]
        elif isinstance(c, Duration):
            named = [(c.start, ("duration", "start")), (c.end, ("duration", "end"))]
        elif isinstance(c, Correlation):
            named = [(c.first, ("correlation", "first")), (c.then, ("correlation", "then"))]
        for match, where in named:
            if match.is_empty:
                raise LocatedValueError("this matcher is empty and would match every message, heartbeats "
                                        "included; give at least `kind` or `type`", *where)

    @property
    def condition_name(self) -> str | None:
        return next((name for name in CONDITION_NAMES if getattr(self, name) is not None), None)

    @property
    def condition(self) -> Condition:
        return getattr(self, self.condition_name or "event")

    def matchers(self) -> list[EventMatch]:
        """Every event matcher of the condition (a duration has two, a correlation two)."""
        c = self.condition
        if isinstance(c, EventMatch):
            return [c]
        if isinstance(c, Count | Absence):
            return [c.event]
        if isinstance(c, Duration):
            return [c.start, c.end]
        if isinstance(c, Correlation):
            return [c.first, c.then]
        return []

    def kinds(self) -> set[str]:
        """The device kinds the condition names explicitly."""
        named = {m.kind for m in self.matchers() if m.kind}
        if isinstance(self.condition, Threshold) and self.condition.kind:
            named.add(self.condition.kind)
        return named
