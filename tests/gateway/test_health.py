"""Device health through Mosquitto with simulated devices: offline deadlines per kind and per device, sleeping
buttons, battery thresholds, tamper, fault codes, flapping, a whole site going dark (one grouped alert, the
per-device alerts folded under it), and the availability report."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from gateway.service import Gateway
from kernel.db.models import Alert, Device, Event
from kernel.mqtt import parse_broker_url
from kernel.timeutil import utcnow
from simulators.device import SimulatedDevice
from tests.conftest import GatewayFactory, serving_api
from tests.helpers import Subscriber, clear_retained, make_site, wait_for

pytestmark = pytest.mark.broker

OUTAGE_DEVICES = [("eb-o1", "elder_button"), ("eb-o2", "elder_button"), ("eb-o3", "elder_button"),
                  ("eb-o4", "elder_button"), ("gate-o1", "access_gate"), ("gate-o2", "access_gate"),
                  ("fence-o1", "fence"), ("face-o1", "face_camera")]


@pytest.fixture
def site_file(tmp_path: Path, site_id: str) -> Path:
    """The small test site plus a sleeping button, and a second site (`<site>o`) that goes dark as a whole."""
    community = make_site(site_id)
    community["sites"][0]["devices"].append(
        {"id": f"{site_id}-sleepy", "kind": "elder_button", "grid": "g1", "attributes": {"sleeping": True}})
    community["sites"].append({"id": f"{site_id}o", "name": "断网社区", "grids": [{"id": f"{site_id}o-g", "name": "g"}],
                               "devices": [{"id": f"{site_id}-{d}", "kind": k, "grid": f"{site_id}o-g"}
                                           for d, k in OUTAGE_DEVICES]})
    community["sites"].append({"id": f"{site_id}s", "name": "分段社区", "grids": [{"id": f"{site_id}s-g", "name": "g"}],
                               "devices": [{"id": f"{site_id}-{seg}{i}", "kind": "access_gate", "grid": f"{site_id}s-g",
                                            "attributes": {"segment": seg}}
                                           for seg in ("east", "west") for i in range(4)]})
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(community, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def devices(mosquitto_url: str, site_id: str) -> Iterator[dict[str, SimulatedDevice]]:
    """Simulated devices of both sites, created on demand (`sim(site, kind, id)`), closed after the test."""
    made: dict[str, SimulatedDevice] = {}
    yield made
    for dev in made.values():
        if not dev.dropped:
            dev.close(timeout=1)
    for site in (site_id, f"{site_id}o", f"{site_id}s"):
        clear_retained(mosquitto_url, site)


def sim(made: dict[str, SimulatedDevice], broker: str, site: str, kind: str, device_id: str) -> SimulatedDevice:
    dev = SimulatedDevice(site, kind, device_id, parse_broker_url(broker), keepalive=5)
    dev.connect()
    made[device_id] = dev
    return dev


def device(gw: Gateway, device_id: str) -> Device:
    with gw.sessions() as session:
        row = session.get(Device, device_id)
        assert row is not None
        return row


def alerts(gw: Gateway, rule: str | None = None) -> list[Alert]:
    with gw.sessions() as session:
        stmt = select(Alert).order_by(Alert.id)
        if rule is not None:
            stmt = stmt.where(Alert.rule == rule)
        return list(session.scalars(stmt))


def events(gw: Gateway, device_id: str, type_: str) -> list[Event]:
    with gw.sessions() as session:
        return list(session.scalars(select(Event).where(Event.device_id == device_id, Event.type == type_)
                                    .order_by(Event.id)))


def test_offline_deadline_per_kind_per_device_and_sleeping(make_gateway: GatewayFactory, mosquitto_url: str,
                                                           sqlite_url: str, site_id: str,
                                                           devices: dict[str, SimulatedDevice]) -> None:
    """Silent devices turn offline on the watchdog's clock within 1 s of their deadline: per kind from the
    settings, per device (`offline_timeout_s`), sleeping buttons on their own (long) deadline."""
    health = {"offline_timeouts": {"fence": "1s", "access_gate": "2s", "elder_button": "1s"},
              "sleeping_timeout": "4s"}
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True, health=health)
    with gw.sessions() as session:
        assert gw.registry.lookup(session, "face1").offline_timeout == timedelta(minutes=10)  # the driver's
        assert gw.registry.lookup(session, "eb2").offline_timeout == timedelta(seconds=1)  # its attribute
    expected = {"fence1": 1.0, "gate1": 2.0, "eb1": 1.0, f"{site_id}-sleepy": 4.0}
    kinds = {"fence1": "fence", "gate1": "access_gate", "eb1": "elder_button", f"{site_id}-sleepy": "elder_button"}
    for dev_id, kind in kinds.items():
        dev = sim(devices, mosquitto_url, site_id, kind, dev_id)
        dev.publish_telemetry()
        dev.go_offline(abrupt=False)  # connected, but silent: only the gateway's clock can tell
    for dev_id, timeout in expected.items():
        wait_for(lambda d=dev_id: device(gw, d).online is False, timeout=timeout + 3, what=f"{dev_id} offline")
        row = device(gw, dev_id)
        assert row.last_seen is not None and row.online_changed_at is not None
        late = (row.online_changed_at - row.last_seen).total_seconds() - timeout
        assert 0 <= late <= 1.0, f"{dev_id}: offline {late:.2f}s after its deadline"
        assert events(gw, dev_id, "device_offline")[0].data == {"reason": "timeout"}
    by_rule = {a.rule: {b.device_id for b in alerts(gw, a.rule)} for a in alerts(gw)}
    assert by_rule["fence-offline"] == {"fence1"} and by_rule["device-offline"] == {"gate1"}
    assert by_rule["elder-button-offline"] >= {"eb1", f"{site_id}-sleepy"}
    assert all(a.audience == "maintenance" for a in alerts(gw))


def test_sleeping_button_default_is_25_hours(make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str,
                                             site_id: str) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, health={"offline_timeouts": {"elder_button": "5m"}})
    with gw.sessions() as session:
        assert gw.registry.lookup(session, f"{site_id}-sleepy").offline_timeout == timedelta(hours=25)
        assert gw.registry.lookup(session, "eb1").offline_timeout == timedelta(minutes=5)


def test_battery_low_and_critical_tamper_and_fault(make_gateway: GatewayFactory, mosquitto_url: str,
                                                   sqlite_url: str, site_id: str,
                                                   devices: dict[str, SimulatedDevice]) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True, health={"battery_low": 25, "battery_critical": 12})
    button = sim(devices, mosquitto_url, site_id, "elder_button", "eb1")
    for level in (30, 22, 20):  # crosses 25 once: one battery-low alert, no repeats on every heartbeat
        button.publish_telemetry(battery=level)
    wait_for(lambda: device(gw, "eb1").battery == 20, what="the third heartbeat")
    (low,) = alerts(gw, "battery-low")
    assert (low.count, low.severity, low.evidence[0]["data"]["threshold"]) == (1, "minor", 25)
    assert low.evidence[0]["data"]["battery"] == 22  # compared message by message, even within one batch
    assert not alerts(gw, "battery-critical")
    button.publish_telemetry(battery=11)
    critical = wait_for(lambda: alerts(gw, "battery-critical"), what="battery critical")[0]
    assert critical.severity == "major" and critical.audience == "maintenance"

    gate = sim(devices, mosquitto_url, site_id, "access_gate", "gate1")
    gate.publish_event("tamper")
    fence = sim(devices, mosquitto_url, site_id, "fence", "fence1")
    fence.publish_event("alarm", zone="Z1", cause="tamper")
    wait_for(lambda: {a.device_id for a in alerts(gw, "device-tamper")} == {"gate1", "fence1"},
             what="maintenance tamper alerts for the gate and the fence host")
    assert {a.audience for a in alerts(gw, "device-tamper")} == {"maintenance"}
    assert device(gw, "gate1").tamper is True

    camera = sim(devices, mosquitto_url, site_id, "face_camera", "face1")
    camera.publish_telemetry(fault="E17")
    camera.publish_telemetry(fault="E17")  # the same code again: no change, no event
    camera.publish_telemetry(fault="")  # cleared: an event, no alert
    wait_for(lambda: len(events(gw, "face1", "device_fault")) == 2, what="fault set, then cleared")
    assert [e.data for e in events(gw, "face1", "device_fault")] == [
        {"fault": "E17", "previous": None}, {"fault": None, "previous": "E17"}]
    assert device(gw, "face1").fault is None
    camera.publish_telemetry(fault="E18")
    wait_for(lambda: len(alerts(gw, "device-fault")) == 2, what="a second fault code, a second alert")
    assert [a.evidence[0]["data"]["fault"] for a in alerts(gw, "device-fault")] == ["E17", "E18"]
    assert device(gw, "face1").fault == "E18"


def test_flapping(make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, site_id: str,
                  devices: dict[str, SimulatedDevice]) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True, health={"flapping": {"count": 3, "within": "1m"}})
    gate = sim(devices, mosquitto_url, site_id, "access_gate", "gate1")
    for n in range(1, 4):
        wait_for(lambda: device(gw, "gate1").online is True, what="online")
        gate.go_offline(abrupt=True)  # a loose cable: the will says offline
        wait_for(lambda n=n: len(events(gw, "gate1", "device_offline")) == n, what=f"offline #{n}")
        if n < 3:
            assert not alerts(gw, "device-flapping")
        gate.come_back()
    (flapping,) = wait_for(lambda: alerts(gw, "device-flapping"), what="the flapping alert")
    assert flapping.device_id == "gate1" and flapping.evidence[0]["data"]["offline_count"] == 3
    (offline,) = alerts(gw, "device-offline")
    assert offline.count == 3  # the drops merge into one open offline alert


def test_whole_site_dark_is_one_grouped_alert_and_recovery_closes_it(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, site_id: str,
        devices: dict[str, SimulatedDevice]) -> None:
    site = f"{site_id}o"
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True)
    topic = Subscriber(mosquitto_url, f"anju/v1/{site}/alerts", qos=1)
    try:
        fleet = [sim(devices, mosquitto_url, site, kind, f"{site_id}-{d}") for d, kind in OUTAGE_DEVICES]
        for dev in fleet:
            dev.publish_telemetry()
        ids = {dev.device_id for dev in fleet}
        wait_for(lambda: all(device(gw, d).online for d in ids), what="the site online")
        dark = time.monotonic()
        for dev in fleet:  # the site's uplink is cut: every connection drops at once, the wills fire
            dev.go_offline(abrupt=True)
        (outage,) = wait_for(lambda: alerts(gw, "site-outage"), timeout=30, what="the grouped alert")
        assert time.monotonic() - dark < 30
        assert (outage.audience, outage.severity, outage.site_id) == ("maintenance", "major", site)

        def folded() -> list[Alert]:
            children = [a for a in alerts(gw) if a.device_id in ids]
            return children if len(children) == len(ids) and all(a.parent_id == outage.id for a in children) else []

        children = wait_for(folded, what="every per-device offline alert folded under the outage")
        assert {a.rule for a in children} == {"elder-button-offline", "fence-offline", "device-offline"}
        assert all(a.escalate_at is None for a in children)
        assert sorted(alerts(gw, "site-outage")[0].evidence[0]["devices"]) == sorted(ids)
        time.sleep(0.5)
        announced = [m for m in topic.json() if m["action"] == "created"]
        assert [m["rule"] for m in announced].count("site-outage") == 1
        early = [m for m in announced if m["rule"] != "site-outage"]
        recognised_at = max(3, math.ceil(0.5 * len(ids)))  # grouping defaults: min_devices 3, fraction 0.5
        assert len(early) < recognised_at, "only alerts raised before the outage was recognised were announced"

        for dev in fleet:  # the uplink is back
            dev.come_back(wait=False)
        wait_for(lambda: alerts(gw, "site-outage")[0].state == "resolved", timeout=15, what="the outage closed")
        closed = alerts(gw, "site-outage")[0]
        assert closed.resolved_by == "system" and "back online" in (closed.resolution_note or "")
        assert all(a.state == "resolved" and a.resolved_by == "system" for a in alerts(gw) if a.device_id in ids)
        wait_for(lambda: any(m["action"] == "resolved" and m["rule"] == "site-outage" for m in topic.json()),
                 what="the closing announced")
        assert not [m for m in topic.json() if m["rule"] != "site-outage" and m["action"] != "created"]
    finally:
        topic.close()


def test_a_dark_network_segment_is_grouped_on_its_own(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, site_id: str,
        devices: dict[str, SimulatedDevice]) -> None:
    """A segment's switch dies: its devices are one outage; the rest of the site is untouched."""
    site = f"{site_id}s"
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True)
    fleet = {seg: [sim(devices, mosquitto_url, site, "access_gate", f"{site_id}-{seg}{i}") for i in range(4)]
             for seg in ("east", "west")}
    for dev in fleet["east"] + fleet["west"]:
        dev.publish_telemetry()
    wait_for(lambda: all(device(gw, d.device_id).online for d in fleet["east"] + fleet["west"]), what="online")
    for dev in fleet["east"]:
        dev.go_offline(abrupt=True)
    (outage,) = wait_for(lambda: alerts(gw, "site-outage"), timeout=30, what="the segment's grouped alert")
    east = {d.device_id for d in fleet["east"]}
    assert outage.evidence[0]["segment"] == "east" and set(outage.evidence[0]["devices"]) == east
    wait_for(lambda: {a.device_id for a in alerts(gw) if a.parent_id == outage.id} == east,
             what="the segment's offline alerts folded")
    assert all(device(gw, d.device_id).online for d in fleet["west"])
    assert not [a for a in alerts(gw) if a.device_id in {d.device_id for d in fleet["west"]}]


