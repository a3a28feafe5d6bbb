"""一键通: the one-tap alarm button of an elder living alone.

A press must reach a community worker at once; the button itself must be known
alive, because a dead button is a danger, not an inconvenience.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from devices.base import Command, DeviceDriver, Holder, Payload, PersonEvidence
from devices.elder_button.contacts import contact, family_contacts
from devices.elder_button.simulated import ElderButtonModel

BUTTON_TYPES = frozenset({"press", "cancel"})
"""Elder-button events that show the elder (never `heartbeat`: it proves the button alive, not the elder)."""


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
    personal_device = True

    def person_evidence(self, type: str, data: Mapping[str, Any], device: str) -> PersonEvidence | None:
        """A press or a cancel shows the elder holding the button."""
        return PersonEvidence("device", device) if type in BUTTON_TYPES else None

    def contacts(self, attributes: Mapping[str, Any], holder: Holder) -> dict[str, Any]:
        """The elder and the family: the button's own `elder`/`family` attributes (a name or an object, as
        documented), and what is missing there from the person whose `devices` list the button."""
        elder, family = contact(attributes.get("elder")), family_contacts(attributes.get("family"))
        if elder is None or not family:
            person = holder()
            if person is not None:
                name, person_attributes = person
                elder = elder or {"name": name}
                family = family or family_contacts(person_attributes.get("family"))
        return {"elder": elder, "family": family}

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> ElderButtonModel:
        """The simulated elder button (its attributes do not change the model)."""
        return ElderButtonModel(rng)
