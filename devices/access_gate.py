"""门禁: an access-control gate at a courtyard or main entrance."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from devices.base import Command, DeviceDriver, Heartbeat, Interpretation, Payload


class Pass(Payload):
    type: Literal["pass"]
    direction: Literal["in", "out"]
    method: Literal["card", "face", "qr", "plate", "pin"]
    credential: str = Field(max_length=256)
    result: Literal["granted", "denied"]


class ForcedOpen(Payload):
    type: Literal["forced_open"]


class HeldOpen(Payload):
    type: Literal["held_open"]
    seconds: int | float = Field(ge=0)


class Tamper(Payload):
    type: Literal["tamper"]


class Open(Command):
    """Open the gate remotely (e.g. for an ambulance)."""

    seconds: int = Field(default=5, ge=1, le=600)


class Lock(Command):
    pass


class AccessGate(DeviceDriver):
    kind = "access_gate"
    title = "门禁 access gate"
    heartbeat_interval = timedelta(minutes=2)
    offline_timeout = timedelta(minutes=10)
    safety = True
    alarm_types = frozenset({"forced_open", "held_open", "tamper"})
    aliases: ClassVar = {"forced": "forced_open", "door_forced": "forced_open", "held": "held_open",
                         "door_held_open": "held_open", "passage": "pass"}
    events: ClassVar = {"pass": Pass, "forced_open": ForcedOpen, "held_open": HeldOpen, "tamper": Tamper}
    telemetry: ClassVar = {"heartbeat": Heartbeat}
    commands: ClassVar = {"open": Open, "lock": Lock}

    def interpret(self, channel: str, payload: Payload) -> Interpretation:
        result = super().interpret(channel, payload)
        if payload.type == "tamper":
            result.health.tamper = True
        return result
