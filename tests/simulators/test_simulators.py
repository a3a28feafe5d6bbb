"""The simulators: SPEC-conformant payloads per kind, the sample community, seeded
repeatability, fault classes, and real runs against Mosquitto.

The SPEC checks here are written from SPEC.md, not from the simulators' code,
and every payload is also run through the gateway's own decoder, so the two
halves of the product cannot drift apart unnoticed.
"""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.decode import DeviceMessage, RawMessage, Rejection, decode
from kernel.siteconfig import ID_PATTERN, load_site_config, sample_community_path
from kernel.topics import device_topic, parse_device_topic
from simulators import (
    FAULT_CLASSES,
    SCENARIO_NAMES,
    AccessGateModel,
    BrokerUnavailable,
    ElderButtonModel,
    FaceCameraModel,
    FenceModel,
    Message,
    MsgIdFactory,
    PlateCameraModel,
    SimulatedDevice,
    build_payload,
    encode_payload,
    faults,
    parse_broker_url,
    plan_scenario,
    run_simulation,
    synthetic_devices,
)
from simulators.connection import MqttConnection
from simulators.kinds import ElevatorModel, HeatingModel, WaterModel
from simulators.layout import Layout
from simulators.messages import epoch_ms
from simulators.plates import random_plate
from simulators.runner import load_site
from tests.helpers import Subscriber, clear_retained, wait_for
from tools.bench.mosquitto import free_port

MAX_PAYLOAD = 256 * 1024
KINDS = ("elder_button", "access_gate", "plate_camera", "face_camera", "fence", "elevator", "water", "heating")
PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
PLATE = re.compile(rf"^[{PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{5}}|[DF][A-HJ-NP-Z0-9]\d{{4}})$")
TOPIC = re.compile(r"^anju/v1/[A-Za-z0-9_-]{1,64}/(\w+)/[A-Za-z0-9_-]{1,64}/(event|telemetry|status)$")
PHONE = re.compile(r"^1[3-9]\d-0000-\d{4}$")
HAN = re.compile(r"[\u4e00-\u9fff]")
TYPES = {
    ("elder_button", "event"): {"press", "cancel"},
    ("elder_button", "telemetry"): {"heartbeat"},
    ("access_gate", "event"): {"pass", "forced_open", "held_open", "tamper"},
    ("access_gate", "telemetry"): {"heartbeat"},
    ("plate_camera", "event"): {"plate"},
    ("plate_camera", "telemetry"): {"heartbeat"},
    ("face_camera", "event"): {"face"},
    ("face_camera", "telemetry"): {"heartbeat"},
    ("fence", "event"): {"alarm", "restore"},
    ("fence", "telemetry"): {"heartbeat"},
    ("elevator", "event"): {"trapped", "fault", "restore"},
    ("elevator", "telemetry"): {"status"},
    ("water", "event"): {"supply_interrupted", "supply_restored", "leak"},
    ("water", "telemetry"): {"reading"},
    ("heating", "event"): {"leak", "fault"},
    ("heating", "telemetry"): {"reading"},
}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_spec(kind: str, channel: str, data: dict[str, Any], raw: bytes | None = None) -> None:
    """Assert one payload meets SPEC §2 for its kind (minimum fields and their types)."""
    if raw is not None:
        assert len(raw) <= MAX_PAYLOAD
    assert isinstance(data["msg_id"], str) and data["msg_id"]
    assert isinstance(data["ts"], int) and data["ts"] > 1_600_000_000_000
    t = data["type"]
    assert t in TYPES[(kind, channel)], (kind, channel, t)
    if kind == "elder_button" and t == "heartbeat":
        assert is_number(data["battery"]) and 0 <= data["battery"] <= 100
    elif kind == "access_gate" and t == "pass":
        assert data["direction"] in ("in", "out")
        assert data["method"] in ("card", "face", "qr", "plate", "pin")
        assert isinstance(data["credential"], str) and data["credential"]
        assert data["result"] in ("granted", "denied")
    elif kind == "access_gate" and t == "held_open":
        assert is_number(data["seconds"]) and data["seconds"] > 0
    elif kind == "plate_camera" and t == "plate":
        assert PLATE.fullmatch(data["plate"]), data["plate"]
        assert is_number(data["confidence"]) and 0 <= data["confidence"] <= 1
        assert data.get("direction") in ("in", "out")
        assert data.get("color", "blue") in ("blue", "green", "yellow", "white", "black")
    elif kind == "face_camera" and t == "face":
        if "person_id" in data:
            assert isinstance(data["person_id"], str) and data["person_id"]
            assert is_number(data["similarity"]) and 0 <= data["similarity"] <= 1
        else:
            assert base64.b64decode(data["snapshot"], validate=True)[:2] == b"\xff\xd8"  # a JPEG
    elif kind == "fence" and t in ("alarm", "restore"):
        assert isinstance(data["zone"], str) and data["zone"]
        if t == "alarm":
            assert data["cause"] in ("intrusion", "cut", "short", "tamper", "power_loss")
    elif kind == "fence" and t == "heartbeat":
        volts = data["voltage_kv"]
        assert isinstance(volts, dict) and volts
        assert all(isinstance(z, str) and is_number(v) and v >= 0 for z, v in volts.items())
    elif kind == "elevator" and t == "status":
        assert isinstance(data["running"], bool) and isinstance(data["in_service"], bool)
        assert isinstance(data["floor"], int) and data["door"] in ("open", "closed")
    elif kind == "elevator" and t == "fault":
        assert isinstance(data["code"], str) and data["code"]
    elif kind in ("water", "heating") and t == "leak":
        assert isinstance(data["location"], str) and data["location"]
    elif kind == "water" and t == "reading":
        assert is_number(data["pressure_mpa"]) and data["pressure_mpa"] >= 0
        assert "level_pct" not in data or 0 <= data["level_pct"] <= 100
    elif kind == "heating" and t == "reading":
        assert all(is_number(data[f]) for f in ("supply_c", "return_c", "pressure_mpa"))


