"""Bad input and misbehaving devices, on purpose (SPEC §2: bad input never stops the gateway).

Each `publish_*` function sends one instance of a bad-input class through any
`RawPublisher` (a `SimulatedDevice` sends it on its own connection, like buggy
firmware would; an `MqttConnection` is a bare injector). The device-level faults
(`publish_duplicate`, `drop_offline`, `go_silent`, `drain_battery`) act on a
`SimulatedDevice`. Every function returns an `InjectedFault` saying what it did,
so a test can assert the gateway counted exactly that.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from kernel.topics import PREFIX, device_topic
from simulators.device import SimulatedDevice
from simulators.kinds import ElderButtonModel
from simulators.messages import MAX_PAYLOAD_BYTES, MsgIdFactory, encode_payload, epoch_ms

FAULT_CLASSES: tuple[str, ...] = (
    "not_json",
    "wrong_types",
    "oversized",
    "unknown_kind",
    "unregistered_device",
    "malformed_topic",
    "bad_characters",
    "duplicate",
    "drop_offline",
    "go_silent",
    "battery_drain",
)

# A well-formed payload per kind with one field of the wrong JSON type.
WRONG_TYPES: dict[str, dict[str, Any]] = {
    "elder_button": {"type": "heartbeat", "battery": "full"},
    "access_gate": {"type": "held_open", "seconds": "a long time"},
    "plate_camera": {"type": "plate", "plate": 12345, "confidence": "high", "direction": "in"},
    "face_camera": {"type": "face", "person_id": ["R01001"], "similarity": "very"},
    "fence": {"type": "heartbeat", "voltage_kv": "8.5kV"},
    "elevator": {"type": "status", "floor": "5F", "running": "yes", "in_service": "yes"},
    "water": {"type": "reading", "pressure_mpa": "0.3MPa"},
    "heating": {"type": "reading", "supply_c": "warm", "return_c": 45, "pressure_mpa": 0.4},
}
MALFORMED_TOPICS = ("short", "long", "prefix", "channel", "empty_level")
BAD_CHARACTER_IDS = {"space": "eb 01", "chinese": "一键通01", "punctuation": "eb-01!", "too_long": "e" * 65}

_fault_ids = MsgIdFactory(f"fault{secrets.token_hex(2)}")


class RawPublisher(Protocol):
    def publish_raw(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...


@dataclass(frozen=True)
class InjectedFault:
    """What was injected: the fault class, where, and how big."""

    fault: str
    topic: str | None = None
    size: int = 0
    detail: str = ""


def _payload(type_: str, **fields: Any) -> bytes:
    return encode_payload({"msg_id": _fault_ids.next(), "ts": epoch_ms(), "type": type_, **fields})


def _send(pub: RawPublisher, fault: str, topic: str, payload: bytes, detail: str = "") -> InjectedFault:
    pub.publish_raw(topic, payload, qos=1)
    return InjectedFault(fault, topic, len(payload), detail)


def publish_not_json(pub: RawPublisher, site: str, kind: str, device_id: str) -> InjectedFault:
    """A truncated JSON object (firmware that cut its buffer short) on a valid event topic."""
    payload = b'{"msg_id": "' + _fault_ids.next().encode() + b'", "type": "press", "ts": 17'
    return _send(pub, "not_json", device_topic(site, kind, device_id, "event"), payload, "truncated JSON")


def publish_wrong_types(pub: RawPublisher, site: str, kind: str, device_id: str) -> InjectedFault:
    """Valid JSON whose fields have the wrong types, e.g. an elder button's `battery: "full"`."""
    fields = dict(WRONG_TYPES[kind])
    type_ = fields.pop("type")
    channel = "telemetry" if type_ in ("heartbeat", "status", "reading") else "event"
    detail = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return _send(
        pub, "wrong_types", device_topic(site, kind, device_id, channel), _payload(type_, **fields), detail
    )


