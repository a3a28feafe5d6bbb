"""The welfare check (`absence` with `per: person`) through the real broker, the gateway and its clock.

Six persons on the test site, each showing one case: seen by a face camera, by a gate card, only by their
button's heartbeat, by a poor face match, never; and one not under a welfare check at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from alerting.engine import RuleEngine
from gateway.registry import apply_person
from kernel.db.models import Alert, Person, RuleTimer
from kernel.siteconfig import PersonConfig
from rules.conditions.absence import NOT_SEEN
from rules.loader import load_rule_files
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, make_site, wait_for

pytestmark = [pytest.mark.broker]

RULE = "welfare"
PERSONS: list[dict[str, Any]] = [
    {"id": "P-face", "name": "王秀英", "grid": "g1", "welfare_check": True},
    {"id": "P-card", "name": "李桂兰", "grid": "g1", "welfare_check": True, "devices": ["eb2"],
     "credentials": ["CARD-7F3A"]},
    {"id": "P-beat", "name": "张德福", "welfare_check": True, "devices": ["eb1"]},  # grid from the button
    {"id": "P-poor", "name": "赵淑珍", "grid": "g1", "welfare_check": True},
    {"id": "P-never", "name": "刘凤英", "grid": "g1", "welfare_check": True},
    {"id": "P-free", "name": "陈国强", "grid": "g1"},  # not under a welfare check
]


def rules(seconds: int) -> str:
    # `heartbeat` is in the matcher on purpose: even where a rule admits it, it shows no person.
    return f"""
rules:
  - id: {RULE}
    name: 关怀探访 / welfare check
    severity: major
    when:
      absence:
        event: {{type: [press, cancel, pass, face, plate, heartbeat]}}
        for: {seconds}s
        per: person
    message: "{{person_name}} ({{person_id}}) 未出现 / not seen"
