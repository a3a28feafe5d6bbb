"""The rule file format: what an operator may write, checked strictly, plus the pure matching the runtime calls.

Every model forbids unknown keys, because in a hand-written YAML file an
unknown key is nearly always a typo (`severty:`), and a typo that silently
falls back to a default is a safety rule that does not do what its author
thinks. Names are cross-checked against the device drivers (`rules.catalog`)
for the same reason. The methods here (`EventMatch.matches`, `Scope.matches`,
`Schedule.active`, ...) are pure: the runtime owns state, clocks and I/O.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kernel.durations import TimeSpan
from kernel.vocabulary import Audience, Severity
from rules import catalog
from rules.matchers import MISSING, FieldMatcher, Number, lookup

ID_PATTERN = r"^[a-z0-9_-]{1,64}$"
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""Sites, grids, zones and devices: the SPEC's topic-segment ids."""
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEZONE = "Asia/Shanghai"
GROUP_KEYS: tuple[str, ...] = ("device", "zone", "grid", "site")
"""What `per:` and `same:` may name, besides `field:<name>`."""
PER_PERSON = "person"
"""`per: person`: only in `absence` (the welfare check), where the person directory says whom a sighting shows."""
DEDUP_KEYS: tuple[str, ...] = ("rule", "site", "grid", "zone", "device", "kind", PER_PERSON)
"""What `dedup.key` may name, besides `field:<name>` (`person` only in rules grouped `per: person`)."""
_FIELD_KEY = re.compile(r"field:([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})")
_PLACEHOLDER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class LocatedValueError(ValueError):
    """A validation failure that names the key below the validated object at fault.

    Pydantic locates errors of cross-field checks at the object that runs them;
    the loader appends `subloc`, so the operator is pointed at the exact line.
    """

    def __init__(self, message: str, *subloc: str | int) -> None:
        super().__init__(message)
        self.subloc = subloc


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_kind(kind: str) -> str:
    if kind not in catalog.kinds():
        raise ValueError(f"unknown device kind `{kind}`; known kinds: {', '.join(catalog.kinds())}")
    return kind


def _key_part(allowed: tuple[str, ...], what: str, elsewhere: Mapping[str, str] | None = None) -> Any:
    """A key part among `allowed` or `field:<name>`; `elsewhere` explains names that are valid only in other places."""
    def check(value: str) -> str:
        if value not in allowed and not _FIELD_KEY.fullmatch(value):
            why = f"{elsewhere[value]}, not here" if elsewhere and value in elsewhere else f"not a {what}"
            raise ValueError(f"`{value}` is {why}; use one of {', '.join(allowed)} or field:<name>")
        return value

    return AfterValidator(check)


GroupKey = Annotated[str, _key_part(GROUP_KEYS, "grouping", {PER_PERSON: "a grouping only for `absence` (the welfare "
                                                                         "check)"})]
AbsenceKey = Annotated[str, _key_part((*GROUP_KEYS, PER_PERSON), "grouping")]
DedupKeyPart = Annotated[str, _key_part(DEDUP_KEYS, "dedup key")]
NameList = Annotated[list[Annotated[str, Field(pattern=NAME_PATTERN)]], Field(min_length=1)]


def event_zone(device_zone: str | None, data: Mapping[str, Any] | None) -> str | None:
    """The zone an event is about: the payload's `zone` (a fence host's wall section) or else the device's zone.

    A fence host is installed in one place but reports alarms for several
    zones of wall; `zone` in scopes, `per:`, `same:` and dedup keys means the
    section that alarmed, which is what a patrol needs to go to.
    """
    zone = data.get("zone") if data is not None else None
    return zone if isinstance(zone, str) and zone else device_zone


def key_value(part: str, *, rule: str, site: str, grid: str | None, zone: str | None, kind: str | None,
              device: str | None, data: Mapping[str, Any], person: str | None = None) -> str | None:
    """The value of one `per:`/`same:`/dedup key part for an event (`zone` as in `event_zone`).

    `person` is known only for the alerts of a `per: person` absence (the person they are about).
    """
    match = _FIELD_KEY.fullmatch(part)
    if match:
        value = lookup(data, match.group(1))
        return None if value is None or value is MISSING or isinstance(value, Mapping | list) else str(value)
    known = {"rule": rule, "site": site, "grid": grid, "zone": event_zone(zone, data), "kind": kind, "device": device,
             PER_PERSON: person}
    return known.get(part)


