"""一键通: the one-tap alarm button of an elder living alone.

A press must reach a community worker at once; the button itself must be known
alive, because a dead button is a danger, not an inconvenience.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from devices.base import Command, DeviceDriver, Payload


class Press(Payload):
    type: Literal["press"]


class Cancel(Payload):
    """The elder (or a neighbour) cancels a press made by mistake."""

    type: Literal["cancel"]


class Heartbeat(Payload):
    type: Literal["heartbeat"]
    battery: int | float | None = Field(default=None, ge=0, le=100)


class Locate(Command):
    """Make the button beep so a visitor can find it."""

    seconds: int = Field(default=10, ge=1, le=120)


class ElderButton(DeviceDriver):
    kind = "elder_button"
    title = "一键通 elder alarm button"
    heartbeat_interval = timedelta(minutes=1)
    offline_timeout = timedelta(minutes=3)
    safety = True
    alarm_types = frozenset({"press"})
    aliases: ClassVar = {"sos": "press", "alarm": "press", "emergency": "press", "help": "press", "call": "press",
                         "key_press": "press", "button_press": "press", "cancel_alarm": "cancel"}
    events: ClassVar = {"press": Press, "cancel": Cancel}
    telemetry: ClassVar = {"heartbeat": Heartbeat}
    commands: ClassVar = {"locate": Locate}
