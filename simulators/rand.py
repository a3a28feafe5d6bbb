"""Small seeded-randomness helpers shared by the planners (all take an explicit rng)."""

from __future__ import annotations

import math
import random

HOUR = 3600.0
MINUTE = 60.0


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson count (Knuth's method; fine for the small daily rates used here)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def clock_gauss(rng: random.Random, mean_h: float, sd_min: float, lo_h: float, hi_h: float) -> float:
    """A time of day in seconds, normally spread around `mean_h`, clipped to [lo_h, hi_h]."""
    t = rng.gauss(mean_h * HOUR, sd_min * MINUTE)
    return min(max(t, lo_h * HOUR), hi_h * HOUR)


def clock_uniform(rng: random.Random, lo_h: float, hi_h: float) -> float:
    """A time of day in seconds, uniform in [lo_h, hi_h] (hours may exceed 24: after midnight)."""
    return rng.uniform(lo_h * HOUR, hi_h * HOUR)
