"""Chinese licence plates for the plate cameras.

Ordinary (blue) plates are province character + city letter + 5 characters; the
small new-energy (green) plates have 6 characters after the city letter, the
first being D (electric) or F (hybrid). Letters I and O are never used.
"""

from __future__ import annotations

import random
import re

PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
PLATE_RE = re.compile(
    rf"^[{PROVINCES}][{LETTERS}]"
    rf"(?:[{LETTERS}{DIGITS}]{{5}}|[DF][{LETTERS}{DIGITS}][{DIGITS}]{{4}})$"
)
COLORS = ("blue", "green", "yellow")


def ordinary_serial(rng: random.Random) -> str:
    """Five characters, mostly digits with up to two letters, as issued today."""
    chars = [rng.choice(DIGITS) for _ in range(5)]
    letters = rng.choices((0, 1, 2), weights=(55, 35, 10))[0]
    for pos in rng.sample(range(5), letters):
        chars[pos] = rng.choice(LETTERS)
    return "".join(chars)


def new_energy_serial(rng: random.Random) -> str:
    """Six characters of a small new-energy car: D/F, a letter or digit, four digits."""
    second = rng.choice(LETTERS + DIGITS)
    return rng.choice("DF") + second + "".join(rng.choice(DIGITS) for _ in range(4))


def random_plate(
    rng: random.Random, province: str | None = None, city: str | None = None, new_energy: bool | None = None
) -> tuple[str, str]:
    """A plate and its colour; unset parts are drawn (about one car in eight is green)."""
    province = province or rng.choice(PROVINCES)
    city = city or rng.choice(LETTERS[:8])
    if new_energy is None:
        new_energy = rng.random() < 0.12
    if new_energy:
        return f"{province}{city}{new_energy_serial(rng)}", "green"
    color = "yellow" if rng.random() < 0.03 else "blue"
    return f"{province}{city}{ordinary_serial(rng)}", color


def local_plate(rng: random.Random, home: str = "辽", home_city: str = "E") -> tuple[str, str]:
    """A plate as seen in a Benxi community: mostly 辽E, some 辽A, a few from elsewhere."""
    roll = rng.random()
    if roll < 0.70:
        return random_plate(rng, home, home_city)
    if roll < 0.85:
        return random_plate(rng, home, "A")
    if roll < 0.92:
        return random_plate(rng, home)
    return random_plate(rng)


def is_valid_plate(plate: str) -> bool:
    """True for a plate in the two formats above."""
    return bool(PLATE_RE.fullmatch(plate))