def publish_oversized(
    pub: RawPublisher, site: str, kind: str, device_id: str, size: int = MAX_PAYLOAD_BYTES + 44 * 1024
) -> InjectedFault:
    """Valid JSON over the SPEC's 256 KiB limit (default 300 KiB)."""
    payload = _payload("heartbeat", padding="x" * size)
    topic = device_topic(site, kind, device_id, "telemetry")
    return _send(pub, "oversized", topic, payload, f"{len(payload)} bytes")


def publish_unknown_kind(
    pub: RawPublisher, site: str, device_id: str = "toaster-01", kind: str = "smart_toaster"
) -> InjectedFault:
    """A well-formed message under a device kind the SPEC does not have."""
    topic = f"{PREFIX}/{site}/{kind}/{device_id}/event"
    return _send(pub, "unknown_kind", topic, _payload("toast", level=3), kind)


def publish_unregistered_device(
    pub: RawPublisher, site: str, kind: str = "elder_button", device_id: str | None = None
) -> InjectedFault:
    """A perfect message from a device id nobody registered."""
    device_id = device_id or f"ghost-{secrets.token_hex(3)}"
    topic = device_topic(site, kind, device_id, "event")
    payload = _payload("press") if kind == "elder_button" else _payload("tamper")
    return _send(pub, "unregistered_device", topic, payload, device_id)


def publish_malformed_topic(
    pub: RawPublisher, site: str, variant: str = "short", kind: str = "elder_button", device_id: str = "eb-01"
) -> InjectedFault:
    """A topic that does not follow `anju/v1/{site}/{kind}/{device}/{channel}`."""
    topics = {
        "short": f"{PREFIX}/{site}/{kind}",
        "long": f"{PREFIX}/{site}/{kind}/{device_id}/event/extra",
        "prefix": f"anju/v2/{site}/{kind}/{device_id}/event",
        "channel": f"{PREFIX}/{site}/{kind}/{device_id}/events",
        "empty_level": f"{PREFIX}/{site}//{device_id}/event",
    }
    if variant not in topics:
        raise ValueError(f"unknown malformed-topic variant {variant!r}; one of {sorted(topics)}")
    return _send(pub, "malformed_topic", topics[variant], _payload("press"), variant)


def publish_bad_characters(
    pub: RawPublisher, site: str, variant: str = "chinese", kind: str = "elder_button"
) -> InjectedFault:
    """A device id outside `[A-Za-z0-9_-]{1,64}` (spaces, Chinese, punctuation, 65 chars)."""
    device_id = BAD_CHARACTER_IDS[variant]
    topic = f"{PREFIX}/{site}/{kind}/{device_id}/event"
    return _send(pub, "bad_characters", topic, _payload("press"), variant)


def publish_duplicate(device: SimulatedDevice) -> InjectedFault:
    """Re-send a `SimulatedDevice`'s last message byte for byte: same `msg_id`.
    A device that has sent nothing yet first sends a heartbeat to duplicate."""
    if device.last_sent is None:
        device.publish(device.model.heartbeat())
    assert device.last_sent is not None
    topic, payload, _ = device.last_sent
    device.resend_last()
    return InjectedFault("duplicate", topic, len(payload), device.device_id)


def drop_offline(device: SimulatedDevice) -> InjectedFault:
    """Abrupt socket close without DISCONNECT: the broker publishes the device's will."""
    device.go_offline(abrupt=True)
    return InjectedFault("drop_offline", device.status_topic, 0, device.device_id)


def go_silent(device: SimulatedDevice) -> InjectedFault:
    """The device stays connected but stops talking (heartbeats stop)."""
    device.go_offline(abrupt=False)
    return InjectedFault("go_silent", None, 0, device.device_id)


def drain_battery(model: ElderButtonModel, per_hour: float = 20.0, floor: float = 3.0) -> InjectedFault:
    """The button's battery falls fast (default 20 %/simulated hour) down to `floor`."""
    model.start_fast_drain(per_hour, floor)
    return InjectedFault("battery_drain", None, 0, f"{per_hour}%/h to {floor}%")