"""


@pytest.fixture
def site_file(tmp_path: Path, site_id: str) -> Path:
    site = make_site(site_id)
    site["sites"][0]["persons"] = PERSONS
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


def rule_file(tmp_path: Path, seconds: int) -> str:
    path = tmp_path / f"welfare-{seconds}.yaml"
    path.write_text(rules(seconds), encoding="utf-8")
    return str(path)


def alerts(gw: Any) -> dict[str, Alert]:
    """The welfare alerts by person."""
    with gw.sessions() as s:
        return {a.evidence[0]["person_id"]: a for a in s.scalars(select(Alert).where(Alert.rule == RULE))}


def timers(gw: Any) -> dict[str, RuleTimer]:
    with gw.sessions() as s:
        return {t.group_key: t for t in s.scalars(select(RuleTimer).where(RuleTimer.rule == RULE))}


def last_seen(timer_or_alert: RuleTimer | Alert) -> dict[str, Any] | None:
    evidence = timer_or_alert.evidence
    return (evidence[-1] if isinstance(evidence, list) else evidence)["last_seen"]


def test_who_was_seen_and_who_was_not(make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str,
                                      site_id: str, tmp_path: Path) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, rules=[rule_file(tmp_path, 4)])
    armed = wait_for(lambda: len(timers(gw)) == 5 and timers(gw), what="a timer per watched person")
    assert "P-free" not in armed and {last_seen(t) for t in armed.values()} == {None}
    assert armed["P-card"].device_id == "eb2" and armed["P-never"].device_id == ""  # no button: nothing to name
    time.sleep(1.5)  # the sightings come a while after start-up, so their timers fall due later
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("face1", "face_camera", "event", type="face", person_id="P-face", similarity=0.91)
        pub.send("gate1", "access_gate", "event", type="pass", direction="out", method="card",
                 credential="CARD-7F3A", result="granted")
        pub.send("eb1", "elder_button", "telemetry", type="heartbeat", battery=76)
        pub.send("face1", "face_camera", "event", type="face", person_id="P-poor", similarity=0.52)
        pub.send("face1", "face_camera", "event", type="face", person_id="P-free", similarity=0.95)
        seen = wait_for(lambda: (t := timers(gw)) and last_seen(t["P-face"]) and last_seen(t["P-card"]) and t,
                        what="the face and the card counted as sightings")
        assert {last_seen(seen[p]) for p in ("P-beat", "P-poor", "P-never")} == {None}
        assert "P-free" not in seen

        fired = wait_for(lambda: {"P-beat", "P-poor", "P-never"} <= alerts(gw).keys() and alerts(gw),
                         what="the unseen persons' alerts")
        assert not fired.keys() & {"P-face", "P-card", "P-free"}, "a person seen later is not yet due"
        beat, never = fired["P-beat"], fired["P-never"]
        assert (beat.device_id, beat.kind, beat.grid_id, beat.site_id) == ("eb1", "elder_button", "g1", site_id)
        assert (never.device_id, never.kind, never.grid_id) == (None, None, "g1")
        assert beat.title == "张德福 (P-beat) 未出现 / not seen" and beat.type == "absence"
        assert beat.evidence[0]["note"] == never.evidence[0]["note"] == NOT_SEEN
        assert beat.dedup_key == f"{RULE}|P-beat"

        fired = wait_for(lambda: {"P-face", "P-card"} <= alerts(gw).keys() and alerts(gw), timeout=6,
                         what="the seen persons' alerts, one period after their sighting")
    finally:
        pub.close()
    face, card = last_seen(fired["P-face"]), last_seen(fired["P-card"])
    assert face is not None and (face["device_id"], face["kind"], face["type"]) == ("face1", "face_camera", "face")
    assert card is not None and (card["device_id"], card["kind"]) == ("gate1", "access_gate")
    assert card["data"]["credential"] == "CARD-7F3A"
    assert "at gate1 (access_gate pass)" in fired["P-card"].evidence[0]["note"]
    assert fired["P-card"].device_id == "eb2" and fired["P-face"].device_id is None
    assert "P-free" not in alerts(gw) and "P-free" not in timers(gw)


def test_a_timer_survives_a_restart_with_where_the_person_was_seen(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str, tmp_path: Path) -> None:
    path = rule_file(tmp_path, 3)
    gw = make_gateway(mosquitto_url, db_url, rules=[path])
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("gate1", "access_gate", "event", type="pass", direction="in", method="face", credential="P-face",
                 result="granted")
        wait_for(lambda: (t := timers(gw).get("P-face")) and last_seen(t), what="the face pass counted")
    finally:
        pub.close()
    gw.stop()  # the timer is in the database, not in this process
    gw2 = make_gateway(mosquitto_url, db_url, rules=[path])  # arming at start-up must not reset it
    fired = wait_for(lambda: alerts(gw2).get("P-face"), timeout=8, what="the welfare alert after the restart")
    seen = last_seen(fired)
    assert seen is not None and (seen["device_id"], seen["type"]) == ("gate1", "pass")


def test_persons_deleted_are_dropped_and_persons_added_are_armed(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, tmp_path: Path, site_id: str) -> None:
    engine = RuleEngine(load_rule_files([rule_file(tmp_path, 2)]))
    gw = make_gateway(mosquitto_url, sqlite_url, rules=engine)
    wait_for(lambda: "P-never" in timers(gw), what="P-never armed")
    with gw.sessions.begin() as s:  # as the API would: one person deleted, one added
        s.delete(s.get(Person, "P-never"))
        apply_person(s, site_id, PersonConfig(id="P-new", name="周玉兰", grid="g1", welfare_check=True))
    engine.request_refresh()
    fired = wait_for(lambda: "P-new" in alerts(gw) and alerts(gw), timeout=8, what="the added person's alert")
    assert "P-never" not in fired and "P-never" not in timers(gw), "dropped quietly, not re-armed"
    assert fired["P-new"].evidence[0]["note"] == NOT_SEEN