class EventMatch(_Model):
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
        return None if kind is None else _known_kind(kind)

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


class Threshold(_Model):
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
        return None if kind is None else _known_kind(kind)

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


class Count(_Model):
    """At least N matching events within a sliding window, counted separately per device (or zone, ...)."""

    event: EventMatch
    at_least: StrictInt = Field(ge=1)
    within: TimeSpan
    per: GroupKey = "device"


class Duration(_Model):
    """Something started and did not end in time: `start` seen, no matching `end` within `longer_than`."""

    start: EventMatch
    end: EventMatch
    longer_than: TimeSpan
    per: GroupKey = "device"
    """`end` must have the same value of this as `start` (e.g. `field:plate`: the same car left)."""


class Absence(_Model):
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


class Correlation(_Model):
    """`first` then `then` within a window, both with the same device/zone/grid/site (or field)."""

    first: EventMatch
    then: EventMatch
    within: TimeSpan
    same: GroupKey = "zone"


Condition = EventMatch | Threshold | Count | Duration | Absence | Correlation
CONDITION_NAMES: tuple[str, ...] = ("event", "threshold", "count", "duration", "absence", "correlation")


class When(_Model):
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


class Scope(_Model):
    """Where a rule applies; each list given must contain the event's value, lists not given match anything."""

    sites: NameList | None = None
    grids: NameList | None = None
    zones: NameList | None = None
    """Matches the device's zone or, for events that name one (fence alarms), the payload's `zone`."""
    kinds: NameList | None = None
    devices: NameList | None = None

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: list[str] | None) -> list[str] | None:
        for i, kind in enumerate(kinds or []):
            try:
                _known_kind(kind)
            except ValueError as exc:
                raise LocatedValueError(str(exc), i) from None
        return kinds

    def covers_person(self, site: str, grid: str | None) -> bool:
        """Whether a person living at `site`/`grid` is watched by a `per: person` rule with this scope.

        The sightings are in scope by `matches`, as any message; `zones`, `kinds` and `devices` describe
        devices, not persons, so only `sites` and `grids` select the persons.
        """
        return (self.sites is None or site in self.sites) and (self.grids is None or grid in self.grids)

    def matches(self, site: str, grid: str | None, zone: str | None, kind: str, device: str,
                data: Mapping[str, Any] | None = None) -> bool:
        """Whether an event of this device is in scope. Pass the payload as `data` so `zones` sees its `zone`."""
        if self.sites is not None and site not in self.sites:
            return False
        if self.grids is not None and grid not in self.grids:
            return False
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.devices is not None and device not in self.devices:
            return False
        if self.zones is not None:
            return zone in self.zones or event_zone(zone, data) in self.zones
        return True


def _minutes(text: str) -> int:
    """`"22:00"` → 1320; `"24:00"` (only sensible as an end) → 1440."""
    if text == "24:00":
        return 1440
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"bad time {text!r}: write HH:MM, e.g. \"22:00\"")
    return int(match.group(1)) * 60 + int(match.group(2))


