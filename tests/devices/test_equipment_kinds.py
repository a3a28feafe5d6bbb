"""The building-equipment kinds (`elevator`, `water`, `heating`): their payloads through the driver test kit,
what the readings are, the lift's safety treatment, the firmware aliases, and their simulated devices."""

from __future__ import annotations

import random
from datetime import date

import pytest

from devices import DRIVERS
from devices.elevator import ElevatorModel
from devices.heating import HeatingModel, in_heating_season
from devices.water import WaterModel
from gateway.decode import Rejection
from rules import catalog
from simulators.kinds import make_model
from simulators.messages import encode_payload
from testkit.drivers import assert_canonical, assert_rejected, canonical, feed

pytestmark = [pytest.mark.devices]
EQUIPMENT = ("elevator", "water", "heating")


@pytest.mark.parametrize("kind", EQUIPMENT)
def test_the_samples_decode_through_the_driver_kit(kind: str) -> None:
    driver = DRIVERS[kind]
    samples = driver.samples()
    assert samples["event"] and samples["telemetry"]
    for channel, payloads in samples.items():
        for payload in payloads:
            assert assert_canonical(driver, channel, payload, type=payload["type"]).store_event == (channel == "event")


def test_lift_status_readings() -> None:
    lift = DRIVERS["elevator"]
    status = {"msg_id": "s1", "type": "status", "floor": 7, "door": "closed", "running": False, "in_service": False}
    assert_canonical(lift, "telemetry", status, readings={"in_service": 0.0, "running": 0.0, "floor": 7.0})
    moving = {"type": "status", "running": True, "in_service": True}  # floor and door are optional
    assert_canonical(lift, "telemetry", moving, readings={"in_service": 1.0, "running": 1.0})
    assert_rejected(lift, "telemetry", {"type": "status", "floor": 3, "door": "ajar", "running": True,
                                        "in_service": True}, "invalid_payload")


def test_water_and_heating_readings() -> None:
    assert_canonical(DRIVERS["water"], "telemetry", {"type": "reading", "pressure_mpa": 0.31, "level_pct": 78},
                     readings={"pressure_mpa": 0.31, "level_pct": 78.0})
    assert_canonical(DRIVERS["water"], "telemetry", {"type": "reading", "pressure_mpa": 0},
                     readings={"pressure_mpa": 0.0})
    assert_canonical(DRIVERS["heating"], "telemetry",
                     {"type": "reading", "supply_c": 61.5, "return_c": 44, "pressure_mpa": 0.41},
                     readings={"supply_c": 61.5, "return_c": 44.0, "pressure_mpa": 0.41, "spread_c": 17.5})
    assert_rejected(DRIVERS["water"], "event", {"type": "leak"}, "invalid_payload")  # where is it?


def test_rules_may_name_the_derived_readings() -> None:
    assert set(catalog.metrics_of("elevator")) == {"in_service", "running", "floor"}
    assert set(catalog.metrics_of("water")) == {"pressure_mpa", "level_pct"}
    assert set(catalog.metrics_of("heating")) == {"supply_c", "return_c", "pressure_mpa", "spread_c"}


def test_the_lift_is_a_safety_kind_and_never_drops_a_trapped_alarm() -> None:
    lift = DRIVERS["elevator"]
    assert lift.safety and not DRIVERS["water"].safety and not DRIVERS["heating"].safety
    msg = canonical(lift, "event", {"msg_id": "t1", "type": "trapped", "floor": "7F"})  # a bad secondary field
    assert msg.payload.type == "trapped" and msg.meaning.store_event
    unknown = feed(lift, "event", {"msg_id": "t2", "type": "car_alarm_v2"})
    assert isinstance(unknown, Rejection) and unknown.alarm  # dead-lettered, and an unrecognised alarm
    assert_canonical(lift, "event", {"type": "fault", "code": "E31"}, fields={"code": "E31"})  # any code, as text


