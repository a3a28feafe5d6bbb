"""Liberal in what is accepted, strict in what is reported (SPEC §2): each tolerated deviation, in process.

The same variations go through the real broker and both databases in `test_tolerance_e2e.py`; here each is
checked for exactly what it becomes and which deviation it leaves for the integrator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import Field

from devices import DRIVERS
from devices.base import DeviceDriver, Payload
from gateway.decode import DecodeContext, DeviceMessage, RawMessage, Rejection, decode
from gateway.quarantine import RejectionBudget
from gateway.tolerance import MAX_DEPTH, read_event_time

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
LIMIT = 256 * 1024
PRESS = "anju/v1/s/elder_button/b/event"
FENCE = "anju/v1/s/fence/f/event"


def run(topic: str, payload: dict | bytes, context: DecodeContext | None = None) -> DeviceMessage | Rejection:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    result = decode(RawMessage(topic, body, 1, False, 1, NOW), LIMIT,
                    context=(lambda _topic: context) if context is not None else None)
    assert not isinstance(result, type(None))
    return result  # type: ignore[return-value]


def accepted(topic: str, payload: dict | bytes, context: DecodeContext | None = None) -> DeviceMessage:
    result = run(topic, payload, context)
    assert isinstance(result, DeviceMessage), result
    return result


def reasons(msg: DeviceMessage) -> set[str]:
    assert msg.data.get("tolerated") == [d.as_dict() for d in msg.deviations]
    return {d.reason for d in msg.deviations}


def test_the_canonical_press_has_no_deviation() -> None:
    msg = accepted(PRESS, {"type": "press", "msg_id": "m1", "ts": int(NOW.timestamp() * 1000)})
    assert msg.ts == NOW and msg.deviations == [] and "tolerated" not in msg.data


@pytest.mark.parametrize(("ts", "reason"), [
    (int(NOW.timestamp()), "ts_seconds"),
    (NOW.timestamp(), "ts_seconds"),
    (int(NOW.timestamp() * 1_000_000), "ts_microseconds"),
    (int(NOW.timestamp() * 1_000_000_000), "ts_nanoseconds"),
    (str(int(NOW.timestamp())), "ts_numeric_string"),
    (str(int(NOW.timestamp() * 1000)), "ts_numeric_string"),
])
def test_epoch_times_in_any_unit_by_magnitude(ts: int | float | str, reason: str) -> None:
    msg = accepted(PRESS, {"type": "press", "ts": ts})
    assert abs((msg.ts - NOW).total_seconds()) < 0.001
    assert reasons(msg) == {reason}


@pytest.mark.parametrize("text", ["2026-12-06 16:00:00", "2026-12-06T16:00:00", "2026/12/06 16:00:00",
                                  "2026-12-06T16:00:00.000"])
def test_local_date_times_are_read_in_the_sites_time_zone(text: str) -> None:
    msg = accepted(PRESS, {"type": "press", "ts": text}, DecodeContext(SHANGHAI, {}))
    assert msg.ts == NOW and reasons(msg) == {"ts_local_time"}
    utc_site = accepted(PRESS, {"type": "press", "ts": "2026-12-06 07:00:00"}, DecodeContext(UTC, {}))
    assert utc_site.ts == NOW - timedelta(hours=1)


def test_rfc3339_with_an_offset_is_canonical() -> None:
    msg = accepted(PRESS, {"type": "press", "ts": "2026-12-06T16:00:00+08:00"})
    assert msg.ts == NOW and msg.deviations == []


@pytest.mark.parametrize("ts", ["yesterday", 12, -5, 0, True, {"a": 1}, [1], "2026-13-45 99:00", 1e30])
def test_an_unusable_time_falls_back_to_arrival_with_the_reason_kept(ts: object) -> None:
    msg = accepted(PRESS, {"type": "press", "ts": ts})
    assert msg.ts == NOW and reasons(msg) == {"ts_unusable"}
    assert msg.data["tolerated"][0]["sent"] == repr(ts)


@pytest.mark.parametrize(("msg_id", "stored", "reason"), [
    (42, "42", "msg_id_number"), (7.0, "7", "msg_id_number"), ({"x": 1}, None, "msg_id_unusable"),
    ("", None, "msg_id_unusable"), ("x" * 200, None, "msg_id_unusable"),
])
def test_message_ids_that_are_numbers_are_taken_as_text(msg_id: object, stored: str | None, reason: str) -> None:
    msg = accepted(PRESS, {"type": "press", "msg_id": msg_id})
    assert msg.msg_id == stored and reasons(msg) == {reason}


@pytest.mark.parametrize(("sent", "reason"), [
    ("PRESS", "type_case"), ("Press", "type_case"), (" press ", "type_case"),
    ("sos", "type_alias"), ("SOS", "type_alias"), ("emergency", "type_alias"), ("alarm", "type_alias"),
])
def test_type_names_ignore_case_and_the_drivers_aliases_apply(sent: str, reason: str) -> None:
    msg = accepted(PRESS, {"type": sent})
    assert msg.payload.type == "press" and msg.data["type"] == "press" and reasons(msg) == {reason}


def test_site_and_device_aliases_apply_over_the_drivers() -> None:
    site = DecodeContext(SHANGHAI, {"一键呼救": "press", "k9": "cancel"})
    assert accepted(PRESS, {"type": "一键呼救"}, site).payload.type == "press"
    assert accepted(PRESS, {"type": "K9"}, site).payload.type == "cancel"
    unknown = run(PRESS, {"type": "k9"})
    assert isinstance(unknown, Rejection) and unknown.reason == "unknown_type"


def test_an_alias_cannot_redefine_a_canonical_type() -> None:
    driver = DRIVERS["elder_button"]
    with pytest.raises(ValueError, match="cannot be made to mean"):
        driver.check_aliases({"PRESS": "cancel"})
    with pytest.raises(ValueError, match="not a elder_button type"):
        driver.check_aliases({"sos": "explode"})
    assert driver.check_aliases({"SOS-Key": "press"}) == {"sos-key": "press"}


def test_zones_and_ids_sent_as_numbers_are_their_decimal_text() -> None:
    msg = accepted(FENCE, {"type": "alarm", "zone": 3, "cause": "intrusion"})
    assert msg.payload.zone == "3" and msg.data["zone"] == "3"  # type: ignore[attr-defined]
    assert reasons(msg) == {"number_as_text"}


def test_fixed_values_in_another_case_are_taken() -> None:
    msg = accepted(FENCE, {"type": "ALARM", "zone": "Z1", "cause": "INTRUSION"})
    assert msg.payload.cause == "intrusion" and reasons(msg) == {"type_case", "value_case"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("topic", "payload", "field", "value"), [
    ("anju/v1/s/elder_button/b/telemetry", {"type": "heartbeat", "battery": "80"}, "battery", 80),
    ("anju/v1/s/elder_button/b/telemetry", {"type": "heartbeat", "battery": "55.5"}, "battery", 55.5),
    ("anju/v1/s/access_gate/g/event", {"type": "held_open", "seconds": "30"}, "seconds", 30),
])
def test_numbers_sent_as_numeric_text_are_numbers(topic: str, payload: dict, field: str, value: float) -> None:
    msg = accepted(topic, payload)
    assert getattr(msg.payload, field) == value and msg.data[field] == value
    assert reasons(msg) == {"text_as_number"}


def test_per_zone_readings_as_text_are_numbers() -> None:
    msg = accepted("anju/v1/s/fence/f/telemetry", {"type": "heartbeat", "voltage_kv": {"1": "8.5", "2": 9}})
    assert [(r.zone, r.value) for r in msg.meaning.readings] == [("1", 8.5), ("2", 9.0)]


@pytest.mark.parametrize("payload", [
    {"type": "heartbeat", "battery": "full"}, {"type": "heartbeat", "battery": True},
    {"type": "heartbeat", "battery": 250},
])
def test_what_is_not_unmistakable_is_still_refused(payload: dict) -> None:
    result = run("anju/v1/s/elder_button/b/telemetry", payload)
    assert isinstance(result, Rejection) and result.reason == "invalid_payload" and not result.alarm


class _Siren(DeviceDriver):
    """A safety kind with an optional secondary field, as a plugin might define one."""

    class Alarm(Payload):
        type: Literal["alarm"]
        volume: int | None = Field(default=None, ge=0, le=10)

    kind = "siren"
    title = "test siren"
    heartbeat_interval = timedelta(minutes=1)
    offline_timeout = timedelta(minutes=3)
    safety = True
    alarm_types = frozenset({"alarm"})
    events: ClassVar = {"alarm": Alarm}


def test_a_safety_event_keeps_its_alarm_without_an_invalid_secondary_field() -> None:
    body = orjson.dumps({"type": "alarm", "volume": "very loud"})
    msg = decode(RawMessage("anju/v1/s/siren/x/event", body, 1, False, 1, NOW), LIMIT, {"siren": _Siren()})
    assert isinstance(msg, DeviceMessage) and msg.payload.type == "alarm" and "volume" not in msg.data
    assert reasons(msg) == {"invalid_field_dropped"}


def test_a_deep_secondary_field_costs_the_field_not_the_alarm() -> None:
    deep = b"[" * 300 + b"]" * 300  # 640 bytes, as in issue 15's finding
    msg = accepted(PRESS, b'{"type": "press", "extra": ' + deep + b"}")
    assert "extra" not in msg.data and reasons(msg) == {"field_too_large"}
    telemetry = run("anju/v1/s/elder_button/b/telemetry", b'{"type": "heartbeat", "extra": ' + deep + b"}")
    assert isinstance(telemetry, Rejection) and telemetry.reason == "too_large"
    shallow: object = 1
    for _ in range(MAX_DEPTH - 1):
        shallow = [shallow]
    assert accepted("anju/v1/s/elder_button/b/telemetry", {"type": "heartbeat", "extra": shallow}).deviations == []


@pytest.mark.parametrize(("topic", "payload", "alarm"), [
    (PRESS, {"type": "explode"}, True),
    (PRESS, {"msg_id": "no-type"}, True),
    (FENCE, {"type": "alarm", "zone": "Z1", "cause": "gremlins"}, True),
    (FENCE, {"type": "alarm", "cause": "cut"}, True),
    ("anju/v1/s/access_gate/g/event", {"type": "pass", "direction": "in"}, False),
    ("anju/v1/s/plate_camera/c/event", {"type": "explode"}, False),
    ("anju/v1/s/elder_button/b/telemetry", {"type": "explode"}, False),
])
def test_unrecognised_events_of_safety_kinds_are_flagged_as_alarms(topic: str, payload: dict, alarm: bool) -> None:
    result = run(topic, payload)
    assert isinstance(result, Rejection) and result.alarm is alarm
    if alarm and "type" in payload:
        assert result.original_type == payload["type"]


def test_read_event_time_never_raises_on_odd_input() -> None:
    for odd in (float("nan"), float("inf"), -1e300, "", " ", "Z", "2026-02-30T00:00:00Z", 10**40):
        at, deviation = read_event_time(odd, NOW)
        assert at == NOW and deviation is not None and deviation.reason == "ts_unusable"


def test_the_rejection_budget_quarantines_once_and_samples() -> None:
    budget = RejectionBudget(per_minute=5, quarantine_seconds=100, sample_every=10)
    verdicts = [budget.record("d1", "not_json", now=float(i) / 100) for i in range(100)]
    assert all(v.store and not v.quarantined for v in verdicts[:5])
    assert [i for i, v in enumerate(verdicts) if v.alert] == [5]
    assert sum(v.store for v in verdicts[5:]) == 9  # one in ten while quarantined
    assert budget.record("d2", "not_json", now=1.0).store  # another device is untouched
    assert budget.any_quarantined(now=50) and not budget.any_quarantined(now=200)
    assert budget.quarantined(now=50) == ["d1"] and budget.quarantined(now=200) == []
    assert budget.reasons("d1") == {"not_json": 100}


def test_nul_characters_are_replaced_where_a_database_could_not_store_them() -> None:
    msg = accepted(PRESS, b'{"type": "press", "a\\u0000b": {"x": "y\\u0000"}, "msg_id": "m\\u0000"}')
    assert msg.data["a\ufffdb"] == {"x": "y\ufffd"} and msg.msg_id == "m\ufffd"
    assert reasons(msg) == {"nul_character"} and "\x00" not in orjson.dumps(msg.data).decode()


def test_a_site_file_cannot_redefine_a_canonical_type() -> None:
    from gateway.registry import check_site_aliases
    from kernel.siteconfig import SiteConfig

    site = SiteConfig(id="s", name="s", type_aliases={"elder_button": {"press": "cancel"}})
    with pytest.raises(ValueError, match=r"site s: type_aliases\.elder_button: 'press' is a elder_button type"):
        check_site_aliases(site)
    with pytest.raises(ValueError, match=r"site s: type_aliases\.toaster: unknown kind 'toaster'"):
        check_site_aliases(SiteConfig(id="s", name="s", type_aliases={"toaster": {"x": "y"}}))
    check_site_aliases(SiteConfig(id="s", name="s", type_aliases={"elder_button": {"一键呼救": "press"}}))
