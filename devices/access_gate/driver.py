"""门禁: an access-control gate at a courtyard or main entrance."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.access_gate.simulated import AccessGateModel
from devices.base import Command, DeviceDriver, Heartbeat, Interpretation, Payload, PersonEvidence


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
    routine_types = frozenset({"pass"})
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

    def person_evidence(self, type: str, data: Mapping[str, Any], device: str) -> PersonEvidence | None:
        """A granted pass shows its holder: by face the credential is the person id; a card or PIN is looked up
        in persons' `credentials`, a plate in their `plates`. A denied pass or a one-time QR code shows nobody."""
        if type != "pass" or data.get("result") != "granted":
            return None
        method, credential = data.get("method"), data.get("credential")
        value = credential if isinstance(credential, str) and credential else ""
        if method == "face":
            return PersonEvidence("person", value)
        if method in ("card", "pin"):
            return PersonEvidence("credential", value)
        return PersonEvidence("plate", value) if method == "plate" else None

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> AccessGateModel:
        """The simulated access gate (its attributes do not change the model)."""
        return AccessGateModel(rng)