@pytest.mark.parametrize(("kind", "sent", "canonical_type"), [
    ("elevator", "困人", "trapped"), ("elevator", "ENTRAPMENT", "trapped"), ("elevator", "故障恢复", "restore"),
    ("water", "停水", "supply_interrupted"), ("water", "恢复供水", "supply_restored"), ("heating", "泄漏", "leak"),
])
def test_firmware_names_are_aliases(kind: str, sent: str, canonical_type: str) -> None:
    payload = {"type": sent, "location": "泵房", "code": "E1"}
    assert canonical(DRIVERS[kind], "event", payload).payload.type == canonical_type


# --- the simulated devices --------------------------------------------------------------------------------


def decodes(kind: str, model: object, message: object) -> None:
    from devices.simulation import KindModel, Message

    assert isinstance(model, KindModel) and isinstance(message, Message)
    payload = encode_payload(model.encode(message, "sim-1", 1764230400000))
    assert canonical(DRIVERS[kind], message.channel, payload).payload.type == message.type


def test_the_lift_model_keeps_its_status_with_its_events() -> None:
    lift = make_model("elevator", random.Random(3), {"floors": 6})
    assert isinstance(lift, ElevatorModel) and (lift.lowest, lift.highest) == (1, 6)
    day = [lift.heartbeat(8 * 3600 + 30 * n) for n in range(60)]
    assert all(m.type == "status" and m.fields["in_service"] for m in day)
    assert any(m.fields["running"] for m in day) and {m.fields["floor"] for m in day} <= set(range(1, 7))
    for message in (lift.fault("stopped_between_floors"), lift.trapped(), lift.heartbeat(9 * 3600)):
        decodes("elevator", lift, message)
    assert not lift.heartbeat(9 * 3600).fields["in_service"]
    restore = lift.restore()
    assert restore.fields == {"code": "stopped_between_floors"} and lift.heartbeat(10 * 3600).fields["in_service"]
    lift.fault("door_open_while_running")  # a dangerous fault, but the car keeps running until someone stops it
    assert lift.in_service


def test_the_pump_room_model_dips_at_peaks_and_drops_when_cut() -> None:
    pump = make_model("water", random.Random(3), {"pressure_mpa": 0.30})
    assert isinstance(pump, WaterModel)
    day = [pump.heartbeat(60.0 * n).fields for n in range(24 * 60)]
    pressures = [f["pressure_mpa"] for f in day]
    assert 0.2 <= min(pressures) < 0.24 and 0.29 <= max(pressures) <= 0.32, "dips at the peaks, never near 0.15"
    assert all(30 <= f["level_pct"] <= 95 for f in day)
    decodes("water", pump, pump.interrupt("main_burst"))
    assert pump.heartbeat(0).fields["pressure_mpa"] <= 0.02
    decodes("water", pump, pump.restore())
    assert pump.heartbeat(3 * 3600).fields["pressure_mpa"] > 0.2
    pump.hold_level(17.0)
    assert pump.heartbeat(12 * 3600).fields["level_pct"] == 17.0
    assert "level_pct" not in make_model("water", None, {"tank": False}).heartbeat().fields


def test_the_substation_model_follows_the_season() -> None:
    assert in_heating_season(date(2026, 11, 1)) and in_heating_season(date(2027, 3, 31))
    assert not in_heating_season(date(2026, 4, 1)) and not in_heating_season(date(2026, 10, 31))
    station = make_model("heating", random.Random(3), {"heating_on": True})
    assert isinstance(station, HeatingModel)
    day = [station.heartbeat(120.0 * n).fields for n in range(720)]
    assert all(55 <= f["supply_c"] <= 65 and 39 <= f["return_c"] <= 45 for f in day)
    assert all(13 <= f["supply_c"] - f["return_c"] <= 23 for f in day)
    station.cool_to(38.0)
    cold = station.heartbeat(0).fields
    assert cold["supply_c"] < 40 and 5 < cold["supply_c"] - cold["return_c"] < 10
    station.recover()
    decodes("heating", station, station.heartbeat(0))
    decodes("heating", station, station.leak("20号楼地下室"))
    decodes("heating", station, station.fault("circulation_pump"))
    off = make_model("heating", random.Random(3), {"heating_on": False}).heartbeat(0).fields
    assert off["supply_c"] < 25 and off["pressure_mpa"] > 0.35  # cold, but kept filled
