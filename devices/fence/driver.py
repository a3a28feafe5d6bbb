"""脉冲电子围栏: the host of a pulse electric fence on the perimeter wall, in zones."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.base import Command, DeviceDriver, Interpretation, Payload, ReadingValue
from devices.fence.simulated import FenceModel

ZoneId = str


class Alarm(Payload):
    type: Literal["alarm"]
    zone: ZoneId = Field(min_length=1, max_length=64)
    cause: Literal["intrusion", "cut", "short", "tamper", "power_loss"]


class Restore(Payload):
    type: Literal["restore"]
    zone: ZoneId = Field(min_length=1, max_length=64)


class Heartbeat(Payload):
    type: Literal["heartbeat"]
    voltage_kv: dict[ZoneId, int | float] = Field(default_factory=dict)
    """Pulse voltage per zone, in kV."""


class Arm(Command):
    zone: ZoneId | None = None


class Disarm(Command):
    zone: ZoneId | None = None


class Fence(DeviceDriver):
    kind = "fence"
    title = "脉冲电子围栏 pulse electric fence host"
    heartbeat_interval = timedelta(minutes=1)
    offline_timeout = timedelta(minutes=3)
    safety = True
    alarm_types = frozenset({"alarm"})
    aliases: ClassVar = {"alarm_restore": "restore", "restored": "restore", "recover": "restore"}
    events: ClassVar = {"alarm": Alarm, "restore": Restore}
    telemetry: ClassVar = {"heartbeat": Heartbeat}
    commands: ClassVar = {"arm": Arm, "disarm": Disarm}

    def interpret(self, channel: str, payload: Payload) -> Interpretation:
        result = super().interpret(channel, payload)
        if isinstance(payload, Alarm) and payload.cause == "tamper":
            result.health.tamper = True
        if isinstance(payload, Heartbeat):
            result.readings.extend(
                ReadingValue("voltage_kv", float(kv), zone=zone) for zone, kv in payload.voltage_kv.items()
            )
        return result

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> FenceModel:
        """A fence host with the site file's `zones` (default one, `Z1`) and nominal `pulse_kv` (8.5)."""
        attributes = attributes or {}
        zones = [str(z) for z in attributes.get("zones") or ["Z1"]]
        return FenceModel(rng, zones=zones, nominal_kv=float(attributes.get("pulse_kv", 8.5)))
