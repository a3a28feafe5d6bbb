"""A rule and a rule file: the condition, scope and schedule put together, with how its alerts look and merge."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from kernel.vocabulary import Audience, Severity
from rules.schema.base import (
    ID_PATTERN,
    PER_PERSON,
    PLACEHOLDER,
    DedupKeyPart,
    LocatedValueError,
    StrictModel,
    key_value,
)
from rules.schema.conditions import Absence, Condition, When
from rules.schema.scope import Schedule, Scope


class Dedup(StrictModel):
    """How repeats are counted: merge into the open alert with the same key, or one alert per trigger."""

    policy: Literal["merge", "per_trigger"] = "merge"
    # A pydantic field (ruff cannot see that `StrictModel` is one): the default is copied per instance.
    key: Annotated[list[DedupKeyPart], Field(min_length=1)] = ["rule", "device"]  # noqa: RUF012

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


class Rule(StrictModel):
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
            if not PLACEHOLDER.fullmatch(field) or spec or conversion:
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


class RuleFile(StrictModel):
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