def gateway_decode(topic: str, payload: bytes) -> DeviceMessage | Rejection:
    raw = RawMessage(topic, payload, 1, False, 1, datetime.now(UTC))
    return decode(raw, MAX_PAYLOAD)  # type: ignore[return-value]


def every_kind_messages() -> list[tuple[str, Message]]:
    """At least one message of every type of every kind, from the per-kind models."""
    rng = random.Random(7)
    button, gate = ElderButtonModel(rng), AccessGateModel(rng)
    plates, faces, fence = PlateCameraModel(rng), FaceCameraModel(rng), FenceModel(rng, zones=["N1", "N2"])
    plate, color = random_plate(rng, new_energy=True)
    lift, pump, station = ElevatorModel(rng, floors=6), WaterModel(rng), HeatingModel(rng, heating_on=True)
    return [
        ("elder_button", button.press()),
        ("elder_button", button.cancel()),
        ("elder_button", button.heartbeat(0.0)),
        ("access_gate", gate.passage("in", "face", "R01001")),
        ("access_gate", gate.passage("out", "card", "0A1B2C3D", "denied")),
        ("access_gate", gate.forced_open()),
        ("access_gate", gate.held_open(120)),
        ("access_gate", gate.tamper()),
        ("access_gate", gate.heartbeat()),
        ("plate_camera", plates.plate("辽E12345", "blue", "in")),
        ("plate_camera", plates.plate(plate, color, "out", 0.97)),
        ("plate_camera", plates.heartbeat()),
        ("face_camera", faces.recognised("R01001")),
        ("face_camera", faces.snapshot_only()),
        ("face_camera", faces.heartbeat()),
        *(
            ("fence", fence.alarm("N1", cause))
            for cause in ("intrusion", "cut", "short", "tamper", "power_loss")
        ),
        ("fence", fence.restore("N1")),
        ("fence", fence.heartbeat()),
        ("elevator", lift.heartbeat(8 * 3600.0)),
        ("elevator", lift.fault("stopped_between_floors")),
        ("elevator", lift.trapped()),
        ("elevator", lift.restore()),
        ("water", pump.heartbeat(0.0)),
        ("water", pump.interrupt("main_burst")),
        ("water", pump.restore()),
        ("water", pump.leak("泵房地面")),
        ("heating", station.heartbeat(0.0)),
        ("heating", station.leak("管井")),
        ("heating", station.fault("circulation_pump")),
    ]


