"""The common shape of a per-kind device model.

A model holds a device's physical state (battery, fence voltages) and turns
actions into SPEC payload `Message`s. It does no I/O, so the same model serves
a live MQTT device, a dry-run plan and a unit test.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from simulators.messages import Message, build_payload


class KindModel:
    """Base for the five device kinds; subclasses add the kind's events."""

    kind: ClassVar[str]
    heartbeat_interval_s: ClassVar[float] = 300.0

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def heartbeat(self, now: float = 0.0) -> Message:
        """A periodic liveness reading; `now` is simulated seconds, for drifting state."""
        return Message.telemetry("heartbeat", **self.heartbeat_fields(now))

    def heartbeat_fields(self, now: float) -> dict[str, Any]:
        """Extra heartbeat fields of the kind (none by default)."""
        return {}

    def encode(self, message: Message, msg_id: str, ts_ms: int) -> dict[str, Any]:
        """The JSON object the device sends: the SPEC's by default; a vendor model sends its own format."""
        return build_payload(message, msg_id, ts_ms)
