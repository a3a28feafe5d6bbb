"""Field matchers: the `where:` part of an event matcher, one per payload field.

A bare value means "equals"; a mapping holds one or more operators, all of
which must hold (`{ge: 0.2, lt: 0.6}` is a range). Matching is pure and total:
a missing field, a null or a value of the wrong type never raises, it just
does not satisfy a comparison, because payloads come from devices of uneven
quality and one odd message must not stop the rule engine.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    field_validator,
    model_validator,
)

WATCHLIST_NAME = r"^[a-z0-9_-]{1,64}$"


class _Missing:
    """The value of a field the payload does not have (distinct from JSON null only for `repr`)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Pass this to `FieldMatcher.matches` when the payload lacks the field."""


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """`data[path]`, or for a dotted path `voltage_kv.N1` → `data["voltage_kv"]["N1"]`; MISSING if absent.

    A literal key containing dots wins over the dotted reading, so vendor fields
    named `a.b` still work.
    """
    if path in data:
        return data[path]
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return MISSING
        current = current[part]
    return current


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_number(value: Any) -> Any:
    """Refuse "60" and true where a number belongs: a limit written as text is a typo, not a number."""
    if value is not None and not _is_number(value):
        raise ValueError(f"expected a number, not {value!r}")
    return value


Number = Annotated[float, BeforeValidator(_require_number)]


def _same(a: Any, b: Any) -> bool:
    """Equality without Python's `True == 1`: a device sending `1` for `true` is not the same thing."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


LOOK_ALIKES = ("0DOQ", "8B", "1I", "5S", "2Z")
"""Characters plate readers mistake for one another (night, dirt, a bolt through a character)."""
_SWAPS = {c: group.replace(c, "") for group in LOOK_ALIKES for c in group}


def near_miss(value: str, listed: Collection[str]) -> bool:
    """`value` is not in `listed` but becomes a listed value by changing one character into a look-alike.

    Tried by generating the few variants (each position × its look-alikes), so a long list costs no more."""
    if value in listed:
        return False
    return any(value[:i] + other + value[i + 1:] in listed
               for i, c in enumerate(value) for other in _SWAPS.get(c, ""))


class FieldMatcher(BaseModel):
    """Conditions on one payload field. Write `result: denied` or `seconds: {gt: 60}`.

    A missing field and JSON null are both "no value": `eq: null` and `exists:
    false` match them, `ne`/`not_in`/`not_on_watchlist` are satisfied by them,
    every other operator is not.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    gt: Number | None = None
    ge: Number | None = None
    lt: Number | None = None
    le: Number | None = None
    exists: StrictBool | None = None
    regex: str | None = Field(default=None, alias="matches")
    """Regular expression searched anywhere in a string value; anchor with ^...$ for a whole match."""
    on_watchlist: str | None = Field(default=None, pattern=WATCHLIST_NAME)
    """Name of a watchlist (plates, persons) managed through the API; the value must be on it."""
    not_on_watchlist: str | None = Field(default=None, pattern=WATCHLIST_NAME)
    near_watchlist: str | None = Field(default=None, pattern=WATCHLIST_NAME)
    """Name of a watchlist; the value is not on it, but one look-alike character away from a value that is
    (0/D/O/Q, 8/B, 1/I, 5/S, 2/Z: what plate readers confuse): a possible misreading of a listed plate."""

    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _bare_value_is_equals(cls, value: Any) -> Any:
        if isinstance(value, list):
            raise ValueError("a list is not a field value; write {in: [...]} to match any of several values")
        if not isinstance(value, Mapping):
            return {"eq": value}
        if not value:
            raise ValueError("an empty matcher matches nothing in particular; write an operator, e.g. {exists: true}")
        return value

    @field_validator("eq", "ne")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if not _is_scalar(value):
            raise ValueError(f"compare with a single value (string, number, true/false, null), not {value!r}")
        return value

    @field_validator("in_", "not_in")
    @classmethod
    def _scalars(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None:
            if not value:
                raise ValueError("the list is empty")
            bad = [v for v in value if not _is_scalar(v)]
            if bad:
                raise ValueError(f"list items must be single values, not {bad[0]!r}")
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r}: {exc}") from None
        return value

    def model_post_init(self, context: Any, /) -> None:
        if self.regex is not None:
            self._pattern = re.compile(self.regex)

    def operators(self) -> list[str]:
        """The operators given (by their YAML names), for docs and error messages."""
        fields = type(self).model_fields
        return sorted(fields[name].alias or name for name in self.model_fields_set)

    def matches(self, value: Any, watchlists: Mapping[str, set[str]]) -> bool:
        """Whether `value` (MISSING if the field is absent) satisfies every operator. Pure; never raises."""
        given = self.model_fields_set
        absent = value is MISSING or value is None
        plain = None if absent else value
        if "eq" in given and not _same(plain, self.eq):
            return False
        if "ne" in given and _same(plain, self.ne):
            return False
        if self.in_ is not None and not any(_same(plain, v) for v in self.in_):
            return False
        if self.not_in is not None and any(_same(plain, v) for v in self.not_in):
            return False
        if not self._compare(plain):
            return False
        if self.exists is not None and self.exists == absent:
            return False
        if self._pattern is not None and not (isinstance(plain, str) and self._pattern.search(plain)):
            return False
        if self.on_watchlist is not None and not (isinstance(plain, str)
                                                  and plain in watchlists.get(self.on_watchlist, ())):
            return False
        if self.near_watchlist is not None and not (isinstance(plain, str)
                                                    and near_miss(plain, watchlists.get(self.near_watchlist, ()))):
            return False
        return not (self.not_on_watchlist is not None and isinstance(plain, str)
                    and plain in watchlists.get(self.not_on_watchlist, ()))

    def _compare(self, value: Any) -> bool:
        bounds = (self.gt, self.ge, self.lt, self.le)
        if all(b is None for b in bounds):
            return True
        if not _is_number(value):
            return False
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))
