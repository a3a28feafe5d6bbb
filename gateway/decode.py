"""Turn raw MQTT messages into validated messages or rejections, with a reason.

Pure functions, no I/O: they run on the processing thread, never on the MQTT
network thread, and everything that can go wrong with a payload ends here as a
`Rejection` rather than an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import ValidationError

from devices import DRIVERS
from devices.base import DeviceDriver, Interpretation, Payload
from gateway.tolerance import (
    MAX_FIELD_CHARS,
    Deviation,
    may_be_deep,
    may_hold_nul,
    oversized_fields,
    read_event_time,
    repair_msg_id,
    replace_nul,
    resolve_type,
    validate,
)
from kernel.timeutil import believable
from kernel.topics import DeviceTopic, is_valid_id, parse_device_topic


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
    refused: Rejection | None = None
    """Already refused on the network thread (a quarantined device's garbage kept as a sample dead letter)."""


@dataclass(slots=True)
class Rejection:
    reason: str
    """Stable, machine-readable class: malformed_topic, unknown_kind, oversized, not_json, ..."""
    detail: str
    device_id: str | None = None
    topic: DeviceTopic | None = None
    alarm: bool = False
    """An event of a safety kind that could not be understood: besides the dead letter, someone must hear of it
    (`kernel.observations.UNRECOGNISED_ALARM`)."""
    original_type: str | None = None
    """The `type` the device sent, as far as it could be read (for the unrecognised alarm's text)."""


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What decoding needs to know of the sending device beyond its topic (`Pipeline` looks it up)."""

    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    """The site's (a site's default when none is known): a `ts` without an offset is a local time there."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """The device's and its site's type names for this kind (lower-case → canonical), over the driver's own."""


NO_CONTEXT = DecodeContext()


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
    deviations: list[Deviation] = field(default_factory=list)
    """What was repaired to accept it (`gateway.tolerance`); also in `data["tolerated"]` of a stored event."""

    @property
    def msg_id(self) -> str | None:
        return self.payload.msg_id


@dataclass(slots=True)
class CommandResult:
    """A device's answer to a command (`.../cmd_result`, docs/commands.md): `{"cmd_id", "ok", "detail"}`."""

    topic: DeviceTopic
    cmd_id: str
    ok: bool
    detail: Any = None
    """What the device said it did, or why it could not (any JSON value, bounded like a stored event's field)."""


Decoded = DeviceMessage | StatusMessage | CommandResult | Rejection

MAX_CMD_RESULT_BYTES = MAX_FIELD_CHARS
"""A command result is a short answer: beyond this it is refused (`too_large`) before it is parsed."""

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
    return Rejection("invalid_status", f"status must be 'online' or 'offline', got {text[:64]!r}", topic.device,
                     topic)


def decode_cmd_result(topic: DeviceTopic, payload: bytes) -> CommandResult | Rejection:
    """`{"cmd_id": "<id>", "ok": true|false, "detail": <any JSON, optional>}`; anything else is refused with a
    stable reason (`not_json`, `not_object`, `too_large`, `invalid_cmd_result`). Whether the command exists and
    was sent to this device is the pipeline's question (`gateway.commands.apply_result`)."""
    if len(payload) > MAX_CMD_RESULT_BYTES:
        return Rejection("too_large", f"a cmd_result is {len(payload)} bytes, limit {MAX_CMD_RESULT_BYTES}",
                         topic.device, topic)
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Rejection("not_json", f"payload is not UTF-8 JSON: {exc}", topic.device, topic)
    if not isinstance(data, dict):
        return Rejection("not_object", f"payload must be a JSON object, got {type(data).__name__}", topic.device,
                         topic)
    cmd_id, ok = data.get("cmd_id"), data.get("ok")
    if not isinstance(cmd_id, str) or not is_valid_id(cmd_id):
        return Rejection("invalid_cmd_result", "cmd_id: required, the id of the command answered "
                         "([A-Za-z0-9_-]{1,64})", topic.device, topic)
    if not isinstance(ok, bool):
        return Rejection("invalid_cmd_result", f"ok: required, true or false (got {str(ok)[:32]!r})", topic.device,
                         topic)
    body = {"detail": data.get("detail")}
    too_big = oversized_fields(body) if may_be_deep(payload) else {}
    if too_big:
        return Rejection("too_large", f"detail: {too_big['detail']}", topic.device, topic)
    if may_hold_nul(payload):
        replace_nul(body)
    return CommandResult(topic, cmd_id, ok, body["detail"])


