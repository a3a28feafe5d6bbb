"""The person directory: which person does an observation show? (for `per: person` absences, the welfare check)

Loaded from the `persons` table with the rest of the configuration the API
manages (`RuleEngine.refresh`: with the first batch, then every few seconds),
so a person added, changed or deleted through the API or the site file reaches
every gateway soon. Only what shows the person themselves counts as a sighting,
and which events do is the kind's to say: each driver's `person_evidence` names
the link (a person id, the device itself, a credential, a plate) and this
directory looks it up (the built-in kinds' table is in docs/devices.md).

Heartbeats never count (they prove a button is alive, not the elder), nor do
denied passes, one-time QR codes, or poor face matches. Buttons, credentials
and plates are looked up within the observing device's site (card numbers are
only unique within one access-control system); a value several persons share
(a family car, a flat's PIN) shows none of them, since any of them may have
used it. Values are compared exactly as devices send them, as watchlists are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices import get_driver
from devices.elder_button.contacts import contact, family_contacts
from devices.face_camera.driver import FACE_MATCH_MIN, good_face_match
from kernel.db.models import Person

__all__ = ["FACE_MATCH_MIN", "PersonDirectory", "PersonInfo", "contact", "family_contacts", "good_face_match"]
# FACE_MATCH_MIN, good_face_match, contact, family_contacts: re-exported (they moved to the kinds' folders)

_Index = dict[tuple[str, str], "PersonInfo | None"]
"""(site, button / credential / plate) → the one person holding it, None when several do."""


@dataclass(frozen=True, slots=True)
class PersonInfo:
    id: str
    site: str
    grid: str | None
    name: str
    welfare_check: bool = False
    buttons: tuple[str, ...] = ()
    """Elder buttons, in the order the site file or the API lists them."""
    credentials: tuple[str, ...] = ()
    plates: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Person) -> PersonInfo:
        return cls(row.id, row.site_id, row.grid_id, row.name, bool(row.welfare_check), _texts(row.devices),
                   _texts(row.credentials), _texts(row.plates))


def _texts(values: Iterable[Any] | None) -> tuple[str, ...]:
    """Stored links as strings (a PIN written as a YAML number is still the PIN the gate sends as text)."""
    return tuple(str(v) for v in values or () if v is not None and str(v))


def _index(persons: Iterable[PersonInfo], links: str) -> _Index:
    index: _Index = {}
    for person in persons:
        for value in getattr(person, links):
            key = (person.site, value)
            index[key] = person if index.get(key, person) is person else None
    return index


class PersonDirectory:
    """The persons the rules know, indexed by everything that can show them. Immutable: refreshing builds anew."""

    def __init__(self, persons: Iterable[PersonInfo] = ()) -> None:
        people = list(persons)
        self._by_id: Mapping[str, PersonInfo] = {p.id: p for p in people}
        self._buttons = _index(people, "buttons")
        self._credentials = _index(people, "credentials")
        self._plates = _index(people, "plates")

    @classmethod
    def load(cls, session: Session) -> PersonDirectory:
        return cls(PersonInfo.from_row(row) for row in session.scalars(select(Person)))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, person_id: str) -> PersonInfo | None:
        return self._by_id.get(person_id)

    def holder(self, site: str, button: str) -> PersonInfo | None:
        """The one person whose `devices` list this elder button (None: nobody, or several)."""
        return self._buttons.get((site, button))

    def welfare(self) -> list[PersonInfo]:
        """The persons under a welfare check (`welfare_check: true`), by id."""
        return sorted((p for p in self._by_id.values() if p.welfare_check), key=lambda p: p.id)

    def identify(self, *, site: str, kind: str, device: str, type: str, data: Mapping[str, Any]) -> PersonInfo | None:
        """The person this observation shows, or None (the kind's driver says by what). Pure; never raises."""
        driver = get_driver(kind)
        if driver is None:
            return None
        try:
            evidence = driver.person_evidence(type, data, device)
        except Exception:  # noqa: BLE001 - a third-party driver's hook costs its sighting, never the batch
            return None
        if evidence is None:
            return None
        if evidence.link == "person":
            return self._by_id.get(evidence.value)
        index = {"device": self._buttons, "credential": self._credentials, "plate": self._plates}[evidence.link]
        return index.get((site, evidence.value))