class Schedule(_Model):
    """When a rule is active: on these days, between `from` and `to` local time (may wrap past midnight).

    A window that wraps belongs to the day it starts: `days: [fri]`, 22:00–06:00
    is Friday 22:00 to Saturday 06:00. Without `from`/`to` the whole day.
    """

    days: Annotated[list[Day], Field(min_length=1)] = list(DAYS)
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    timezone: str = DEFAULT_TIMEZONE

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if not isinstance(value, str):
            raise ValueError(f"write the time as a quoted string \"HH:MM\", not {value!r}")
        if value == "24:00" and info.field_name == "from_":
            raise ValueError("a window starts at 00:00, not 24:00")
        _minutes(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _window(self) -> Schedule:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("give both `from` and `to`, or neither (all day)")
        if self.from_ is not None and self.to is not None and _minutes(self.from_) % 1440 == _minutes(self.to) % 1440:
            raise LocatedValueError("`from` and `to` are the same time; leave both out for all day", "to")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def active(self, at: datetime) -> bool:
        """Whether the rule is active at `at` (a naive datetime is taken as UTC, as everywhere in Anju)."""
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        local = moment.astimezone(self.tz)
        today = DAYS[local.weekday()]
        if self.from_ is None or self.to is None:
            return today in self.days
        now = local.hour * 60 + local.minute + local.second / 60
        start, end = _minutes(self.from_), _minutes(self.to)
        if start < end:
            return today in self.days and start <= now < end
        yesterday = DAYS[(local - timedelta(days=1)).weekday()]
        return (today in self.days and now >= start) or (yesterday in self.days and now < end)


class Dedup(_Model):
    """How repeats are counted: merge into the open alert with the same key, or one alert per trigger."""

    policy: Literal["merge", "per_trigger"] = "merge"
    key: Annotated[list[DedupKeyPart], Field(min_length=1)] = ["rule", "device"]

    @model_validator(mode="after")
    def _consistent(self) -> Dedup:
        if self.policy == "per_trigger" and "key" in self.model_fields_set:
            raise LocatedValueError("`key` only applies to `policy: merge`; remove it", "key")
        if "rule" not in self.key:
            raise LocatedValueError("`key` must include `rule`: alerts of different rules never merge", "key")
        return self

    def key_for(self, *, rule: str, site: str, grid: str | None, zone: str | None, kind: str | None,
                device: str | None, data: Mapping[str, Any], person: str | None = None) -> str | None:
        """The merge key of an event (None for `per_trigger`): parts joined with `|`, missing ones empty."""
        if self.policy == "per_trigger":
            return None
        parts = (key_value(p, rule=rule, site=site, grid=grid, zone=zone, kind=kind, device=device, data=data,
                           person=person)
                 for p in self.key)
        return "|".join(p or "" for p in parts)


class Rule(_Model):
    """One rule: what to look for (`when`), where and when it applies, and how the alert looks."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    severity: Severity
    audience: Audience = "patrol"
    silenceable: bool = True
    """False: silences and maintenance windows never apply (SOS, fence intrusion)."""
    enabled: bool = True
    scope: Scope | None = None
    schedule: Schedule | None = None
    when: When
    dedup: Dedup = Field(default_factory=Dedup)
    message: str | None = Field(default=None, min_length=1, max_length=500)
    """Alert title template; `{name}` placeholders are filled from the event's and device's fields."""

    @field_validator("message")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"bad message template: {exc} (write {{{{ and }}}} for literal braces)") from None
        for _, field, spec, conversion in parsed:
            if field is None:
                continue
            if not _PLACEHOLDER.fullmatch(field) or spec or conversion:
                raise ValueError(f"placeholder {{{field}{'!' + conversion if conversion else ''}"
                                 f"{':' + spec if spec else ''}}} is not a plain name like {{device_name}}")
        return value

    @model_validator(mode="after")
    def _person_keys(self) -> Rule:
        """`person` in a dedup key needs alerts about persons; a `per: person` rule merges per person by default.

        With `[rule, device]`, the default elsewhere, the alerts of persons without a button would all merge.
        """
        per_person = isinstance(self.condition, Absence) and self.condition.per_person
        if PER_PERSON in self.dedup.key and not per_person:
            raise LocatedValueError("`person` in a dedup key needs an `absence` with `per: person` (only its alerts "
                                    "are about a person)", "dedup", "key", self.dedup.key.index(PER_PERSON))
        if per_person and "dedup" not in self.model_fields_set:
            object.__setattr__(self, "dedup", Dedup(key=["rule", PER_PERSON]))  # frozen: set once, while validating
        return self

    @model_validator(mode="after")
    def _scope_allows_condition(self) -> Rule:
        if self.scope is not None and self.scope.kinds is not None:
            excluded = sorted(self.when.kinds() - set(self.scope.kinds))
            if excluded:
                raise LocatedValueError(f"`scope.kinds` leaves out {', '.join(excluded)}, which `when` is about; "
                                        "the rule could never fire", "scope", "kinds")
        return self

    @property
    def condition(self) -> Condition:
        return self.when.condition

    @property
    def condition_name(self) -> str:
        return self.when.condition_name or "event"


class RuleFile(_Model):
    """A whole rule file."""

    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleFile:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise LocatedValueError(f"duplicate rule id `{rule.id}`", "rules", i, "id")
            seen.add(rule.id)
        return self