# --- payloads -----------------------------------------------------------------------------------


def test_every_kind_builds_spec_payloads_the_gateway_accepts() -> None:
    ids = MsgIdFactory("t")
    for kind, msg in every_kind_messages():
        payload = build_payload(msg, ids.next(), epoch_ms())
        raw = encode_payload(payload)
        check_spec(kind, msg.channel, json.loads(raw), raw)
        topic = device_topic("hexie", kind, "dev-1", msg.channel)
        decoded = gateway_decode(topic, raw)
        assert isinstance(decoded, DeviceMessage), (kind, msg, decoded)


def test_msg_ids_are_unique_strings_and_fields_cannot_hide_common_ones() -> None:
    ids = MsgIdFactory()
    seen = {ids.next() for _ in range(10_000)}
    assert len(seen) == 10_000
    assert MsgIdFactory().prefix != MsgIdFactory().prefix  # a new run never repeats an old run's ids
    with pytest.raises(ValueError):
        Message.event("press", msg_id="mine")


def test_plates_look_chinese_and_green_plates_are_new_energy() -> None:
    rng = random.Random(3)
    colors: Counter[str] = Counter()
    for _ in range(2000):
        plate, color = random_plate(rng)
        assert PLATE.fullmatch(plate), plate
        assert (len(plate) == 8) == (color == "green")
        colors[color] += 1
    assert colors["green"] > 100 and colors["blue"] > 1000


def test_fence_heartbeat_follows_its_alarms_and_battery_drains() -> None:
    fence = FenceModel(random.Random(1), zones=["E1", "E2"], nominal_kv=8.5)
    assert all(v > 7 for v in fence.voltages().values())
    fence.alarm("E1", "cut")
    volts = fence.heartbeat().fields["voltage_kv"]
    assert volts["E1"] < 1 and volts["E2"] > 7
    fence.restore("E1")
    assert fence.voltages()["E1"] > 7
    with pytest.raises(ValueError):
        fence.alarm("X9", "cut")

    button = ElderButtonModel(random.Random(1), battery=60)
    assert button.heartbeat(0).fields["battery"] == 60
    assert button.heartbeat(24 * 3600).fields["battery"] == 60  # slow: a cell lasts about a year
    button.start_fast_drain(per_hour=20, floor=3)
    levels = [button.heartbeat(24 * 3600 + h * 3600).fields["battery"] for h in range(1, 6)]
    assert levels == sorted(levels, reverse=True) and levels[-1] == 3


def test_broker_urls() -> None:
    b = parse_broker_url("mqtts://user:p%40ss@broker.example:8884")
    assert (b.host, b.port, b.username, b.password, b.tls) == ("broker.example", 8884, "user", "p@ss", True)
    assert parse_broker_url("mqtt://127.0.0.1").port == 1883
    assert "p@ss" not in b.describe()
    for bad in ("http://x:1883", "mqtt://", "mqtt://h:99999", "mqtt://h:1883/path"):
        with pytest.raises(ValueError):
            parse_broker_url(bad)


