"""Turn raw MQTT messages into validated messages or rejections, with a reason.

Pure functions, no I/O: they run on the processing thread, never on the MQTT
network thread, and everything that can go wrong with a payload ends here as a
`Rejection` rather than an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from anju.timeutil import believable, parse_event_time
from anju.topics import DeviceTopic, parse_device_topic
from devices import DRIVERS
from devices.base import DeviceDriver, Interpretation, Payload


@dataclass(slots=True)
class RawMessage:
    """A message as it came off the broker, before anything was trusted."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    received_at: datetime
    generation: int = 0
    """Which broker connection delivered it: acknowledgements are only valid on that one."""


@dataclass(slots=True)
class Rejection:
    reason: str
    """Stable, machine-readable class: malformed_topic, unknown_kind, oversized, not_json, ..."""
    detail: str
    device_id: str | None = None


@dataclass(slots=True)
class StatusMessage:
    topic: DeviceTopic
    online: bool
    retained: bool


@dataclass(slots=True)
class DeviceMessage:
    """A validated event or telemetry message."""

    topic: DeviceTopic
    driver: DeviceDriver
    payload: Payload
    data: dict[str, Any]
    """The payload exactly as sent, unknown fields included."""
    ts: datetime
    meaning: Interpretation = field(repr=False)

    @property
    def msg_id(self) -> str | None:
        return self.payload.msg_id


Decoded = DeviceMessage | StatusMessage | Rejection

_STATUS_WORDS = {"online": True, "offline": False}


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(payload)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def decode_status(topic: DeviceTopic, payload: bytes, retained: bool) -> StatusMessage | Rejection:
    """`online`/`offline` as a bare word (SPEC), or a JSON string or `{"status": ...}` object."""
    text = payload.strip().decode("utf-8", errors="replace").lower()
    word: Any = text
    if text.startswith(("{", '"')):
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            parsed = None
        word = parsed.get("status") if isinstance(parsed, dict) else parsed
    if isinstance(word, str) and word.lower() in _STATUS_WORDS:
        return StatusMessage(topic, _STATUS_WORDS[word.lower()], retained)
    return Rejection("invalid_status", f"status must be 'online' or 'offline', got {text[:64]!r}", topic.device)


def decode(raw: RawMessage, max_payload_bytes: int, drivers: Mapping[str, DeviceDriver] = DRIVERS) -> Decoded:
    """Validate topic, size, JSON, kind and schema. Registry checks come later, in the pipeline.

    `drivers`: the kind -> driver table (the installed drivers; `devices.testing` passes one driver)."""
    topic = parse_device_topic(raw.topic)
    if topic is None:
        return Rejection("malformed_topic", "topic is not anju/v1/{site}/{kind}/{device}/{event|telemetry|status}")
    if len(raw.payload) > max_payload_bytes:
        return Rejection("oversized", f"payload is {len(raw.payload)} bytes, limit {max_payload_bytes}", topic.device)
    driver = drivers.get(topic.kind)
    if driver is None:
        return Rejection("unknown_kind", f"no driver for kind {topic.kind!r}", topic.device)
    if driver.canonical != topic.kind:  # a vendor driver: the device is a device of the canonical kind
        topic = replace(topic, kind=driver.canonical)
    if topic.channel == "status":
        return decode_status(topic, raw.payload, raw.retain)
    try:
        data = orjson.loads(raw.payload)
    except orjson.JSONDecodeError as exc:
        return Rejection("not_json", f"payload is not UTF-8 JSON: {exc}", topic.device)
    if not isinstance(data, dict):
        return Rejection("not_object", f"payload must be a JSON object, got {type(data).__name__}", topic.device)
    try:
        data = driver.normalize(topic.channel, data)
    except ValueError as exc:
        return Rejection("invalid_payload", f"{driver.kind}: {exc}", topic.device)
    except Exception as exc:  # noqa: BLE001 - a third-party driver bug costs its message, never the gateway
        return Rejection("driver_error", f"{driver.kind} driver failed in normalize: {type(exc).__name__}: {exc}",
                         topic.device)
    if not isinstance(data, dict):
        return Rejection("driver_error", f"{driver.kind} driver's normalize returned {type(data).__name__}",
                         topic.device)
    msg_type = data.get("type")
    if not isinstance(msg_type, str):
        return Rejection("invalid_payload", "type: field required (a string)", topic.device)
    schema = driver.schema_for(topic.channel, msg_type)
    if schema is None:
        known = sorted((driver.events if topic.channel == "event" else driver.telemetry).keys())
        return Rejection("unknown_type", f"{driver.kind} has no {topic.channel} type {msg_type!r} (known: {known})",
                         topic.device)
    try:
        payload = schema.model_validate(data)
        ts = parse_event_time(payload.ts, raw.received_at)
    except ValidationError as exc:
        return Rejection("invalid_payload", _format_validation_error(exc), topic.device)
    except ValueError as exc:
        return Rejection("invalid_payload", f"ts: {exc}", topic.device)
    try:
        meaning = driver.interpret(topic.channel, payload)
    except Exception as exc:  # noqa: BLE001 - as above: a driver bug costs its message only
        return Rejection("driver_error", f"{driver.kind} driver failed in interpret: {type(exc).__name__}: {exc}",
                         topic.device)
    ts, ahead = believable(ts, raw.received_at)
    if ahead:
        data = {**data, "clock_ahead_s": round(ahead, 1)}  # `ts` stays as the device sent it
    return DeviceMessage(topic, driver, payload, data, ts, meaning)