def decode(raw: RawMessage, max_payload_bytes: int, drivers: Mapping[str, DeviceDriver] = DRIVERS,
           context: Callable[[DeviceTopic], DecodeContext] | None = None) -> Decoded:
    """Validate topic, size, JSON, kind and schema. Registry checks come later, in the pipeline.

    `drivers`: the kind -> driver table (the installed drivers; `testkit.drivers` passes one driver).
    `context`: the sending device's time zone and type aliases, asked only for a device's event or telemetry.
    Unmistakable deviations from the contract are repaired and listed (`gateway.tolerance`)."""
    topic = parse_device_topic(raw.topic)
    if topic is None:
        return Rejection("malformed_topic",
                         "topic is not anju/v1/{site}/{kind}/{device}/{event|telemetry|status|cmd_result}")
    if len(raw.payload) > max_payload_bytes:
        return Rejection("oversized", f"payload is {len(raw.payload)} bytes, limit {max_payload_bytes}", topic.device,
                         topic)
    driver = drivers.get(topic.kind)
    if driver is None:
        return Rejection("unknown_kind", f"no driver for kind {topic.kind!r}", topic.device, topic)
    if driver.canonical != topic.kind:  # a vendor driver: the device is a device of the canonical kind
        topic = replace(topic, kind=driver.canonical)
    if topic.channel == "status":
        return decode_status(topic, raw.payload, raw.retain)
    if topic.channel == "cmd_result":  # the contract's own answer, not a vendor's: never `normalize`d
        return decode_cmd_result(topic, raw.payload)
    try:
        data = orjson.loads(raw.payload)
    except orjson.JSONDecodeError as exc:
        return Rejection("not_json", f"payload is not UTF-8 JSON: {exc}", topic.device, topic)
    if not isinstance(data, dict):
        return Rejection("not_object", f"payload must be a JSON object, got {type(data).__name__}", topic.device,
                         topic)
    try:
        data = driver.normalize(topic.channel, data)
    except ValueError as exc:
        return Rejection("invalid_payload", f"{driver.kind}: {exc}", topic.device, topic)
    except Exception as exc:  # noqa: BLE001 - a third-party driver bug costs its message, never the gateway
        return Rejection("driver_error", f"{driver.kind} driver failed in normalize: {type(exc).__name__}: {exc}",
                         topic.device, topic)
    if not isinstance(data, dict):
        return Rejection("driver_error", f"{driver.kind} driver's normalize returned {type(data).__name__}",
                         topic.device, topic)
    return _decode_object(raw, topic, driver, data, context(topic) if context is not None else NO_CONTEXT)


def _decode_object(raw: RawMessage, topic: DeviceTopic, driver: DeviceDriver, data: dict[str, Any],
                   context: DecodeContext) -> DeviceMessage | Rejection:
    """The JSON object's type, fields and time, with the tolerated repairs; a rejection names what is wrong."""
    is_event = topic.channel == "event"
    sent_type = data.get("type")
    shown_type = sent_type if isinstance(sent_type, str) else None

    def refuse(reason: str, detail: str, alarm: bool) -> Rejection:
        return Rejection(reason, detail, topic.device, topic, alarm and is_event and driver.safety,
                         shown_type[:64] if shown_type else None)

    table = driver.events if is_event else driver.telemetry
    aliases = {**driver.aliases, **context.aliases} if context.aliases else driver.aliases
    msg_type, type_deviation = resolve_type(sent_type, table, aliases)
    if msg_type is None:
        if not isinstance(sent_type, str):
            return refuse("invalid_payload", "type: field required (a string)", True)
        return refuse("unknown_type", f"{driver.kind} has no {topic.channel} type {sent_type[:64]!r} "
                      f"(known: {sorted(table)})", True)
    deviations = [type_deviation] if type_deviation is not None else []
    data["type"] = msg_type
    lenient = is_event and driver.safety
    too_big = oversized_fields(data) if may_be_deep(raw.payload) or len(raw.payload) > MAX_FIELD_CHARS else {}
    if too_big:
        if not lenient or "type" in too_big:
            field_name, why = next(iter(too_big.items()))
            return refuse("too_large", f"{field_name}: {why}", msg_type in driver.alarm_types)
        deviations.extend(Deviation(name, "field_too_large", why) for name, why in too_big.items())
        for name in too_big:
            del data[name]
    if may_hold_nul(raw.payload):
        deviations.extend(replace_nul(data))
    msg_id_deviation = repair_msg_id(data)
    if msg_id_deviation is not None:
        deviations.append(msg_id_deviation)
    sent_ts = data.get("ts")
    ts, ts_deviation = read_event_time(sent_ts, raw.received_at, context.timezone)
    if ts_deviation is not None:
        deviations.append(ts_deviation)
    if sent_ts is not None and (isinstance(sent_ts, bool) or not isinstance(sent_ts, int | float | str)):
        del data["ts"]  # kept in the deviation; the schema takes only numbers and text
    schema = driver.schema_for(topic.channel, msg_type)
    assert schema is not None  # resolve_type returned a key of the table
    try:
        payload, repaired = validate(schema, data, drop_optional=lenient)
    except ValidationError as exc:
        return refuse("invalid_payload", _format_validation_error(exc), msg_type in driver.alarm_types)
    deviations.extend(repaired)
    try:
        meaning = driver.interpret(topic.channel, payload)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - as above: a driver bug costs its message only
        return refuse("driver_error", f"{driver.kind} driver failed in interpret: {type(exc).__name__}: {exc}",
                      msg_type in driver.alarm_types)
    ts, ahead = believable(ts, raw.received_at)
    if ahead:
        data = {**data, "clock_ahead_s": round(ahead, 1)}  # `ts` stays as the device sent it
    if deviations:
        data = {**data, "tolerated": [d.as_dict() for d in deviations]}
    return DeviceMessage(topic, driver, payload, data, ts, meaning, deviations)  # type: ignore[arg-type]