def test_topics_are_checked() -> None:
    assert device_topic("hexie", "fence", "fence-n", "telemetry") == "anju/v1/hexie/fence/fence-n/telemetry"
    assert parse_device_topic("anju/v1/hexie/fence/fence-n/status") is not None
    for args in (
        ("he xie", "fence", "f", "event"),
        ("s", "fence", "一", "event"),
    ):
        with pytest.raises(ValueError):
            device_topic(*args)  # type: ignore[arg-type]


# --- the sample community -----------------------------------------------------------------------


def test_sample_community_has_the_expected_shape() -> None:
    config = load_site_config(sample_community_path())
    assert len(config.sites) == 1
    site = config.sites[0]
    assert (site.id, site.name, site.timezone) == ("hexie", "和谐社区", "Asia/Shanghai")
    assert len(site.grids) == 4 and all(g.patrol_team and HAN.search(g.patrol_team) for g in site.grids)
    grid_ids = {g.id for g in site.grids}
    ids = [d.id for d in site.devices]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(ID_PATTERN, i) for i in ids)
    assert all(d.grid in grid_ids and d.name and HAN.search(d.name) for d in site.devices)
    by_kind = Counter(d.kind for d in site.devices)
    assert set(by_kind) == set(KINDS)

    gates = [d for d in site.devices if d.kind == "access_gate"]
    mains = [g for g in gates if g.attributes.get("role") == "main"]
    courtyard_gates = [g for g in gates if g.attributes.get("role") == "courtyard"]
    assert len(mains) == 2 and len({g.zone for g in courtyard_gates}) == 12
    assert by_kind["plate_camera"] == 2
    gate_ids = {g.id for g in gates}
    cameras = [d for d in site.devices if d.kind == "face_camera"]
    assert {c.location["gate"] for c in cameras} >= {g.id for g in mains}
    assert all(c.location["gate"] in gate_ids for c in cameras) and len(cameras) > len(mains)

    fences = [d for d in site.devices if d.kind == "fence"]
    zones = [z for f in fences for z in f.attributes["zones"]]
    assert len(fences) >= 4 and all(f.attributes["zones"] for f in fences) and len(zones) == len(set(zones))

    buttons = [d for d in site.devices if d.kind == "elder_button"]
    assert 36 <= len(buttons) <= 48
    for b in buttons:
        assert {"building", "unit", "room"} <= b.location.keys()
        assert HAN.search(b.attributes["elder"]["name"])
        family = b.attributes["family"]
        assert family and all(f["name"] and f["relation"] and PHONE.fullmatch(f["phone"]) for f in family)


def test_layout_reads_courtyards_gates_and_cameras_from_the_sample() -> None:
    layout = Layout.from_site(load_site())
    assert len(layout.courtyards) == 12 and len(layout.main_gates) == 2
    assert all(m.face_camera and m.plate_camera for m in layout.main_gates)
    assert sum(1 for c in layout.courtyards if c.face_camera) == 4
    assert not layout.skipped


# --- scenarios, dry -------------------------------------------------------------------------------


def test_same_seed_same_sequence() -> None:
    first = plan_scenario("community", 3 * 3600, seed=5)
    assert first == plan_scenario("community", 3 * 3600, seed=5)
    assert first != plan_scenario("community", 3 * 3600, seed=6)
    assert plan_scenario("faults", 3600, seed=5) == plan_scenario("faults", 3600, seed=5)


