"""Decoding and validation, without a broker: every rejection has a stable reason and an explanation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import DRIVERS
from gateway.decode import DeviceMessage, RawMessage, Rejection, StatusMessage, decode
from kernel.topics import parse_device_topic, subscription_filters

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LIMIT = 256 * 1024


def raw(topic: str, payload: bytes | dict, retain: bool = False) -> RawMessage:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return RawMessage(topic, data, 1, retain, 1, NOW)


@pytest.mark.parametrize("topic", [
    "anju/v1/site/elder_button/dev/event",
    "anju/v1/S_1-x/fence/F-01/telemetry",
    "anju/v1/s/access_gate/g/status",
])
def test_valid_topics_parse(topic: str) -> None:
    assert parse_device_topic(topic) is not None


@pytest.mark.parametrize("topic", [
    "anju/v1/site/elder_button/dev",
    "anju/v1/site/elder_button/dev/cmd",
    "anju/v2/site/elder_button/dev/event",
    "anju/v1/si te/elder_button/dev/event",
    "anju/v1/site/elder_button/dév/event",
    "anju/v1/" + "s" * 65 + "/elder_button/dev/event",
    "anju/v1/site/elder_button/dev/event/extra",
    "",
])
def test_malformed_topics_are_rejected(topic: str) -> None:
    assert parse_device_topic(topic) is None
    result = decode(raw(topic, {"type": "press"}), LIMIT)
    assert isinstance(result, Rejection) and result.reason == "malformed_topic"


def test_shared_subscription_filters() -> None:
    assert subscription_filters() == ["anju/v1/+/+/+/event", "anju/v1/+/+/+/telemetry", "anju/v1/+/+/+/status",
                                      "anju/v1/+/+/+/cmd_result"]
    assert subscription_filters("anju")[0] == "$share/anju/anju/v1/+/+/+/event"


VALID = {
    "elder_button": [("event", {"type": "press"}), ("event", {"type": "cancel"}),
                     ("telemetry", {"type": "heartbeat", "battery": 55})],
    "access_gate": [("event", {"type": "pass", "direction": "in", "method": "face", "credential": "p-1",
                               "result": "denied"}),
                    ("event", {"type": "forced_open"}), ("event", {"type": "held_open", "seconds": 75}),
                    ("event", {"type": "tamper"}), ("telemetry", {"type": "heartbeat"})],
    "plate_camera": [("event", {"type": "plate", "plate": "辽E12345", "color": "blue", "confidence": 0.93,
                                "direction": "in"}),
                     ("event", {"type": "plate", "snapshot_url": "http://cam/1.jpg"})],
    "face_camera": [("event", {"type": "face", "person_id": "p-7", "similarity": 0.88}),
                    ("event", {"type": "face", "snapshot": "aGVsbG8="})],
    "fence": [("event", {"type": "alarm", "zone": "Z1", "cause": "cut"}), ("event", {"type": "restore", "zone": "Z1"}),
              ("telemetry", {"type": "heartbeat", "voltage_kv": {"Z1": 8.5, "Z2": 8.1}})],
}


@pytest.mark.parametrize(("kind", "channel", "payload"),
                         [(k, c, p) for k, cases in VALID.items() for c, p in cases])
def test_spec_payloads_are_accepted(kind: str, channel: str, payload: dict) -> None:
    payload = {"msg_id": "m1", "ts": "2026-11-22T16:00:00+08:00", **payload, "vendor_extra": [1, 2]}
    result = decode(raw(f"anju/v1/s/{kind}/d/{channel}", payload), LIMIT)
    assert isinstance(result, DeviceMessage), result
    assert result.ts == NOW
    assert result.data["vendor_extra"] == [1, 2]


def test_every_driver_declares_its_contract() -> None:
    for kind, driver in DRIVERS.items():
        assert driver.kind == kind
        assert driver.offline_timeout > driver.heartbeat_interval
        assert "heartbeat" in driver.telemetry
        described = driver.describe()
        assert described["events"], f"{kind} has no events"


@pytest.mark.parametrize(("payload", "reason", "fragment"), [
    (b"nope", "not_json", "JSON"),
    (b'"just a string"', "not_object", "object"),
    (b'{"battery": 3}', "invalid_payload", "type"),
    (b'{"type": "heartbeat", "battery": "full"}', "invalid_payload", "battery"),
    (b'{"type": "heartbeat", "battery": -1}', "invalid_payload", "battery"),
    (b'{"type": "heartbeat", "battery": true}', "invalid_payload", "battery"),
    (b'{"type": "reboot"}', "unknown_type", "reboot"),
])
def test_bad_payloads_are_rejected_with_reason(payload: bytes, reason: str, fragment: str) -> None:
    result = decode(raw("anju/v1/s/elder_button/d/telemetry", payload), LIMIT)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert fragment in result.detail


def test_oversized_payload_is_rejected_before_parsing() -> None:
    result = decode(raw("anju/v1/s/elder_button/d/event", b"x" * (LIMIT + 1)), LIMIT)
    assert isinstance(result, Rejection) and result.reason == "oversized"


@pytest.mark.parametrize(("payload", "online"), [
    (b"online", True), (b"offline", False), (b"OFFLINE\n", False), (b'"online"', True),
    (b'{"status": "offline"}', False),
])
def test_status_words(payload: bytes, online: bool) -> None:
    result = decode(raw("anju/v1/s/fence/f/status", payload, retain=True), LIMIT)
    assert isinstance(result, StatusMessage) and result.online is online and result.retained


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([*DRIVERS, "unknown"]), channel=st.sampled_from(["event", "telemetry", "status"]),
       body=st.one_of(st.binary(max_size=200),
                      st.dictionaries(st.sampled_from(["type", "msg_id", "ts", "battery", "zone", "cause", "plate",
                                                       "person_id", "similarity", "voltage_kv", "seconds"]),
                                      json_values).map(orjson.dumps)))
def test_decode_never_raises(kind: str, channel: str, body: bytes) -> None:
    """Whatever a device sends, decoding returns a message or a rejection; it never raises."""
    result = decode(raw(f"anju/v1/s/{kind}/d/{channel}", body), LIMIT)
    assert isinstance(result, DeviceMessage | StatusMessage | Rejection)
    if isinstance(result, Rejection):
        assert result.reason and result.detail


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_topic_parser_never_raises(topic: str) -> None:
    parsed = parse_device_topic(topic)
    if parsed is not None:
        assert topic == f"anju/v1/{parsed.site}/{parsed.kind}/{parsed.device}/{parsed.channel}"


@pytest.mark.parametrize(("offset", "believed"), [
    (timedelta(hours=-72), True),  # late: buffered while offline, sent now
    (timedelta(minutes=4), True),  # within the tolerance of an unsynchronised clock
    (timedelta(hours=1), False),  # ahead: the arrival time is used, the device's kept
])
def test_clock_skew_policy(offset: timedelta, believed: bool) -> None:
    device_time = NOW + offset
    result = decode(raw("anju/v1/s/elder_button/b/event",
                        {"type": "press", "ts": device_time.isoformat().replace("+00:00", "Z")}), LIMIT)
    assert isinstance(result, DeviceMessage)
    if believed:
        assert result.ts == device_time and "clock_ahead_s" not in result.data
    else:
        assert result.ts == NOW and result.data["clock_ahead_s"] == 3600.0
        assert result.data["ts"] == "2026-11-22T09:00:00Z"
