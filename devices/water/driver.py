"""二次供水: the controller of a secondary-supply pump room (or a building's supply), which serves several buildings.

It reports the supply cut and restored (`supply_interrupted`, `supply_restored`: a main burst, a pump failure, a
planned cut), a `leak` with its `location`, and periodically a `reading`: the outlet pressure and, with a tank,
its level. Not a safety kind: nobody is in danger the moment the water stops, the maintenance staff act.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.base import DeviceDriver, Heartbeat, Interpretation, Payload, ReadingValue
from devices.water.simulated import WaterModel


class SupplyInterrupted(Payload):
    type: Literal["supply_interrupted"]
    reason: str | None = Field(default=None, max_length=256)
    """Free text when the controller knows it (`pump_fault`, `main_burst`, `planned`)."""


class SupplyRestored(Payload):
    type: Literal["supply_restored"]


class Leak(Payload):
    type: Literal["leak"]
    location: str = Field(min_length=1, max_length=256)
    """Where the sensor is, e.g. `泵房地面`, `水箱底部`."""


class Reading(Payload):
    type: Literal["reading"]
    pressure_mpa: int | float = Field(ge=0, le=10)
    """Outlet (supply) pressure, MPa."""
    level_pct: int | float | None = Field(default=None, ge=0, le=100)
    """The tank's level, percent of full; absent without a tank."""


class Water(DeviceDriver):
    kind = "water"
    title = "二次供水 water supply (pump room)"
    heartbeat_interval = timedelta(minutes=1)
    offline_timeout = timedelta(minutes=10)
    aliases: ClassVar = {
        "停水": "supply_interrupted", "water_cut": "supply_interrupted", "outage": "supply_interrupted",
        "supply_cut": "supply_interrupted", "恢复供水": "supply_restored", "restored": "supply_restored",
        "supply_ok": "supply_restored", "漏水": "leak", "water_leak": "leak", "flood": "leak",
        "telemetry": "reading", "data": "reading",
    }
    events: ClassVar = {"supply_interrupted": SupplyInterrupted, "supply_restored": SupplyRestored, "leak": Leak}
    telemetry: ClassVar = {"reading": Reading, "heartbeat": Heartbeat}
    """`heartbeat`: a monitor with nothing to report still says it is alive (every kind accepts one)."""

    def interpret(self, channel: str, payload: Payload) -> Interpretation:
        """A reading gives `pressure_mpa` and, with a tank, `level_pct`."""
        result = super().interpret(channel, payload)
        if isinstance(payload, Reading):
            result.readings.append(ReadingValue("pressure_mpa", float(payload.pressure_mpa)))
            if payload.level_pct is not None:
                result.readings.append(ReadingValue("level_pct", float(payload.level_pct)))
        return result

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> WaterModel:
        """A pump room with the site file's `pressure_mpa` set point (0.30) and a tank unless `tank: false`."""
        attributes = attributes or {}
        return WaterModel(rng, set_point=float(attributes.get("pressure_mpa", 0.30)),
                          tank=bool(attributes.get("tank", True)))