def test_a_day_has_the_community_rhythm() -> None:
    site = load_site()
    kind_of = {d.id: d.kind for d in site.devices}
    records = plan_scenario("community", 24 * 3600, seed=2)
    hour: Counter[tuple[int, str]] = Counter()
    per_kind: Counter[tuple[str, str]] = Counter()
    for t, dev, channel, type_, fields in records:
        check_spec(kind_of[dev], channel, {"msg_id": "m", "ts": 1_700_000_000_000, "type": type_, **fields})
        per_kind[kind_of[dev], type_] += 1
        if type_ == "pass":
            hour[int(t // 3600) % 24, fields["direction"]] += 1
    morning_out = sum(hour[h, "out"] for h in (7, 8))
    evening_in = sum(hour[h, "in"] for h in (17, 18, 19))
    assert morning_out > 3 * sum(hour[h, "in"] for h in (7, 8))
    assert evening_in > 1.5 * sum(hour[h, "out"] for h in (17, 18, 19))
    assert sum(hour[h, d] for h in (1, 2, 3, 4) for d in ("in", "out")) < morning_out / 10  # quiet nights
    # Elder buttons heartbeat about every simulated minute, all day long.
    buttons = sum(1 for k in kind_of.values() if k == "elder_button")
    assert abs(per_kind["elder_button", "heartbeat"] / buttons - 24 * 60) < 30  # 24 h played from 06:30
    for event in (("plate_camera", "plate"), ("face_camera", "face"), ("elder_button", "press")):
        assert per_kind[event] > 0, event


def test_named_scenarios_do_what_they_say() -> None:
    assert set(SCENARIO_NAMES) >= {"community", "load", "faults", "sos", "offline"}
    sos = Counter(r[3] for r in plan_scenario("sos", 600, seed=1) if r[2] == "event")
    assert sos == {"press": 5, "cancel": 2}
    offline = plan_scenario("offline", 3600, seed=1)
    drops = Counter(r[3] for r in offline if r[2] == "drop")
    assert drops == {"abrupt": 3, "silent": 2} and any(r[2] == "restore" for r in offline)
    dropped = {r[1] for r in offline if r[2] == "drop" and r[0] < 300}
    silent_window = [r for r in offline if r[1] in dropped and 400 < r[0] - 6.5 * 3600 < 1100]
    assert not silent_window  # offline devices say nothing until they come back
    fault_records = plan_scenario("faults", 2 * 3600, seed=1)
    injected = {r[3] for r in fault_records if r[2] == "fault"} | {
        "drop_offline" if r[3] == "abrupt" else "go_silent" for r in fault_records if r[2] == "drop"
    }
    assert injected == set(FAULT_CLASSES)
    assert sum(1 for r in fault_records if r[2] in ("event", "telemetry")) > 20 * len(fault_records) / 21


def test_bad_arguments_fail_before_connecting() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        run_simulation("mqtt://127.0.0.1:1", scenario="party")
    with pytest.raises(ValueError, match="load"):
        run_simulation("mqtt://127.0.0.1:1", scenario="sos", devices=10)
    with pytest.raises(ValueError):
        run_simulation("http://127.0.0.1:1883")
    with pytest.raises(BrokerUnavailable):
        run_simulation(f"mqtt://127.0.0.1:{free_port()}", duration=1)
    assert [d.kind for d in synthetic_devices(10)][:len(KINDS)] == list(KINDS)
    assert {d.kind for d in synthetic_devices(7, "fence")} == {"fence"}


def test_every_fault_is_rejected_by_the_gateway_for_its_reason() -> None:
    """Fault payloads captured from a fake publisher, then run through the gateway's decoder."""

    class Capture:
        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes]] = []

        def publish_raw(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
            self.sent.append((topic, payload))

    expected = {
        "not_json": lambda p: faults.publish_not_json(p, "hexie", "elder_button", "eb-01"),
        "oversized": lambda p: faults.publish_oversized(p, "hexie", "fence", "fence-n"),
        "unknown_kind": lambda p: faults.publish_unknown_kind(p, "hexie"),
        "malformed_topic": lambda p: faults.publish_malformed_topic(p, "hexie", "short"),
        "bad_characters": lambda p: faults.publish_bad_characters(p, "hexie", "chinese"),
    }
    reasons = {"bad_characters": "malformed_topic"}
    for fault, inject in expected.items():
        cap = Capture()
        record = inject(cap)
        topic, payload = cap.sent[-1]
        assert record.fault == fault and record.topic == topic
        decoded = gateway_decode(topic, payload)
        assert isinstance(decoded, Rejection) and decoded.reason == reasons.get(fault, fault), (
            fault,
            decoded,
        )
    for variant in faults.MALFORMED_TOPICS:
        cap = Capture()
        faults.publish_malformed_topic(cap, "hexie", variant)
        assert parse_device_topic(cap.sent[-1][0]) is None
    for kind in KINDS:
        cap = Capture()
        faults.publish_wrong_types(cap, "hexie", kind, "dev-1")
        decoded = gateway_decode(*cap.sent[-1])
        assert isinstance(decoded, Rejection) and decoded.reason == "invalid_payload", (kind, decoded)
    assert len(cap.sent[-1][1]) < MAX_PAYLOAD


# --- live, against Mosquitto -----------------------------------------------------------------------


SubscriberFactory = Callable[[str], Subscriber]


@pytest.fixture
def subscriber_factory(mosquitto_url: str) -> Iterator[SubscriberFactory]:
    subs: list[Subscriber] = []

    def make(topic_filter: str) -> Subscriber:
        sub = Subscriber(mosquitto_url, topic_filter, client_id=f"sim-test-{uuid.uuid4().hex[:8]}")
        subs.append(sub)
        return sub

    yield make
    for sub in subs:
        sub.close()
    # Simulated devices leave retained status messages; later tests' gateways must not receive them.
    clear_retained(mosquitto_url, "+")


@pytest.mark.broker
def test_community_run_sends_every_kind_on_valid_topics(
    mosquitto_url: str, subscriber_factory: SubscriberFactory
) -> None:
    sub = subscriber_factory("anju/v1/#")
    report = run_simulation(mosquitto_url, "community", duration=2.0, speed=900, seed=4)
    assert report.devices == 76 and report.connections == 77 and not report.errors
    assert report.unacked == 0 and report.failed == 0
    assert report.status == {"online": 76, "offline": 76}

    def seen_enough() -> Counter[tuple[str, str]] | None:
        seen: Counter[tuple[str, str]] = Counter()
        for topic, payload in sub.snapshot():
            parsed = parse_device_topic(topic)
            if parsed is None or parsed.site != "hexie" or parsed.channel == "status":
                continue
            seen[parsed.kind, json.loads(payload)["type"]] += 1
        counts = {(k, t): n for k, types in report.published.items() for t, n in types.items()}
        return seen if all(seen[key] >= n for key, n in counts.items()) else None

    wait_for(seen_enough, timeout=5, what="every published message at the subscriber")
    kinds_seen = set()
    for topic, payload in sub.snapshot():
        assert TOPIC.fullmatch(topic), topic
        parsed = parse_device_topic(topic)
        assert parsed is not None
        if parsed.site != "hexie":
            continue
        kinds_seen.add(parsed.kind)
        if parsed.channel == "status":
            assert payload in (b"online", b"offline")
        else:
            check_spec(parsed.kind, parsed.channel, json.loads(payload), payload)
    assert kinds_seen == set(KINDS)
    assert report.published["access_gate"]["pass"] > 0 and report.published["face_camera"]["face"] > 0


@pytest.mark.broker
def test_a_drop_right_after_a_restore_is_a_drop_the_broker_sees(
    mosquitto_url: str, subscriber_factory: SubscriberFactory
) -> None:
    """A fast scenario restores a device and drops it again before its reconnect has finished (at 400x,
    30 simulated seconds are 75 ms; less than a connect on a loaded machine): each drop is still a will."""
    site = f"t{uuid.uuid4().hex[:10]}"
    status = f"anju/v1/{site}/access_gate/gate-1/status"
    sub = subscriber_factory(status)
    dev = SimulatedDevice(site, "access_gate", "gate-1", parse_broker_url(mosquitto_url))
    dev.connect()
    try:
        for _ in range(4):
            dev.go_offline(abrupt=True)
            dev.come_back(wait=False)  # as the live fleet restores: without waiting for the connection
        expected = [b"online", b"offline"] * 4 + [b"online"]
        wait_for(lambda: [p for _, p in sub.snapshot()] == expected, 10,
                 what="online and offline alternating, once per drop")
    finally:
        dev.close()


@pytest.mark.broker
def test_device_will_duplicates_and_injected_faults_on_the_wire(
    mosquitto_url: str, subscriber_factory: SubscriberFactory
) -> None:
    site = f"t{uuid.uuid4().hex[:10]}"
    sub = subscriber_factory(f"anju/v1/{site}/#")
    broker = parse_broker_url(mosquitto_url)
    dev = SimulatedDevice(site, "elder_button", "eb-1", broker)
    dev.connect()
    status = f"anju/v1/{site}/elder_button/eb-1/status"
    wait_for(lambda: (status, b"online") in sub.snapshot(), 5, what="retained online on connect")

    msg_id = dev.publish_event("press")
    assert dev.resend_last()
    event_topic = f"anju/v1/{site}/elder_button/eb-1/event"

    def presses() -> list[bytes]:
        return [p for t, p in sub.snapshot() if t == event_topic]

    wait_for(lambda: len(presses()) == 2, 5, what="the press and its duplicate")
    assert [json.loads(p)["msg_id"] for p in presses()] == [msg_id, msg_id]

    dev.go_offline(abrupt=True)  # no DISCONNECT: only the broker's will can say "offline"
    wait_for(lambda: (status, b"offline") in sub.snapshot(), 5, what="the will on an abrupt drop")
    with pytest.raises(Exception, match="offline"):
        dev.publish_event("press")
    dev.come_back()
    wait_for(lambda: sub.snapshot().count((status, b"online")) == 2, 5, what="online again")

    injector = MqttConnection(f"inj-{site}", broker, username="sim-test")
    injector.connect()
    sent = [
        faults.publish_not_json(dev, site, "elder_button", "eb-1"),
        faults.publish_wrong_types(dev, site, "elder_button", "eb-1"),
        faults.publish_oversized(dev, site, "elder_button", "eb-1"),
        faults.publish_unknown_kind(injector, site),
        faults.publish_unregistered_device(injector, site),
        faults.publish_malformed_topic(injector, site, "short"),
        faults.publish_bad_characters(injector, site, "space"),
    ]
    assert injector.wait_idle(5) and dev.connection.wait_idle(5)
    for fault in sent:
        wait_for(lambda f=fault: any(t == f.topic for t, _ in sub.snapshot()), 5, what=fault.fault)
    # Three faults share the event topic: wait for the oversized one itself (it is the slowest to arrive).
    oversized = wait_for(lambda: next((p for _t, p in sub.snapshot() if len(p) > MAX_PAYLOAD), None), 5,
                         what="the oversized payload")
    assert json.loads(oversized)["type"] == "heartbeat"

    dev.close()
    injector.close()
    wait_for(lambda: sub.snapshot()[-1] == (status, b"offline"), 5, what="offline on a clean close")


@pytest.mark.broker
def test_load_mode_counts_acknowledged_messages(
    mosquitto_url: str, subscriber_factory: SubscriberFactory
) -> None:
    sub = subscriber_factory("anju/v1/+/+/+/+")
    report = run_simulation(mosquitto_url, "load", devices=25, rate=400, duration=1.0, seed=2, connections=3)
    assert report.connections == 3 and report.devices == 25
    assert 340 <= report.total_published <= 410 and report.unacked == 0
    assert set(report.published) == set(KINDS)

    def load_messages() -> int:
        return sum(1 for t, _ in sub.snapshot() if "/load-" in t and not t.endswith("/status"))

    wait_for(lambda: load_messages() >= report.total_published, 5, what="every load message")
