"""What a simulated device is: the base of every kind's simulated model, and the message it makes.

It lives with the drivers (not in `simulators/`) because each kind's folder ships its own simulated
device (`devices/<kind>/simulated.py`, returned by `DeviceDriver.simulated`), and `devices` sits below
`simulators` in the layers: the simulators drive these models, the models know nothing of MQTT.

A `Message` is the device-level meaning (channel, type, fields); `build_payload`
adds the SPEC's common fields (`msg_id`, `ts`, `type`). Keeping the two apart
lets the per-kind models stay pure and the same plan be published or recorded.
A model holds a device's physical state (battery, fence voltages) and turns
actions into `Message`s. It does no I/O, so the same model serves a live MQTT
device, a dry-run plan and a unit test.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from devices.base import DeviceDriver

MessageChannel = Literal["event", "telemetry"]
COMMON_FIELDS = frozenset({"msg_id", "ts", "type"})


@dataclass(frozen=True)
class Message:
    """One event or telemetry reading of a device, without msg_id and ts yet."""

    channel: MessageChannel
    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    ts_ms: int | None = None
    """The device's own time for it, when that is not the moment it is sent (a camera uploading a
    capture it buffered); None: stamped when published, like almost every message."""

    def __post_init__(self) -> None:
        clash = COMMON_FIELDS & self.fields.keys()
        if clash:
            raise ValueError(f"fields may not override the common fields: {sorted(clash)}")

    @classmethod
    def event(cls, type_: str, **fields: Any) -> Message:
        """A discrete event (published with QoS 1)."""
        return cls("event", type_, fields)

    @classmethod
    def telemetry(cls, type_: str, **fields: Any) -> Message:
        """A periodic reading."""
        return cls("telemetry", type_, fields)


def build_payload(message: Message, msg_id: str, ts_ms: int) -> dict[str, Any]:
    """The JSON object of SPEC §2: common fields first, then the message's own."""
    return {"msg_id": msg_id, "ts": ts_ms, "type": message.type, **message.fields}


class KindModel:
    """Base of a kind's simulated device; subclasses add the kind's events."""

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


def _takes_attributes(method: Any) -> bool:
    """Whether a driver's `simulated` takes the site file's attributes (older plugins define `simulated(self, rng)`)."""
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL or p.name == "attributes" for p in params):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional for p in params) >= 2


def simulated_model(driver: DeviceDriver, rng: random.Random | None,
                    attributes: Mapping[str, Any] | None) -> KindModel | None:
    """The driver's simulated device for a device with these site-file `attributes`, None if it has none.

    Built-in kinds and plugins answer through the same hook; a plugin written before the hook took
    `attributes` (`simulated(self, rng)`) is asked without them.
    """
    method = driver.simulated
    if _takes_attributes(method):
        return method(rng, dict(attributes or {}))
    return method(rng)  # the older one-argument form


__all__ = ["COMMON_FIELDS", "KindModel", "Message", "MessageChannel", "build_payload", "simulated_model"]
