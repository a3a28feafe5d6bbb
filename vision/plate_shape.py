"""Whether a whole picture is itself a plate (the 车牌小图 a gate camera sends beside its scene), and its rows.

The detector looks for plates *in* a scene; in a picture that is nothing but a
plate it finds none, because there is no surrounding car to find it in. Such a
picture is recognised by its shape alone: small, and as wide as a plate for its
height (single-row plates are 440×140 mm, 3.1:1, and crops run 2.5–5:1 with
their margins; yellow double-row plates are 440×220 mm, 2:1). Whether it really
is a plate is then decided by the reading: the text must fit the plate format,
and a weak reading is marked uncertain or dropped.
"""

from __future__ import annotations

import numpy as np

MAX_SIDE = 640
"""Larger pictures are scenes: a camera's plate picture is a few hundred pixels wide at most."""
MIN_HEIGHT = 12
"""Below this a plate's characters are a few pixels tall: nothing can be read."""
SINGLE_ROW = (2.3, 6.5)
"""Width/height of a single-row plate picture, margins included."""
DOUBLE_ROW = (1.3, 2.8)
"""Width/height of a double-row (yellow, large vehicles) plate picture; overlaps SINGLE_ROW, both are tried."""
TOP_ROW = (0.0, 0.42, 0.12, 0.88)
"""Double-row plates: the top row (province and office letter) as fractions of height (from, to) and width."""
BOTTOM_ROW = (0.34, 1.0, 0.0, 1.0)
"""Double-row plates: the bottom row (the five characters)."""


def layouts(image: np.ndarray) -> list[str]:
    """The plate layouts (``single``, ``double``) a whole picture's shape allows; empty for a scene."""
    h, w = image.shape[:2]
    if max(h, w) > MAX_SIDE or h < MIN_HEIGHT:
        return []
    aspect = w / h
    out = []
    if SINGLE_ROW[0] <= aspect <= SINGLE_ROW[1]:
        out.append("single")
    if DOUBLE_ROW[0] <= aspect <= DOUBLE_ROW[1]:
        out.append("double")
    return out


def rows(plate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top and bottom rows of a double-row plate picture."""
    h, w = plate.shape[:2]

    def cut(frac: tuple[float, float, float, float]) -> np.ndarray:
        y0, y1, x0, x1 = frac
        return plate[round(y0 * h):max(round(y1 * h), round(y0 * h) + 1), round(x0 * w):max(round(x1 * w), 1)]

    return cut(TOP_ROW), cut(BOTTOM_ROW)
