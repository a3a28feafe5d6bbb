"""Device → broker → gateway → registry, on real brokers (Mosquitto and embedded) and real databases."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db.models import DeadLetter, Device, Event, Reading
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, count_events, wait_for

pytestmark = [pytest.mark.broker]


def test_event_reaches_registry_and_store(make_gateway: GatewayFactory, broker_url: str, db_url: str,
                                          publisher: Publisher) -> None:
    gw = make_gateway(broker_url, db_url)
    ts = 1_795_000_000_000
    publisher.send("eb1", "elder_button", "event", type="press", ts=ts, vendor_field={"x": 1})
    publisher.send("eb1", "elder_button", "telemetry", type="heartbeat", battery=64)
    publisher.send("fence1", "fence", "telemetry", type="heartbeat", voltage_kv={"Z1": 8.2, "Z2": 0.4})

    with gw.sessions() as s:
        wait_for(lambda: s.scalar(select(Reading.id).where(Reading.zone == "Z2")), what="fence readings")
        press = s.scalars(select(Event).where(Event.type == "press")).one()
        assert press.device_id == "eb1" and press.kind == "elder_button"
        assert press.ts == datetime.fromtimestamp(ts / 1000, UTC)
        assert press.data["vendor_field"] == {"x": 1}, "unknown fields are kept"
        eb1 = s.get(Device, "eb1")
        assert eb1 is not None
        assert eb1.online is True and eb1.battery == 64 and eb1.last_seen is not None
        zones = dict(s.execute(select(Reading.zone, Reading.value).where(Reading.device_id == "fence1")).all())
        assert zones == {"Z1": 8.2, "Z2": 0.4}
        assert count_events(s, device_id="eb1", type="device_online") == 1
        # Health at a glance: the latest telemetry's values on the device itself; an event leaves them alone.
        assert s.get(Device, "fence1").readings == {"voltage_kv:Z1": 8.2, "voltage_kv:Z2": 0.4}
        assert eb1.readings == {"battery": 64}
    publisher.send("fence1", "fence", "event", type="restore", zone="Z2")
    publisher.send("fence1", "fence", "telemetry", type="heartbeat", voltage_kv={"Z1": 8.1, "Z2": 8.3})
    with gw.sessions() as s:
        wait_for(lambda: s.get(Device, "fence1", populate_existing=True).readings.get("voltage_kv:Z2") == 8.3,
                 what="the newest voltages")


def test_message_published_while_gateway_down_is_processed_after_restart(
        make_gateway: GatewayFactory, broker_url: str, sqlite_url: str, publisher: Publisher) -> None:
    gw = make_gateway(broker_url, sqlite_url)
    gw.stop()
    msg_id = publisher.send("eb1", "elder_button", "event", type="press")
    gw2 = make_gateway(broker_url, sqlite_url)
    with gw2.sessions() as s:
        wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == msg_id)), what="the queued press")


def test_duplicates_are_processed_once_also_across_restart(
        make_gateway: GatewayFactory, broker_url: str, db_url: str, publisher: Publisher) -> None:
    gw = make_gateway(broker_url, db_url)
    for _ in range(3):
        publisher.send("eb1", "elder_button", "event", msg_id="press-1", type="press")
    marker = publisher.send("eb1", "elder_button", "event", type="cancel")
    with gw.sessions() as s:
        wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == marker)), what="marker")
        assert count_events(s, msg_id="press-1") == 1
    assert gw.metrics.value("anju_messages_total", kind="elder_button", channel="event", outcome="duplicate") == 2
    gw.stop()

    gw2 = make_gateway(broker_url, db_url)
    publisher.send("eb1", "elder_button", "event", msg_id="press-1", type="press")
    marker = publisher.send("eb1", "elder_button", "event", type="cancel")
    with gw2.sessions() as s:
        wait_for(lambda: s.scalar(select(Event.id).where(Event.msg_id == marker)), what="second marker")
        assert count_events(s, msg_id="press-1") == 1


BAD_INPUT = [
    # (reason, topic suffix or full topic, payload)
    ("not_json", "elder_button/eb1/event", b"{not json"),
    ("not_json", "elder_button/eb1/event", b"\xff\xfe\x00garbage"),
    ("not_object", "elder_button/eb1/event", b"[1, 2, 3]"),
    ("invalid_payload", "elder_button/eb1/telemetry", b'{"type": "heartbeat", "battery": "full"}'),
    ("invalid_payload", "elder_button/eb1/telemetry", b'{"type": "heartbeat", "battery": 250}'),
    ("invalid_payload", "access_gate/gate1/event", b'{"type": "pass", "direction": "sideways", "method": "card",'
                                                    b' "credential": "c", "result": "granted"}'),
    ("invalid_payload", "access_gate/gate1/event", b'{"type": "held_open", "seconds": "long"}'),
    ("too_large", "elder_button/eb1/telemetry", b'{"type": "heartbeat", "x": ' + b"[" * 40 + b"]" * 40 + b"}"),
    ("unknown_type", "elder_button/eb1/event", b'{"type": "explode"}'),
    ("oversized", "plate_camera/cam1/event", b'{"type": "plate", "snapshot": "' + b"A" * (300 * 1024) + b'"}'),
    ("unknown_kind", "toaster/t1/event", b'{"type": "press"}'),
    ("unregistered_device", "elder_button/ghost/event", b'{"type": "press"}'),
    ("kind_mismatch", "fence/eb1/event", b'{"type": "restore", "zone": "Z1"}'),
    ("invalid_status", "elder_button/eb1/status", b"sleepy"),
]


def test_each_bad_input_class_is_dead_lettered_and_the_next_good_message_processed(
        make_gateway: GatewayFactory, broker_url: str, db_url: str, publisher: Publisher) -> None:
    gw = make_gateway(broker_url, db_url)
    good_ids = []
    expected: list[tuple[str, str]] = []
    for reason, suffix, payload in BAD_INPUT:
        topic = f"anju/v1/{publisher.site}/{suffix}"
        publisher.raw(topic, payload)
        expected.append((topic, reason))
        good_ids.append(publisher.send("eb1", "elder_button", "event", type="press"))
    publisher.raw(f"anju/v1/{publisher.site}/elder_button", b'{"type": "press"}')  # outside our filters: never seen
    other_site = f"anju/v1/{publisher.site}x/elder_button/eb1/event"
    publisher.raw(other_site, b'{"type": "press"}')
    expected.append((other_site, "site_mismatch"))
    good_ids.append(publisher.send("eb1", "elder_button", "event", type="press"))

    # The shared broker may carry other traffic: look only at the topics this test used.
    topics = {topic for topic, _ in expected}

    def ours(s: Session) -> list[DeadLetter]:
        return list(s.scalars(select(DeadLetter).where(DeadLetter.topic.in_(topics))))

    with gw.sessions() as s:
        wait_for(lambda: count_events(s, type="press") == len(good_ids), what="every good press")
        wait_for(lambda: len(ours(s)) == len(expected), what="every dead letter")
        assert sorted((d.topic, d.reason) for d in ours(s)) == sorted(expected)
        stored = set(s.scalars(select(Event.msg_id).where(Event.type == "press")))
        assert stored == set(good_ids)
        oversized = next(d for d in ours(s) if d.reason == "oversized")
        assert oversized.size > 300 * 1024 and len(oversized.payload) <= 4096
        for letter in ours(s):
            assert letter.detail, f"{letter.reason} has no explanation"
    assert gw.metrics.value("anju_dead_letters_total", reason="not_json") == 2


def test_status_and_will_set_online_and_offline(make_gateway: GatewayFactory, broker_url: str, sqlite_url: str,
                                                publisher: Publisher) -> None:
    gw = make_gateway(broker_url, sqlite_url)
    status = publisher.topic("access_gate", "gate1", "status")
    publisher.raw(status, "online", retain=True)
    with gw.sessions() as s:
        wait_for(lambda: s.get(Device, "gate1", populate_existing=True).online is True, what="online")

    # A device that dies: its will (retained "offline") is published by the broker.
    from kernel.mqtt import plain_client

    dying, addr = plain_client(broker_url, "face1", "face1")
    dying.will_set(publisher.topic("face_camera", "face1", "status"), "offline", qos=1, retain=True)
    dying.connect(addr.host, addr.port, keepalive=60)
    dying.loop_start()
    dying.publish(publisher.topic("face_camera", "face1", "status"), "online", qos=1, retain=True).wait_for_publish(5)
    with gw.sessions() as s:
        wait_for(lambda: s.get(Device, "face1", populate_existing=True).online is True, what="face1 online")
    dying.loop_stop()
    dying.socket().close()  # abrupt: no DISCONNECT, so the broker publishes the will
    with gw.sessions() as s:
        wait_for(lambda: s.get(Device, "face1", populate_existing=True).online is False, timeout=15,
                 what="will sets offline")
        reasons = [e.data["reason"] for e in s.scalars(select(Event).where(Event.device_id == "face1"))]
        assert reasons == ["status", "status"]
    publisher.raw(status, b"", retain=True)
    publisher.raw(publisher.topic("face_camera", "face1", "status"), b"", retain=True)


def test_silent_device_goes_offline_on_the_timer(make_gateway: GatewayFactory, broker_url: str, db_url: str,
                                                  publisher: Publisher) -> None:
    gw = make_gateway(broker_url, db_url)
    publisher.send("eb2", "elder_button", "telemetry", type="heartbeat", battery=90)  # eb2 times out after 1 s
    with gw.sessions() as s:
        wait_for(lambda: s.get(Device, "eb2", populate_existing=True).online is True, what="online")
        went_online = time.monotonic()
        wait_for(lambda: s.get(Device, "eb2", populate_existing=True).online is False, timeout=5,
                 what="offline by timeout")
        elapsed = time.monotonic() - went_online
        offline = s.scalars(select(Event).where(Event.device_id == "eb2", Event.type == "device_offline")).one()
        assert offline.data == {"reason": "timeout"}
    assert elapsed < 3, f"offline detected {elapsed:.1f}s after the last message (timeout 1 s)"
