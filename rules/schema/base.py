"""The rule file format's building blocks: ids, key parts, and how a key part reads an event.

Every model forbids unknown keys (`StrictModel`), because in a hand-written YAML file an unknown key is
nearly always a typo (`severty:`), and a typo that silently falls back to a default is a safety rule that
does not do what its author thinks. Names are cross-checked against the device drivers (`rules.catalog`)
for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from rules import catalog
from rules.matchers import MISSING, lookup

ID_PATTERN = r"^[a-z0-9_-]{1,64}$"
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""Sites, grids, zones and devices: the SPEC's topic-segment ids."""
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEZONE = "Asia/Shanghai"
GROUP_KEYS: tuple[str, ...] = ("device", "zone", "grid", "site")
"""What `per:` and `same:` may name, besides `field:<name>`."""
PER_PERSON = "person"
"""`per: person`: only in `absence` (the welfare check), where the person directory says whom a sighting shows."""
DEDUP_KEYS: tuple[str, ...] = ("rule", "site", "grid", "zone", "device", "kind", PER_PERSON)
"""What `dedup.key` may name, besides `field:<name>` (`person` only in rules grouped `per: person`)."""
FIELD_KEY = re.compile(r"field:([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})")
PLACEHOLDER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class LocatedValueError(ValueError):
    """A validation failure that names the key below the validated object at fault.

    Pydantic locates errors of cross-field checks at the object that runs them;
    the loader appends `subloc`, so the operator is pointed at the exact line.
    """

    def __init__(self, message: str, *subloc: str | int) -> None:
        super().__init__(message)
        self.subloc = subloc


class StrictModel(BaseModel):
    """Unknown keys are refused, and a parsed rule never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def known_kind(kind: str) -> str:
    if kind not in catalog.kinds():
        raise ValueError(f"unknown device kind `{kind}`; known kinds: {', '.join(catalog.kinds())}")
    return kind


def _key_part(allowed: tuple[str, ...], what: str, elsewhere: Mapping[str, str] | None = None) -> Any:
    """A key part among `allowed` or `field:<name>`; `elsewhere` explains names that are valid only in other places."""
    def check(value: str) -> str:
        if value not in allowed and not FIELD_KEY.fullmatch(value):
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
    match = FIELD_KEY.fullmatch(part)
    if match:
        value = lookup(data, match.group(1))
        return None if value is None or value is MISSING or isinstance(value, Mapping | list) else str(value)
    known = {"rule": rule, "site": site, "grid": grid, "zone": event_zone(zone, data), "kind": kind, "device": device,
             PER_PERSON: person}
    return known.get(part)
