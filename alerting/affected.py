"""Who an equipment alert affects: the buildings a device serves, their households, and the vulnerable residents.

A stopped lift, a water cut or a cold heating loop hurts the households of the buildings the equipment serves
(`attributes.serves: [b20]` on the device; a lift, pump room or substation without it: the building its
`location.building` names). Among them, the elders living alone and the persons under a welfare check are the
ones the patrol visits first, so the alert names them (docs/buildings.md):

    affected: {buildings: [{id, name, households}], households: N,
               vulnerable: [{person, name, building, unit, why: "lives alone" | "welfare check"}]}

Everything here is read with the engine's configuration (`RuleEngine.refresh`, every few seconds) and kept as
an immutable directory: raising an alert looks the device up in memory, and the press and telemetry path pays
no query for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.orm import Session

from kernel.db.models import Building, Device, Person

EQUIPMENT_KINDS = frozenset({"elevator", "water", "heating"})
"""Building equipment (SPEC §2): their alerts are enriched even without `attributes.serves` (by location)."""
MAX_VULNERABLE = 50
"""Persons named in one alert at most (`vulnerable_more` counts the rest): the first visits, not a census."""
CHUNK = 500
LIVES_ALONE = "lives alone"
WELFARE_CHECK = "welfare check"


@dataclass(frozen=True, slots=True)
class BuildingInfo:
    id: str
    site: str
    name: str
    households: int


@dataclass(frozen=True, slots=True)
class Vulnerable:
    person: str
    name: str
    building: str
    unit: str | None
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"person": self.person, "name": self.name, "building": self.building, "unit": self.unit,
                "why": self.why}


def affected_of(evidence: Any) -> Mapping[str, Any] | None:
    """The `affected` of an alert's evidence (a list, the first trigger first): the latest one that has it."""
    items = evidence if isinstance(evidence, list) else [evidence]
    for item in reversed(items):
        if isinstance(item, Mapping) and isinstance(item.get("affected"), Mapping):
            return item["affected"]
    return None


def _lives_alone(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "是"))


def served_buildings(site: str, kind: str, attributes: Mapping[str, Any] | None, location: Mapping[str, Any] | None,
                     buildings: Mapping[str, BuildingInfo], by_name: Mapping[tuple[str, str], str]) -> tuple[str, ...]:
    """The buildings a device serves: `attributes.serves`, else (equipment kinds) its `location.building`, by id
    or by name."""
    serves = (attributes or {}).get("serves")
    if isinstance(serves, list):
        return tuple(b for b in serves if isinstance(b, str) and b in buildings and buildings[b].site == site)
    if kind in EQUIPMENT_KINDS:
        where = (location or {}).get("building")
        if isinstance(where, str | int):
            text = str(where)
            if text in buildings and buildings[text].site == site:
                return (text,)
            found = by_name.get((site, text))
            if found is not None:
                return (found,)
    return ()


class AffectedDirectory:
    """Buildings, the buildings each equipment device serves, and the vulnerable residents per building."""

    def __init__(self, buildings: Iterable[BuildingInfo] = (), serves: Mapping[str, tuple[str, ...]] | None = None,
                 vulnerable: Iterable[Vulnerable] = ()) -> None:
        self.buildings: Mapping[str, BuildingInfo] = {b.id: b for b in buildings}
        self.serves: Mapping[str, tuple[str, ...]] = dict(serves or {})
        """device id → the buildings it serves (only devices that serve some)."""
        per_building: dict[str, list[Vulnerable]] = {}
        for person in vulnerable:
            per_building.setdefault(person.building, []).append(person)
        self._vulnerable = {b: sorted(people, key=lambda p: (p.unit or "", p.person))
                            for b, people in per_building.items()}

    @classmethod
    def load(cls, session: Session) -> AffectedDirectory:
        """Read from the database: a site without buildings costs one query of an empty table."""
        buildings = [BuildingInfo(r.id, r.site_id, r.name, int(r.households or 0)) for r in session.execute(
            select(Building.id, Building.site_id, Building.name, Building.households))]
        if not buildings:
            return cls()
        known = {b.id: b for b in buildings}
        by_name = {(b.site, b.name): b.id for b in buildings}
        serves: dict[str, tuple[str, ...]] = {}
        for row in session.execute(select(Device.id, Device.site_id, Device.kind, Device.attributes,
                                          Device.location).where(or_(Device.kind.in_(sorted(EQUIPMENT_KINDS)),
                                                                     has_serves(session)))):
            found = served_buildings(row.site_id, row.kind, row.attributes, row.location, known, by_name)
            if found:
                serves[row.id] = found
        return cls(buildings, serves, _vulnerable(session, known))

    def __len__(self) -> int:
        return len(self.buildings)

    def for_device(self, device_id: str | None) -> dict[str, Any] | None:
        """The `affected` evidence of an alert of this device, or None when it serves no known building."""
        if device_id is None:
            return None
        ids = self.serves.get(device_id)
        if not ids:
            return None
        return self.for_buildings(ids)

    def for_buildings(self, ids: Iterable[str]) -> dict[str, Any]:
        buildings = [self.buildings[b] for b in dict.fromkeys(ids) if b in self.buildings]
        people = [p for b in buildings for p in self._vulnerable.get(b.id, ())]
        out: dict[str, Any] = {
            "buildings": [{"id": b.id, "name": b.name, "households": b.households} for b in buildings],
            "households": sum(b.households for b in buildings),
            "vulnerable": [p.as_dict() for p in people[:MAX_VULNERABLE]],
        }
        if len(people) > MAX_VULNERABLE:
            out["vulnerable_more"] = len(people) - MAX_VULNERABLE
        return out


def has_serves(session: Session) -> Any:
    """`attributes.serves` is set, as each database writes a JSON look-up (the filter runs in the database)."""
    if session.get_bind().dialect.name == "postgresql":
        return Device.attributes.op("->")("serves").isnot(None)
    return func.json_extract(Device.attributes, "$.serves").isnot(None)


def _vulnerable(session: Session, buildings: Mapping[str, BuildingInfo]) -> list[Vulnerable]:
    """Persons of these buildings who live alone (an elder with `attributes.lives_alone`, or whose elder button
    says `attributes.elder.lives_alone`) or are under a welfare check."""
    rows: list[Row[Any]] = list(session.execute(
        select(Person.id, Person.site_id, Person.name, Person.role, Person.welfare_check, Person.attributes,
               Person.devices, Person.building_id, Person.unit)
        .where(Person.building_id.isnot(None), or_(Person.role == "elder", Person.welfare_check.is_(True)))))
    buttons = sorted({str(d) for r in rows if r.role == "elder" for d in r.devices or [] if d is not None})
    alone: set[str] = set()
    for start in range(0, len(buttons), CHUNK):
        for device_id, attributes in session.execute(select(Device.id, Device.attributes).where(
                Device.id.in_(buttons[start:start + CHUNK]))):
            elder = (attributes or {}).get("elder")
            if isinstance(elder, Mapping) and _lives_alone(elder.get("lives_alone")):
                alone.add(device_id)
    out = []
    for r in rows:
        building = buildings.get(r.building_id)
        if building is None or building.site != r.site_id:
            continue
        lives_alone = r.role == "elder" and (_lives_alone((r.attributes or {}).get("lives_alone"))
                                             or any(str(d) in alone for d in r.devices or []))
        if lives_alone or r.welfare_check:
            out.append(Vulnerable(r.id, r.name, r.building_id, r.unit,
                                  LIVES_ALONE if lives_alone else WELFARE_CHECK))
    return out
