"""Secondary water supply (二次供水): `reading` every minute, `supply_interrupted`, `supply_restored`, `leak`.

The pump room holds its outlet near the set point (0.30 MPa), dipping when demand peaks (morning and evening);
the tank fills at night and draws down by day. An interruption drops the pressure to about zero until
`supply_restored`, so the readings agree with the events.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar

from devices.simulation import KindModel, Message

DAY_S = 86400.0


def demand(now: float) -> float:
    """Relative water demand at simulated time `now` (0 at night, 1 at the morning and evening peaks)."""
    hour = (now % DAY_S) / 3600
    morning = math.exp(-((hour - 7.5) ** 2) / 1.5)
    evening = math.exp(-((hour - 19.5) ** 2) / 2.0)
    return min(1.0, 0.15 + morning + 0.9 * evening) if 6 <= hour < 23 else 0.05


class WaterModel(KindModel):
    """One pump room: outlet pressure, tank level, and whether the supply is on."""

    kind: ClassVar[str] = "water"
    heartbeat_interval_s: ClassVar[float] = 60.0

    def __init__(self, rng: random.Random | None = None, set_point: float = 0.30, tank: bool = True) -> None:
        super().__init__(rng)
        self.set_point = set_point
        self.tank = tank
        self.level = 80.0 if tank else None
        self.interrupted = False
        self.pressure_override: float | None = None
        """A pressure held whatever the demand (a failing pump), until `restore`."""
        self.level_held = False
        """The tank's level stays where `hold_level` put it (its inlet valve stuck), until `restore`."""

    def reading(self, now: float = 0.0) -> Message:
        """The periodic reading: pressure dips by up to 0.08 MPa at peak demand, never below 0.2 when healthy."""
        d = demand(now)
        if self.interrupted:
            pressure = self.rng.uniform(0.0, 0.02)
        elif self.pressure_override is not None:
            pressure = self.pressure_override + self.rng.uniform(-0.005, 0.005)
        else:
            pressure = self.set_point - 0.08 * d + self.rng.uniform(-0.01, 0.01)
        fields: dict[str, Any] = {"pressure_mpa": round(max(0.0, pressure), 3)}
        if self.level is not None:
            if not self.interrupted and not self.level_held:  # refilled at night, drawn down by day (a minute's)
                self.level = min(95.0, max(35.0, self.level + (0.4 if d < 0.2 else -0.25 * d)))
            fields["level_pct"] = round(self.level, 1)
        return Message.telemetry("reading", **fields)

    def heartbeat(self, now: float = 0.0) -> Message:
        """The pump room's periodic message is its reading."""
        return self.reading(now)

    def interrupt(self, reason: str | None = None) -> Message:
        """The supply stops (a main burst, a pump failure): the pressure falls to about zero."""
        self.interrupted = True
        return Message.event("supply_interrupted", **({"reason": reason} if reason else {}))

    def restore(self) -> Message:
        self.interrupted = False
        self.pressure_override = None
        self.level_held = False
        return Message.event("supply_restored")

    def hold_level(self, level_pct: float) -> None:
        """The tank stops refilling and stands at `level_pct` (a stuck float valve)."""
        if self.level is None:
            raise ValueError("this pump room has no tank")
        self.level, self.level_held = level_pct, True

    def repaired(self) -> None:
        """The pump or valve is fixed: pressure and level follow the demand again (no event)."""
        self.pressure_override, self.level_held = None, False

    def hold_pressure(self, pressure_mpa: float) -> None:
        """A failing pump holds the outlet at `pressure_mpa`, whatever the demand."""
        self.pressure_override = pressure_mpa

    def leak(self, location: str) -> Message:
        return Message.event("leak", location=location)

    def heartbeat_fields(self, now: float) -> dict[str, Any]:
        return {}
