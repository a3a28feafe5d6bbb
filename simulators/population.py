"""The residents whose comings and goings make the daily traffic.

Most are not in the site file: drawn from the seed, so a seeded run always has
the same people with the same cards, faces and cars. The persons the site file
does list (`persons:`, the elders with their buttons) walk with the ids, cards
and plates the gateway knows them by, so the welfare check sees them go out;
those marked `housebound` never leave their flat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kernel.siteconfig import PersonConfig
from simulators.layout import Courtyard, Layout
from simulators.plates import local_plate

ROLES = ("commuter", "student", "retiree", "homebody")
ROLE_WEIGHTS = (42, 13, 33, 12)
ELDER = "elder"
"""An elder of the site file: out to the market or for a walk every day, through a gate with face or card."""
HOUSEBOUND = "housebound"
"""An elder of the site file who never goes out (`attributes.housebound`): only their button shows them."""
FACE_ENROLLED = 0.75


@dataclass(frozen=True)
class Resident:
    """One person living in a courtyard."""

    person_id: str
    courtyard: str  # Courtyard.id
    role: str
    card: str  # card number read by the gates
    face_enrolled: bool
    home: str  # building-unit-room, their PIN credential at the gates
    main_gate: int  # index of the main gate they usually use
    car: tuple[str, str] | None  # (plate, colour)


def _flat(rng: random.Random, building: int) -> str:
    """`building-unit-room` of a six-storey walk-up with two flats per landing."""
    return f"{building}-{rng.randint(1, 3)}-{rng.randint(1, 6)}0{rng.randint(1, 2)}"


def build_population(
    layout: Layout, rng: random.Random, per_courtyard: tuple[int, int] = (18, 26)
) -> list[Resident]:
    """Residents for every courtyard of the layout, deterministic for a given rng."""
    people: list[Resident] = []
    mains = max(1, len(layout.main_gates))
    for c_index, court in enumerate(layout.courtyards):
        for n in range(rng.randint(*per_courtyard)):
            role = rng.choices(ROLES, weights=ROLE_WEIGHTS)[0]
            car = local_plate(rng) if role == "commuter" and rng.random() < 0.45 else None
            people.append(
                Resident(
                    person_id=f"R{c_index + 1:02d}{n + 1:03d}",
                    courtyard=court.id,
                    role=role,
                    card=f"{rng.getrandbits(32):08X}",
                    face_enrolled=rng.random() < FACE_ENROLLED,
                    home=_flat(rng, building=c_index * 3 + rng.randint(1, 3)),
                    main_gate=rng.randrange(mains),
                    car=car,
                )
            )
    return people


def site_persons(layout: Layout, persons: list[PersonConfig], rng: random.Random) -> list[Resident]:
    """The site file's persons as residents, living in the courtyard of their first button (others are skipped).

    Their `id` is their face (`person_id`), their first credential their card, their first plate their car.
    """
    people: list[Resident] = []
    mains = max(1, len(layout.main_gates))
    for person in persons:
        court = home_courtyard(layout, person)
        if court is None:
            continue
        if person.attributes.get("housebound"):
            role = HOUSEBOUND
        else:
            role = ELDER if person.role == "elder" else rng.choices(ROLES, weights=ROLE_WEIGHTS)[0]
        people.append(
            Resident(
                person_id=person.id,
                courtyard=court.id,
                role=role,
                card=person.credentials[0] if person.credentials else f"{rng.getrandbits(32):08X}",
                face_enrolled=rng.random() < FACE_ENROLLED,
                home=_flat(rng, building=rng.randint(1, 3)),  # a PIN the gateway does not know: no sighting
                main_gate=rng.randrange(mains),
                car=(person.plates[0], "blue") if person.plates else None,
            )
        )
    return people


def home_courtyard(layout: Layout, person: PersonConfig) -> Courtyard | None:
    """The courtyard of the person's first button the layout knows (None: no such button)."""
    button = next((d for d in person.devices if d in layout.devices), None)
    return layout.courtyard_of(button) if button is not None else None
