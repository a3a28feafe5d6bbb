"""Rules that fire on the clock (duration, absence, sustained threshold), through the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from kernel.db.models import Alert, RuleTimer
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, wait_for

pytestmark = [pytest.mark.broker]

RULES = """
rules:
  - id: power-loss
    name: 围栏断电 / fence power loss
    severity: major
    audience: maintenance
    when:
      duration:
        start: {kind: fence, type: alarm, where: {cause: power_loss}}
        end: {kind: fence, type: restore}
        longer_than: 1s
        per: zone
  - id: quiet-button
    name: 长时间无操作 / no activity
    severity: major
    scope: {devices: [eb2]}
    when:
      absence:
        event: {kind: elder_button, type: [press, cancel]}
        for: 2s
        per: device
  - id: weak-fence
    name: 围栏电压低 / fence voltage low
    severity: minor
    audience: maintenance
    when:
      threshold: {kind: fence, metric: voltage_kv, below: 5, for: 1s}
    dedup: {policy: merge, key: [rule, device, zone]}
"""


@pytest.fixture
def rule_file(tmp_path: Path) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return str(path)


def alerts(gw: object, rule: str) -> list[Alert]:
    with gw.sessions() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(Alert).where(Alert.rule == rule)))


def test_duration_fires_when_not_ended_in_time_and_not_when_ended(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str, rule_file: str) -> None:
    gw = make_gateway(mosquitto_url, db_url, rules=[rule_file])
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("fence1", "fence", "event", type="alarm", zone="Z1", cause="power_loss")
        pub.send("fence1", "fence", "event", type="restore", zone="Z1")  # restored at once: nothing
        pub.send("fence1", "fence", "event", type="alarm", zone="Z2", cause="power_loss")  # never restored
        fired = wait_for(lambda: alerts(gw, "power-loss"), timeout=10, what="power-loss alert")
    finally:
        pub.close()
    assert len(fired) == 1 and fired[0].evidence[0]["data"]["zone"] == "Z2"


def test_absence_fires_for_a_device_never_seen_and_keeps_its_timer(
        make_gateway: GatewayFactory, mosquitto_url: str, sqlite_url: str, rule_file: str) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, rules=[rule_file])
    fired = wait_for(lambda: alerts(gw, "quiet-button"), timeout=10, what="absence alert for eb2")
    assert fired[0].device_id == "eb2" and fired[0].type == "absence"
    with gw.sessions() as s:
        assert s.scalars(select(RuleTimer).where(RuleTimer.rule == "quiet-button")).one().device_id == "eb2"


def test_sustained_threshold_and_timers_survive_a_restart(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str, rule_file: str) -> None:
    gw = make_gateway(mosquitto_url, db_url, rules=[rule_file])
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("fence1", "fence", "telemetry", type="heartbeat", voltage_kv={"Z1": 3.0, "Z2": 8.0})
        with gw.sessions() as s:
            wait_for(lambda: s.scalars(select(RuleTimer).where(RuleTimer.rule == "weak-fence")).first(),
                     what="the threshold timer armed")
        gw.stop()  # the timer is in the database, not in this process
        gw2 = make_gateway(mosquitto_url, db_url, rules=[rule_file])
        fired = wait_for(lambda: alerts(gw2, "weak-fence"), timeout=10, what="threshold alert after restart")
    finally:
        pub.close()
    assert len(fired) == 1 and fired[0].evidence[0]["reading"]["zone"] == "Z1"
