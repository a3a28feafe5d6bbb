"""Device → broker → gateway → rules → alerts, on the real broker and both databases.

What a condition means without the broker path is tested in-process: test_conditions.py (`testkit.rules`)."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
from sqlalchemy import func, select

from alerting.engine import RuleEngine
from gateway.decode import RawMessage
from kernel.db.models import Alert, Event
from kernel.timeutil import utcnow
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, Subscriber, wait_for

pytestmark = [pytest.mark.broker]


def alerts_topic(broker_url: str, site: str) -> Subscriber:
    """Listens on `anju/v1/{site}/alerts` like a patrol app would."""
    return Subscriber(broker_url, f"anju/v1/{site}/alerts", qos=1, client_id=f"patrol-app-{site}")


def actions(app: Subscriber) -> list[tuple[str, int]]:
    return [(a["action"], a["count"]) for a in app.json()]


def test_elder_press_becomes_a_critical_alert_on_the_alerts_topic(
        make_gateway: GatewayFactory, broker_url: str, db_url: str, publisher: Publisher, site_id: str) -> None:
    gw = make_gateway(broker_url, db_url, rules=True)
    app = alerts_topic(broker_url, site_id)
    try:
        publisher.send("eb1", "elder_button", "event", type="press")
        wait_for(lambda: actions(app) == [("created", 1)], what="the SOS alert on the alerts topic")
        publisher.send("eb1", "elder_button", "event", type="press")  # pressed again while open
        wait_for(lambda: actions(app) == [("created", 1), ("repeated", 2)], what="the repeat, counted")
        first = app.json()[0]
        assert first["severity"] == "critical" and first["rule"] == "elder-sos" and first["state"] == "open"
        assert first["site"] == site_id and first["grid"] == "g1" and first["device_id"] == "eb1"
        assert first["level"] == 0 and first["evidence"][0]["type"] == "press"
    finally:
        app.close()
    with gw.sessions() as s:
        alerts = s.scalars(select(Alert)).all()
    assert [(a.rule, a.count) for a in alerts] == [("elder-sos", 2)]


def test_fence_cut_is_at_least_major(make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str,
                                     site_id: str) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True)
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("fence1", "fence", "event", type="alarm", zone="Z2", cause="cut")
    finally:
        pub.close()
    with gw.sessions() as s:
        alert = wait_for(lambda: s.scalars(select(Alert)).first(), what="fence alert")
    assert alert.rule == "fence-alarm" and alert.severity in ("critical", "major") and not alert.silenceable


def alerts_by_rule(gw: object) -> dict[str, Alert]:
    with gw.sessions() as s:  # type: ignore[attr-defined]
        return {a.rule: a for a in s.scalars(select(Alert))}


@pytest.mark.parametrize("alarm_last", [False, True], ids=["alarm-first", "capture-first"])
def test_a_correlated_pair_in_one_batch_is_one_alert_about_the_capture(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str, alarm_last: bool) -> None:
    """Both events stored in one transaction are both in the table when the rules run: the pair still fires
    once, on the event stored last, and the alert is about the camera in either arrival order."""
    gw = make_gateway(mosquitto_url, db_url, rules=True, start=False)
    gw.prepare_database()
    alarm_at = int(time.time() * 1000) - 60_000
    alarm = (f"anju/v1/{site_id}/fence/fence1/event",
             {"msg_id": uuid.uuid4().hex, "type": "alarm", "zone": "Z1", "cause": "intrusion", "ts": alarm_at})
    capture = (f"anju/v1/{site_id}/face_camera/face1/event",
               {"msg_id": uuid.uuid4().hex, "type": "face", "person_id": "R01001", "similarity": 0.9,
                "ts": alarm_at + 20_000})
    now = utcnow()
    batch = [RawMessage(topic, orjson.dumps(body), 1, False, 0, now)
             for topic, body in ([capture, alarm] if alarm_last else [alarm, capture])]
    gw._process_batch(batch)  # the processing thread's own entry point, one transaction
    with gw.sessions() as s:
        fired = s.scalars(select(Alert).where(Alert.rule == "fence-alarm-then-capture")).all()
    assert [(a.device_id, a.count) for a in fired] == [("face1", 1)]


def count_of(gw: object, event_type: str) -> int:
    with gw.sessions() as s:  # type: ignore[attr-defined]
        return s.scalar(select(func.count()).select_from(Event).where(Event.type == event_type)) or 0


def test_low_battery_threshold_is_a_maintenance_alert(make_gateway: GatewayFactory, mosquitto_url: str,
                                                      sqlite_url: str, site_id: str) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True)
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("eb1", "elder_button", "telemetry", type="heartbeat", battery=55)
        pub.send("eb1", "elder_button", "telemetry", type="heartbeat", battery=12)
        alert = wait_for(lambda: alerts_by_rule(gw).get("battery-low"), what="low battery")
        assert alert.audience == "maintenance" and alert.evidence[0]["data"] == {"battery": 12, "threshold": 20}
    finally:
        pub.close()


def test_silence_mutes_a_gate_but_never_an_sos(make_gateway: GatewayFactory, mosquitto_url: str, db_url: str,
                                               site_id: str) -> None:
    from datetime import timedelta

    from alerting.silences import SilenceRefused, create_silence
    from kernel.timeutil import utcnow

    gw = make_gateway(mosquitto_url, db_url, rules=True)
    engine_rules = {r.id: r for r in RuleEngine.from_files(None).rules}
    now = utcnow()
    with gw.sessions.begin() as s:
        with pytest.raises(SilenceRefused, match="never be silenced"):
            create_silence(s, engine_rules, owner="物业 王", reason="test", ends_at=now + timedelta(hours=1),
                           now=now, rule="elder-sos")
        with pytest.raises(SilenceRefused, match="at least"):
            create_silence(s, engine_rules, owner="物业 王", reason="everything", ends_at=now + timedelta(hours=1),
                           now=now)
        with pytest.raises(SilenceRefused, match="30 days"):
            create_silence(s, engine_rules, owner="物业 王", reason="long", ends_at=now + timedelta(days=60),
                           now=now, device="gate1")
        create_silence(s, engine_rules, owner="物业 王", reason="门禁维修 gate repair", kind="maintenance",
                       ends_at=now + timedelta(hours=2), now=now, site=site_id)
    app = alerts_topic(mosquitto_url, site_id)
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("gate1", "access_gate", "event", type="forced_open")
        pub.send("eb1", "elder_button", "event", type="press")
        wait_for(lambda: [a["rule"] for a in app.json()] == ["elder-sos"], what="only the SOS announced")
        stored = alerts_by_rule(gw)
        assert stored["gate-forced-open"].silenced_by is not None and stored["gate-forced-open"].escalate_at is None
        assert stored["elder-sos"].silenced_by is None
    finally:
        pub.close()
        app.close()


def test_blacklisted_plate_from_the_database_watchlist(make_gateway: GatewayFactory, mosquitto_url: str,
                                                       db_url: str, site_id: str) -> None:
    from kernel.timeutil import utcnow
    from rules.watchlists import add_entry

    gw = make_gateway(mosquitto_url, db_url, rules=True, start=False)
    gw.prepare_database()
    with gw.sessions.begin() as s:
        add_entry(s, "blacklist", "辽E99999", utcnow(), added_by="派出所", note="stolen")
    gw.start()
    pub = Publisher(mosquitto_url, site_id)
    try:
        assert gw.wait_connected(10)
        pub.send("cam1", "plate_camera", "event", type="plate", plate="辽E12345", direction="in", confidence=0.97)
        pub.send("cam1", "plate_camera", "event", type="plate", plate="辽E99999", direction="in", confidence=0.95)
        alert = wait_for(lambda: alerts_by_rule(gw).get("plate-blacklist"), what="blacklist alert")
    finally:
        pub.close()
        gw.stop()
    assert alert.count == 1 and alert.evidence[0]["data"]["plate"] == "辽E99999"
