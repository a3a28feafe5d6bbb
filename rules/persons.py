"""The person directory: which person does an observation show? (for `per: person` absences, the welfare check)

Loaded from the `persons` table with the rest of the configuration the API
manages (`RuleEngine.refresh`: with the first batch, then every few seconds),
so a person added, changed or deleted through the API or the site file reaches
every gateway soon. Only what shows the person themselves counts as a sighting:

| observation | the person |
|---|---|
| elder_button `press` / `cancel` | whose `devices` list the button |
| face_camera `face` with `person_id` (and `similarity` absent or at least `FACE_MATCH_MIN`) | that id |
| access_gate `pass`, `result: granted`, `method: face` | the `credential` as a person id |
| access_gate `pass`, `result: granted`, `method: card` / `pin` | whose `credentials` list it |
| access_gate `pass`, `result: granted`, `method: plate`; plate_camera `plate` | whose `plates` list the plate |

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

from kernel.db.models import Person

FACE_MATCH_MIN = 0.6
"""A face match below this similarity is not a sighting (`face-unknown-night` calls it a poor match)."""
BUTTON_TYPES = frozenset({"press", "cancel"})
"""Elder-button events that show the elder (never `heartbeat`)."""

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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def good_face_match(similarity: Any) -> bool:
    """A camera's match counts unless it reports a similarity under `FACE_MATCH_MIN` (or not a number)."""
    if similarity is None:
        return True
    return isinstance(similarity, int | float) and not isinstance(similarity, bool) and similarity >= FACE_MATCH_MIN


def contact(value: Any) -> dict[str, Any] | None:
    """One contact (an elder, a family member) as the API shows it, from either form the site file allows.

    docs/configuration.md writes `elder: 王秀英` (a name); the sample community writes objects
    (`{name, age, health}`, `{name, relation, phone}`). A name alone becomes `{"name": ...}`; an object is
    kept, with a name, relation or phone written as a YAML number (`phone: 13800000001`) turned into text.
    Anything else (a list, an empty name) is no contact.
    """
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        name = str(value).strip()
        return {"name": name} if name else None
    if not isinstance(value, Mapping):
        return None
    out = {str(k): v for k, v in value.items()}
    for key in ("name", "relation", "phone"):
        if isinstance(out.get(key), int | float) and not isinstance(out.get(key), bool):
            out[key] = str(out[key])
    return out


def family_contacts(value: Any) -> list[dict[str, Any]]:
    """`family` as a list of contacts: a list of names or objects, or a single one."""
    items = value if isinstance(value, list | tuple) else [] if value is None else [value]
    return [c for c in map(contact, items) if c is not None]


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
        """The person this observation shows, or None (see the module's table). Pure; never raises."""
        if kind == "elder_button":
            return self._buttons.get((site, device)) if type in BUTTON_TYPES else None
        if kind == "face_camera":
            if type != "face" or not good_face_match(data.get("similarity")):
                return None
            return self._by_id.get(_text(data.get("person_id")) or "")
        if kind == "access_gate":
            if type != "pass" or data.get("result") != "granted":
                return None
            method, credential = data.get("method"), _text(data.get("credential")) or ""
            if method == "face":
                return self._by_id.get(credential)
            if method in ("card", "pin"):
                return self._credentials.get((site, credential))
            return self._plates.get((site, credential)) if method == "plate" else None
        if kind == "plate_camera" and type == "plate":
            return self._plates.get((site, _text(data.get("plate")) or ""))
        return None
