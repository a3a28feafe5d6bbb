"""The safety floor's first half through the real path: device → Mosquitto → gateway → rules → alert, on both
databases. Each tolerated variation of an elder's press and a fence alarm becomes the same alert as the
canonical payload, and the deviation is counted for the integrator; what cannot be understood from a safety
kind still reaches a person as an "unrecognised alarm"; a device flooding refusals raises one maintenance alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml
from sqlalchemy import select

from kernel.db.models import Alert, DeadLetter, DeviceDeviation, Event
from kernel.timeutil import utcnow
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, make_site, wait_for

pytestmark = [pytest.mark.broker]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _now_ms() -> int:
    return int(utcnow().timestamp() * 1000)


PRESSES: list[tuple[str, Any, str | None]] = [
    # (device, payload (a dict, or bytes sent as they are), the deviation it must leave)
    ("eb0", lambda: {"type": "press", "ts": _now_ms()}, None),
    ("eb1", lambda: {"type": "press", "ts": _now_ms() // 1000}, "ts_seconds"),
    ("eb2", lambda: {"type": "press", "ts": _now_ms() * 1000}, "ts_microseconds"),
    ("eb3", lambda: {"type": "press", "ts": _now_ms() * 1_000_000}, "ts_nanoseconds"),
    ("eb4", lambda: {"type": "press", "ts": datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")}, "ts_local_time"),
    ("eb5", lambda: {"type": "press", "ts": "yesterday"}, "ts_unusable"),
    ("eb6", lambda: {"type": "press", "msg_id": 1234567}, "msg_id_number"),
    ("eb7", lambda: {"type": "PRESS"}, "type_case"),
    ("eb8", lambda: {"type": "sos"}, "type_alias"),
    ("eb9", lambda: {"type": "一键呼救"}, "type_alias"),  # the site's own name
    ("eb10", lambda: {"type": "KEY_1"}, "type_alias"),  # the device's own name
    ("eb11", lambda: {"type": "press", "ts": str(_now_ms())}, "ts_numeric_string"),
    ("eb12", lambda: b'{"type": "press", "note": ' + b"[" * 300 + b"]" * 300 + b"}", "field_too_large"),
]
FENCES: list[tuple[str, dict[str, Any], str | None]] = [
    ("fe0", {"type": "alarm", "zone": "3", "cause": "intrusion"}, None),
    ("fe1", {"type": "alarm", "zone": 3, "cause": "intrusion"}, "number_as_text"),
    ("fe2", {"type": "alarm", "zone": "3", "cause": "INTRUSION"}, "value_case"),
    ("fe3", {"type": "Alarm", "zone": "3", "cause": "cut", "ts": _now_ms() // 1000}, "type_case"),
]


@pytest.fixture
def site_file(tmp_path: Path, site_id: str) -> Path:
    """The test site, plus a button and a fence per variation, a site alias and a device alias."""
    community = make_site(site_id)
    site = community["sites"][0]
    site["type_aliases"] = {"elder_button": {"一键呼救": "press"}}
    site["devices"] = [d for d in site["devices"] if d["kind"] != "elder_button"] + [
        {"id": device, "kind": "elder_button", "grid": "g1", "name": f"button {device}"} for device, _, _ in PRESSES]
    next(d for d in site["devices"] if d["id"] == "eb10")["attributes"] = {"type_aliases": {"KEY_1": "press"}}
    site["devices"] += [{"id": device, "kind": "fence", "grid": "g1"} for device, _, _ in FENCES]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(community, allow_unicode=True), encoding="utf-8")
    return path


def _signature(alert: Alert) -> tuple[Any, ...]:
    """What makes two alerts the same alert for the patrol, whoever sent them."""
    return alert.rule, alert.severity, alert.grid_id, alert.level, alert.silenceable, alert.state


def test_each_tolerated_variation_becomes_the_canonical_alert(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str) -> None:
    gw = make_gateway(mosquitto_url, db_url, rules=True)
    pub = Publisher(mosquitto_url, site_id)
    try:
        for device, payload, _ in PRESSES:
            body = payload()
            pub.raw(pub.topic("elder_button", device, "event"), body if isinstance(body, bytes) else orjson.dumps(body))
        for device, fields, _ in FENCES:
            pub.raw(pub.topic("fence", device, "event"), orjson.dumps(fields))
        pub.send("eb1", "elder_button", "telemetry", type="heartbeat", battery="80")
    finally:
        pub.close()
    expected = {d for d, _, _ in PRESSES} | {d for d, _, _ in FENCES}
    with gw.sessions() as s:
        alerts = wait_for(lambda: (found := {a.device_id: a for a in s.scalars(select(Alert))}).keys() >= expected
                          and found, what="an alert for every variation")
        events = {e.device_id: e for e in s.scalars(select(Event).where(Event.type.in_(["press", "alarm"])))}
        counted = wait_for(lambda: (c := {(d.device_id, d.reason): d.count for d in s.scalars(
            select(DeviceDeviation))}).get(("eb1", "text_as_number")) and c, what="the heartbeat's deviation counted")
        dead = s.scalars(select(DeadLetter).where(DeadLetter.topic.like(f"anju/v1/{site_id}/%"))).all()
    assert dead == [], [(d.reason, d.detail) for d in dead]
    for device, _, reason in PRESSES:
        assert _signature(alerts[device]) == _signature(alerts["eb0"]), device
        assert alerts[device].rule == "elder-sos" and alerts[device].severity == "critical"
        assert abs((events[device].ts - events[device].received_at).total_seconds()) < 5, device
        if reason is not None:
            assert reason in {t["reason"] for t in events[device].data["tolerated"]}, device
            assert counted[(device, reason)] == 1
    for device, _, reason in FENCES:
        assert _signature(alerts[device]) == _signature(alerts["fe0"]), device
        assert alerts[device].rule == "fence-alarm" and events[device].data["zone"] == "3"
        if reason is not None:
            assert counted[(device, reason)] == 1
    assert "ts_unusable" in str(events["eb5"].data["tolerated"])  # the arrival time stands in, the reason kept
    assert counted[("eb1", "text_as_number")] == 1  # the heartbeat's "80"
    assert gw.metrics.value("anju_tolerated_total", kind="elder_button", reason="ts_seconds") >= 1
    assert gw.metrics.value("anju_tolerated_total", kind="fence", reason="number_as_text") == 1


def test_an_unrecognised_alarm_reaches_the_patrol_beside_its_dead_letter(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str) -> None:
    gw = make_gateway(mosquitto_url, db_url, rules=True)
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.raw(pub.topic("elder_button", "eb3", "event"), b'{"type": "explode"}')
        pub.raw(pub.topic("fence", "fe1", "event"), b'{"type": "alarm", "zone": "Z1", "cause": "gremlins"}')
        pub.raw(pub.topic("elder_button", "eb4", "telemetry"), b'{"type": "explode"}')  # telemetry: no alarm
    finally:
        pub.close()
    with gw.sessions() as s:
        alerts = wait_for(lambda: (found := {a.device_id: a for a in s.scalars(select(Alert))}).keys() >= {"eb3", "fe1"}
                          and found, what="an unrecognised alarm for the button and the fence")
        ours = select(DeadLetter).where(DeadLetter.topic.like(f"anju/v1/{site_id}/%"))
        wait_for(lambda: len(s.scalars(ours).all()) == 3, what="the three dead letters")
    for device in ("eb3", "fe1"):
        alert = alerts[device]
        assert alert.rule == "unrecognised-alarm" and alert.severity == "major" and not alert.silenceable
    assert "eb4" not in alerts
    assert alerts["eb3"].evidence[0]["data"]["original_type"] == "explode"


def test_a_device_over_its_budget_of_refusals_raises_one_maintenance_alert(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, site_id: str) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True, rejected_per_minute=20, quarantine_sample_every=10)
    pub = Publisher(mosquitto_url, site_id)
    try:
        for _ in range(120):
            pub.raw(pub.topic("elder_button", "eb5", "event"), b"garbage", qos=0)
        press = pub.send("eb5", "elder_button", "event", type="press")  # its own SOS still gets through
    finally:
        pub.close()
    with gw.sessions() as s:
        alerts = wait_for(lambda: (found := {a.rule: a for a in s.scalars(select(Alert))}).keys()
                          >= {"messages-rejected", "elder-sos"} and found, what="the SOS and the maintenance alert")
        wait_for(lambda: gw.metrics.total("anju_dead_letters_total") + gw.metrics.total(
            "anju_rejections_not_stored_total") >= 120, what="every refusal counted")
        stored = len(s.scalars(select(DeadLetter).where(DeadLetter.device_id == "eb5")).all())
        assert s.scalar(select(Event.msg_id).where(Event.type == "press")) == press
    assert alerts["messages-rejected"].count == 1 and alerts["messages-rejected"].severity == "minor"
    assert 20 < stored <= 20 + 100 // 10 + 1  # below budget all, then one in ten
    assert gw.metrics.value("anju_quarantined_devices") == 1
    assert timedelta(0) <= utcnow() - alerts["elder-sos"].created_at < timedelta(minutes=1)
