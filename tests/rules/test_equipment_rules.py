"""The building-equipment rules of the built-in pack (lifts, water, heating), through the in-process harness on
both databases: each rule's condition, severity, audience and title, the sustained thresholds' timers, and the
heating season (`schedule.season`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from alerting.engine import RuleEngine
from kernel.db.models import Alert
from rules.loader import check_text
from rules.schema import Schedule
from testkit.rules import START, RuleHarness

pytestmark = [pytest.mark.rules]

SUMMER = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai on 15 June: outside the heating season."""


def equipment_site(site_id: str) -> dict[str, Any]:
    """A small site with two lifts, a pump room and two heating substations, each serving its buildings."""
    units = [{"name": "1单元", "households": 12}, {"name": "2单元", "households": 12}]
    return {"sites": [{
        "id": site_id, "name": "测试社区", "timezone": "Asia/Shanghai",
        "grids": [{"id": "g1", "name": "第一网格", "patrol_team": "一组"}],
        "buildings": [{"id": b, "name": f"{b[1:]}号楼", "grid": "g1", "units": units} for b in ("b20", "b21")],
        "devices": [
            {"id": "lift1", "kind": "elevator", "grid": "g1", "name": "20号楼2单元电梯",
             "attributes": {"serves": ["b20"]}},
            {"id": "lift2", "kind": "elevator", "grid": "g1", "name": "21号楼2单元电梯",
             "attributes": {"serves": ["b21"]}},
            {"id": "pump1", "kind": "water", "grid": "g1", "name": "二次供水泵房",
             "attributes": {"serves": ["b20", "b21"]}},
            {"id": "heat1", "kind": "heating", "grid": "g1", "name": "1号换热站",
             "attributes": {"serves": ["b20", "b21"]}},
            {"id": "heat2", "kind": "heating", "grid": "g1", "name": "2号换热站",
             "attributes": {"serves": ["b21"]}},
        ],
    }]}


@pytest.fixture
def harness(db_url: str, site_id: str) -> Iterator[RuleHarness]:
    with RuleHarness.open(db_url, RuleEngine.from_files(None), equipment_site(site_id)) as rules:
        yield rules


def all_alerts(harness: RuleHarness, rule: str) -> list[Alert]:
    with harness.sessions() as session:
        return list(session.scalars(select(Alert).where(Alert.rule == rule).order_by(Alert.id)))


def only(harness: RuleHarness, rule: str, severity: str, audience: str, *, silenceable: bool = True) -> Alert:
    alerts = all_alerts(harness, rule)
    assert len(alerts) == 1, f"{rule}: {len(alerts)} alerts"
    alert = alerts[0]
    assert (alert.severity, alert.audience, alert.silenceable) == (severity, audience, silenceable), rule
    return alert


def test_lift_rules(harness: RuleHarness) -> None:
    harness.event("lift1", "trapped", floor=4)
    patrol = only(harness, "lift-trapped", "critical", "patrol", silenceable=False)
    repair = only(harness, "lift-trapped-repair", "critical", "maintenance", silenceable=False)
    assert patrol.device_id == repair.device_id == "lift1"
    assert "20号楼2单元电梯" in patrol.title and "20号楼2单元电梯" in repair.title

    harness.event("lift2", "fault", code="door_open_while_running", floor=3)
    only(harness, "lift-door-open-while-running", "major", "maintenance", silenceable=False)
    assert not all_alerts(harness, "lift-fault"), "door open while running is its own rule"

    harness.event("lift2", "fault", code="overspeed")
    harness.event("lift2", "fault", code="E31")  # a vendor's own code: accepted as text
    harness.event("lift2", "fault", code="overspeed")  # the same code again: counted into its alert
    faults = all_alerts(harness, "lift-fault")
    assert [(a.severity, a.audience, a.count) for a in faults] == [("major", "maintenance", 2),
                                                                   ("major", "maintenance", 1)]
    assert "E31" in faults[1].title and "21号楼2单元电梯" in faults[1].title

    # Out of service: 30 minutes of `in_service` 0; a status back in service on the way cancels it.
    harness.reading("lift1", "in_service", 0)
    harness.advance(timedelta(minutes=20))
    harness.reading("lift1", "in_service", 1)
    harness.reading("lift2", "in_service", 0)
    harness.advance(timedelta(minutes=29))
    harness.reading("lift2", "in_service", 0)
    assert not all_alerts(harness, "lift-out-of-service")
    harness.advance(timedelta(minutes=2))
    alert = only(harness, "lift-out-of-service", "major", "maintenance")
    assert alert.device_id == "lift2" and "21号楼2单元电梯" in alert.title


def test_water_rules(harness: RuleHarness) -> None:
    harness.event("pump1", "supply_interrupted", reason="main_burst")
    assert "二次供水泵房" in only(harness, "water-supply-interrupted", "major", "maintenance").title
    harness.event("pump1", "leak", location="泵房地面")
    assert "泵房地面" in only(harness, "water-leak", "major", "maintenance").title

    harness.reading("pump1", "pressure_mpa", 0.12)  # a demand dip recovers within minutes: no alert
    harness.advance(timedelta(minutes=5))
    harness.reading("pump1", "pressure_mpa", 0.22)
    harness.reading("pump1", "pressure_mpa", 0.15)  # at the limit is not below it
    harness.advance(timedelta(minutes=15))
    assert not all_alerts(harness, "water-pressure-low")
    harness.reading("pump1", "pressure_mpa", 0.02)
    harness.advance(timedelta(minutes=11))
    only(harness, "water-pressure-low", "major", "maintenance")

    harness.reading("pump1", "level_pct", 21)
    harness.advance(timedelta(minutes=10))
    assert not all_alerts(harness, "water-tank-low")
    harness.reading("pump1", "level_pct", 18)
    harness.advance(timedelta(minutes=6))
    only(harness, "water-tank-low", "minor", "maintenance")


