"""换热站: a district-heating substation (or a building's loop), serving many buildings.

It reports a `leak` with its `location`, a `fault` by code (a circulation pump, a control valve, the make-up
water), and periodically a `reading` of the secondary loop: supply and return temperatures and pressure. Besides
the values sent, the driver derives `spread_c`, supply minus return: a spread too small or too large says the
loop is out of balance before residents feel it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.base import DeviceDriver, Heartbeat, Interpretation, Payload, ReadingValue
from devices.heating.simulated import HeatingModel


class Leak(Payload):
    type: Literal["leak"]
    location: str = Field(min_length=1, max_length=256)


class Fault(Payload):
    type: Literal["fault"]
    code: str = Field(min_length=1, max_length=64)
    """The controller's code, e.g. `circulation_pump`, `control_valve`, `makeup_water`, `sensor`."""


class Reading(Payload):
    type: Literal["reading"]
    supply_c: int | float = Field(ge=-50, le=200)
    """Secondary supply temperature, °C."""
    return_c: int | float = Field(ge=-50, le=200)
    """Secondary return temperature, °C."""
    pressure_mpa: int | float = Field(ge=0, le=10)
    """Secondary loop pressure (supply side), MPa."""


class Heating(DeviceDriver):
    kind = "heating"
    title = "换热站 heating substation"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    aliases: ClassVar = {
        "漏水": "leak", "泄漏": "leak", "water_leak": "leak", "故障": "fault", "alarm": "fault",
        "telemetry": "reading", "data": "reading",
    }
    events: ClassVar = {"leak": Leak, "fault": Fault}
    telemetry: ClassVar = {"reading": Reading, "heartbeat": Heartbeat}
    """`heartbeat`: a monitor with nothing to report still says it is alive (every kind accepts one)."""
    derived_readings: ClassVar = frozenset({"spread_c"})

    def interpret(self, channel: str, payload: Payload) -> Interpretation:
        """A reading gives `supply_c`, `return_c`, `pressure_mpa` and the derived `spread_c` (supply − return)."""
        result = super().interpret(channel, payload)
        if isinstance(payload, Reading):
            supply, back = float(payload.supply_c), float(payload.return_c)
            result.readings += [ReadingValue("supply_c", supply), ReadingValue("return_c", back),
                                ReadingValue("pressure_mpa", float(payload.pressure_mpa)),
                                ReadingValue("spread_c", round(supply - back, 2))]
        return result

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> HeatingModel:
        """A substation; `heating_on` in the site file forces the season (default: from today's date)."""
        attributes = attributes or {}
        on = attributes.get("heating_on")
        return HeatingModel(rng, heating_on=None if on is None else bool(on))
