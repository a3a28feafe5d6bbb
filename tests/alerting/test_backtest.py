"""`anju rules backtest`: replaying stored history through a rule file, without touching live alerts."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from alerting.backtest import run_backtest
from kernel.db.models import Alert, Event, RuleTimer
from kernel.timeutil import utcnow
from rules.loader import builtin_rules_path, load_rule_files
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, wait_for

pytestmark = [pytest.mark.broker]


def test_backtest_reports_what_would_fire_and_leaves_live_alerts_alone(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str) -> None:
    start = utcnow() - timedelta(minutes=1)
    gw = make_gateway(mosquitto_url, db_url, rules=True)  # live: the built-in pack
    pub = Publisher(mosquitto_url, site_id)
    try:
        for _ in range(5):
            pub.send("gate1", "access_gate", "event", type="pass", direction="in", method="card", credential="X",
                     result="denied")
        pub.send("eb1", "elder_button", "event", type="press")
        pub.send("fence1", "fence", "event", type="alarm", zone="Z1", cause="power_loss")  # never restored
        with gw.sessions() as s:
            # All seven: the gate's passes are routine events, stored in the next telemetry batch (gateway/inbox.py),
            # so they may land after the press and the alarm.
            sent = select(func.count()).select_from(Event).where(Event.type.in_(("pass", "press", "alarm")))
            wait_for(lambda: s.scalar(sent) == 7, what="history stored")
    finally:
        pub.close()
    with gw.sessions() as s:
        live_before = s.scalars(select(Alert.id)).all()
        timers_before = s.scalar(select(func.count()).select_from(RuleTimer))

    fired = run_backtest(gw.sessions, load_rule_files([builtin_rules_path()]), start,
                         utcnow() + timedelta(minutes=10))
    by_rule = {f.rule: f for f in fired}
    assert {"elder-sos", "gate-denied-burst", "fence-power-loss"} <= set(by_rule), by_rule
    assert by_rule["elder-sos"].severity == "critical" and by_rule["elder-sos"].device_id == "eb1"

    with gw.sessions() as s:
        assert s.scalars(select(Alert.id)).all() == live_before, "live alerts untouched"
        assert s.scalar(select(func.count()).select_from(RuleTimer)) == timers_before, "live timers untouched"


def test_backtest_command_refuses_a_bad_rule_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    name: X\n    severity: huge\n    when: {event: {type: press}}\n")
    result = subprocess.run([sys.executable, "-m", "anju.cli", "rules", "backtest", str(bad), "--since", "2026-01-01"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "bad.yaml:4:" in result.stderr
