"""Heating substation (换热站): `reading` every 2 minutes, `leak`, `fault`.

In the heating season the secondary loop runs at about 55-65 °C supply and 40-45 °C return, warmest before dawn
and in the evening (outdoor temperature and demand); out of season the loop stands filled and cold. A cold spell
(`cool_to`) holds the supply at a lower temperature, the return following, and `hold` any supply and return
(a bypass left open, a weak pump), until `recover`.
"""

from __future__ import annotations

import math
import random
from datetime import date
from typing import Any, ClassVar

from devices.simulation import KindModel, Message

DAY_S = 86400.0
SEASON = ((11, 1), (3, 31))
"""The heating season of the built-in rules (north-east China, Liaoning: 1 November to 31 March)."""


def in_heating_season(day: date) -> bool:
    """Whether `day` is in the heating season (`SEASON`, which wraps the new year)."""
    (m1, d1), (m2, d2) = SEASON
    return (day.month, day.day) >= (m1, d1) or (day.month, day.day) <= (m2, d2)


class HeatingModel(KindModel):
    """One substation's secondary loop."""

    kind: ClassVar[str] = "heating"
    heartbeat_interval_s: ClassVar[float] = 120.0

    def __init__(self, rng: random.Random | None = None, heating_on: bool | None = None) -> None:
        super().__init__(rng)
        self.heating_on = in_heating_season(date.today()) if heating_on is None else heating_on
        """Whether the loop is heated (None at construction: by today's date and `SEASON`)."""
        self.held: tuple[float, float] | None = None
        """(supply, return) the loop stands at, whatever the season and hour, until `recover`."""
        self.pressure = 0.40
        """The loop's static pressure, MPa (kept filled all year, 湿保养)."""

    def reading(self, now: float = 0.0) -> Message:
        """The periodic reading of the secondary loop."""
        hour = (now % DAY_S) / 3600
        if self.held is not None:
            supply = self.held[0] + self.rng.uniform(-0.5, 0.5)
            back = self.held[1] + self.rng.uniform(-0.5, 0.5)
        elif not self.heating_on:
            supply = 18.0 + self.rng.uniform(-1.0, 1.0)
            back = supply - self.rng.uniform(0.0, 0.5)
        else:  # warmest before dawn (coldest outside) and in the evening peak
            wave = math.cos((hour - 4.0) / 24 * 2 * math.pi)
            supply = 60.0 + 4.0 * wave + self.rng.uniform(-1.0, 1.0)
            back = 42.0 + 2.0 * wave + self.rng.uniform(-1.0, 1.0)
        pressure = self.pressure + self.rng.uniform(-0.01, 0.01)
        return Message.telemetry("reading", supply_c=round(supply, 1), return_c=round(back, 1),
                                 pressure_mpa=round(max(0.0, pressure), 3))

    def heartbeat(self, now: float = 0.0) -> Message:
        """The substation's periodic message is its reading."""
        return self.reading(now)

    def cool_to(self, supply_c: float) -> None:
        """The supply falls to `supply_c` (the primary network is short of heat), the return 8 °C below it."""
        self.hold(supply_c, supply_c - 8.0)

    def hold(self, supply_c: float, return_c: float) -> None:
        """The loop stands at these temperatures until `recover`."""
        self.held = (supply_c, return_c)

    def recover(self) -> None:
        """Back to normal: the season's temperatures and the loop's static pressure."""
        self.held = None
        self.pressure = 0.40

    def lose_pressure(self, pressure_mpa: float) -> None:
        """Water is lost somewhere in the loop: the pressure stands at `pressure_mpa` until `recover`."""
        self.pressure = pressure_mpa

    def leak(self, location: str) -> Message:
        return Message.event("leak", location=location)

    def fault(self, code: str) -> Message:
        return Message.event("fault", code=code)

    def heartbeat_fields(self, now: float) -> dict[str, Any]:
        return {}