def test_availability_of_a_device_offline_for_a_known_span(mosquitto_url: str, sqlite_url: str, site_file: Path,
                                                            site_id: str,
                                                            devices: dict[str, SimulatedDevice]) -> None:
    with serving_api(mosquitto_url, sqlite_url, site_file) as api:
        gw = api.services.gateway
        start = utcnow()
        gate = sim(devices, mosquitto_url, site_id, "access_gate", "gate1")
        wait_for(lambda: device(gw, "gate1").online is True, what="online")
        gate.go_offline(abrupt=True)
        wait_for(lambda: device(gw, "gate1").online is False, what="offline")
        time.sleep(1.5)
        gate.come_back()
        wait_for(lambda: device(gw, "gate1").online is True, what="back")
        time.sleep(0.5)
        until = utcnow()
        (online_1, online_2) = events(gw, "gate1", "device_online")
        (offline,) = events(gw, "gate1", "device_offline")
        span = (online_2.ts - offline.ts).total_seconds()
        known = (until - online_1.ts).total_seconds()
        token = api.token("maintenance")
        params = {"since": start.isoformat(), "until": until.isoformat()}
        with api.client(token) as http:
            one = http.get("/devices/gate1/availability", params=params)
            report = http.get("/availability", params={**params, "site": site_id, "kind": "access_gate"})
            missing = http.get("/devices/nope/availability")
        assert one.status_code == 200, one.text
        body = one.json()
        assert body["device_id"] == "gate1" and len(body["outages"]) == 1
        assert body["outages"][0]["seconds"] == pytest.approx(span, abs=0.01) and span >= 1.5
        assert body["outages"][0]["end"] is not None
        assert body["uptime_pct"] == pytest.approx(100 * (known - span) / known, abs=0.01)
        assert report.status_code == 200, report.text
        (kind,) = report.json()["kinds"]
        assert (kind["kind"], kind["devices"], kind["outages"]) == ("access_gate", 1, 1)
        assert kind["uptime_pct"] == pytest.approx(body["uptime_pct"], abs=0.01)
        (row,) = report.json()["devices"]
        assert row["device_id"] == "gate1" and row["offline_seconds"] == pytest.approx(span, abs=0.01)
        assert missing.status_code == 404
        with api.client(api.token("patrol", grids=["g1"])) as http:
            assert http.get("/availability").status_code == 403


def test_misspelt_health_settings_are_errors() -> None:
    from pydantic import ValidationError

    from kernel.config import load_settings

    for bad in ({"ofline_timeouts": {}}, {"offline_timeouts": {"elder_buton": "3m"}},
                {"offline_timeouts": {"fence": "3 min"}}, {"grouping": {"windw": "30s"}},
                {"battery_low": 10, "battery_critical": 20}):
        with pytest.raises(ValidationError):
            load_settings(health=bad)
    assert load_settings().health.grouping.window == "30s"


