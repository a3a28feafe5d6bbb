"""The residents whose comings and goings make the daily traffic.

Not in the site file (that lists devices, not people): drawn from the seed, so
a seeded run always has the same people with the same cards, faces and cars.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulators.layout import Layout
from simulators.plates import local_plate

ROLES = ("commuter", "student", "retiree", "homebody")
ROLE_WEIGHTS = (42, 13, 33, 12)


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
                    face_enrolled=rng.random() < 0.75,
                    home=_flat(rng, building=c_index * 3 + rng.randint(1, 3)),
                    main_gate=rng.randrange(mains),
                    car=car,
                )
            )
    return people