def test_heating_rules_in_the_season(harness: RuleHarness) -> None:
    assert harness.now == START  # 2 March: in the heating season
    harness.event("heat1", "leak", location="20号楼地下室")
    assert "20号楼地下室" in only(harness, "heating-leak", "major", "maintenance").title
    harness.event("heat1", "fault", code="circulation_pump")
    assert "circulation_pump" in only(harness, "heating-fault", "minor", "maintenance").title

    harness.reading("heat1", "supply_c", 44.0)
    harness.reading("heat1", "pressure_mpa", 0.15)
    harness.reading("heat1", "spread_c", 3.0)
    harness.reading("heat2", "spread_c", 28.0)
    harness.advance(timedelta(minutes=11))
    only(harness, "heating-pressure-drop", "major", "maintenance")
    assert not all_alerts(harness, "heating-supply-cold"), "30 minutes, not 10"
    harness.advance(timedelta(minutes=20))
    cold = only(harness, "heating-supply-cold", "major", "maintenance")
    assert cold.device_id == "heat1" and "1号换热站" in cold.title
    assert only(harness, "heating-spread-low", "minor", "maintenance").device_id == "heat1"
    assert only(harness, "heating-spread-high", "minor", "maintenance").device_id == "heat2"


@pytest.fixture
def summer(db_url: str, site_id: str) -> Iterator[RuleHarness]:
    with RuleHarness.open(db_url, RuleEngine.from_files(None), equipment_site(site_id), now=SUMMER) as rules:
        yield rules


def test_out_of_season_a_cold_loop_is_no_alert_but_a_pressure_drop_is(summer: RuleHarness) -> None:
    summer.reading("heat1", "supply_c", 18.0)  # the loop stands filled and cold all summer
    summer.reading("heat1", "spread_c", 0.3)
    summer.reading("heat1", "pressure_mpa", 0.1)  # but it must stay full
    summer.advance(timedelta(hours=2))
    summer.reading("heat1", "supply_c", 18.0)
    summer.advance(timedelta(hours=1))
    assert set(summer.alerts()) == {"heating-pressure-drop"}


# --- the season, pure ------------------------------------------------------------------------------------


def shanghai(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC) - timedelta(hours=8)  # local noon (or `hour`)


def test_a_season_wraps_the_new_year_and_includes_both_ends() -> None:
    heating = Schedule.model_validate({"season": {"from": "11-01", "to": "03-31"}})
    assert [heating.active(shanghai(m, d)) for m, d in ((10, 31), (11, 1), (1, 15), (3, 31), (4, 1), (7, 1))] == [
        False, True, True, True, False, False]
    assert heating.active(shanghai(11, 1, 0))  # 00:00 local on 1 November (16:00 UTC the day before)
    summer = Schedule.model_validate({"season": {"from": "6-1", "to": "08-31"}, "from": "08:00", "to": "18:00"})
    assert summer.active(shanghai(7, 1)) and not summer.active(shanghai(7, 1, 20)) and not summer.active(shanghai(9, 1))


@pytest.mark.parametrize(("season", "reason"), [
    ('{from: "04-31", to: "05-01"}', "month 4 has no day 31"),
    ('{from: "13-01", to: "03-31"}', "write MM-DD"),
    ('{from: "11-01", to: "11-01"}', "same day"),
    ('{from: 1101, to: "03-31"}', "quoted string"),
    ('{from: "11-01"}', "to"),
])
def test_a_bad_season_is_an_error_with_its_line(season: str, reason: str) -> None:
    text = f"""rules:
  - id: heat
    name: heat
    severity: minor
    schedule: {{season: {season}}}
    when:
      threshold: {{kind: heating, metric: supply_c, below: 45}}
"""
    check = check_text(text, "t.yaml")
    assert not check.ok and any(reason in e.reason and e.line == 5 for e in check.errors), check.errors


def test_the_safety_floor_cannot_be_limited_to_a_season() -> None:
    text = """rules:
  - id: elder-sos
    name: SOS
    severity: critical
    silenceable: false
    schedule: {season: {from: "11-01", to: "03-31"}}
    when:
      event: {kind: elder_button, type: press}
"""
    check = check_text(text, "t.yaml")
    assert not check.ok and any("season" in e.reason and "safety floor" in e.reason for e in check.errors)


def test_a_site_restates_a_rule_with_its_own_target() -> None:
    """How a site tunes a default: an API file restating the rule's id (docs/devices.md#heating)."""
    text = """rules:
  - id: heating-supply-cold
    name: 供暖温度低 / Heating supply too cold
    severity: major
    audience: maintenance
    scope: {sites: [hexie]}
    schedule: {season: {from: "10-20", to: "04-20"}, timezone: Asia/Shanghai}
    when:
      threshold: {kind: heating, metric: supply_c, below: 50, for: 20m}
    message: "{device_name} 供水温度低于50°C"
"""
    check = check_text(text, "api:hexie")
    assert check.ok, check.errors
