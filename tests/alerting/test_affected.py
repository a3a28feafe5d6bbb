"""Who an equipment alert affects: the buildings a device serves, their households and their vulnerable residents
(issue 19), through the real engine and notification planner on both databases; and the site file's refusals."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from alerting import affected as affected_module
from alerting.engine import RuleEngine
from alerting.notifications.channels import Message, Outcome, Target
from gateway.registry import apply_site_config
from kernel.config import NotificationSettings
from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import Building, Person
from kernel.siteconfig import CommunityConfig
from testkit.rules import RuleHarness

NOON = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
"""Noon in Shanghai on a Monday: nobody's quiet hours."""


def units(*households: int) -> list[dict[str, Any]]:
    return [{"name": f"{i}单元", "households": n} for i, n in enumerate(households, start=1)]


SITE: dict[str, Any] = {"sites": [{
    "id": "s1", "name": "和谐社区",
    "grids": [{"id": "g3", "name": "第三网格", "patrol_team": "三组"}],
    "maintenance": [{"name": "物业公司", "wait": "1h", "notify": ["json://127.0.0.1:1/wuye"]}, {"name": "街道"}],
    "buildings": [
        {"id": "b20", "name": "20号楼", "courtyard": "7号院", "grid": "g3", "units": units(12, 12)},
        {"id": "b21", "name": "21号楼", "courtyard": "7号院", "grid": "g3", "units": units(10, 8)},
        {"id": "b22", "name": "22号楼", "courtyard": "8号院", "grid": "g3", "units": units(12, 12, 12)},
    ],
    "devices": [
        {"id": "pump-7", "kind": "water", "grid": "g3", "name": "7号院二次供水泵房",
         "location": {"courtyard": "7号院"}, "attributes": {"serves": ["b20", "b21"]}},
        {"id": "eb-20", "kind": "elder_button", "grid": "g3",
         "location": {"building": "20号楼", "unit": "1单元", "room": "401"}},
        {"id": "eb-21", "kind": "elder_button", "grid": "g3",
         "attributes": {"elder": {"name": "孙翠兰", "lives_alone": True}}},  # as the sample community marks it
        {"id": "eb-22", "kind": "elder_button", "grid": "g3"},
        {"id": "gate-7", "kind": "access_gate", "grid": "g3"},
    ],
    "persons": [
        {"id": "P20-alone", "name": "杨长海", "grid": "g3", "role": "elder", "building": "b20", "unit": "1单元",
         "devices": ["eb-20"], "attributes": {"lives_alone": True}},
        {"id": "P20-family", "name": "肖春生", "grid": "g3", "role": "elder", "building": "b20", "unit": "2单元"},
        {"id": "P21-button", "name": "孙翠兰", "grid": "g3", "role": "elder", "building": "b21", "unit": "1单元",
         "devices": ["eb-21"]},
        {"id": "P21-welfare", "name": "程广才", "grid": "g3", "building": "b21", "unit": "2单元",
         "welfare_check": True},
        {"id": "P22-alone", "name": "于志刚", "grid": "g3", "role": "elder", "building": "b22", "unit": "2单元",
         "welfare_check": True, "devices": ["eb-22"], "attributes": {"lives_alone": True}},
    ],
}]}


class Recording:
    def __init__(self) -> None:
        self.sent: list[tuple[Target, Message]] = []

    def send(self, target: Target, message: Message) -> Outcome:
        self.sent.append((target, message))
        return Outcome(True)


@pytest.fixture
def harness(db_url: str) -> Iterator[RuleHarness]:
    with RuleHarness.open(db_url, RuleEngine.from_files(None), SITE, NOON, NotificationSettings()) as rules:
        yield rules


def test_a_water_cut_names_the_households_and_the_vulnerable_residents(harness: RuleHarness,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Read with the configuration (the harness refreshed the engine when it opened): raising the alert must not
    # read it again, so the press and telemetry path pays no query for it.
    assert harness.engine.affected is not None and len(harness.engine.affected) == 3

    def no_load(_session: Any) -> None:
        raise AssertionError("the affected directory was read on the alert path")

    monkeypatch.setattr(affected_module.AffectedDirectory, "load", classmethod(no_load))
    harness.event("pump-7", "supply_interrupted")
    alert = harness.alerts()["water-supply-interrupted"]
    affected = alert.evidence[0]["affected"]
    assert affected["buildings"] == [{"id": "b20", "name": "20号楼", "households": 24},
                                     {"id": "b21", "name": "21号楼", "households": 18}]
    assert affected["households"] == 42
    assert affected["vulnerable"] == [
        {"person": "P20-alone", "name": "杨长海", "building": "b20", "unit": "1单元", "why": "lives alone"},
        {"person": "P21-button", "name": "孙翠兰", "building": "b21", "unit": "1单元", "why": "lives alone"},
        {"person": "P21-welfare", "name": "程广才", "building": "b21", "unit": "2单元", "why": "welfare check"},
    ], "the elder living with family, and the vulnerable resident of 22号楼 (not served), are not named"

    # The maintenance chain's message carries the line.
    channels = Recording()
    assert harness.send_due(channels) >= 1
    bodies = [m.body for t, m in channels.sent if t.address.endswith("/wuye")]
    assert bodies, channels.sent
    line = next(x for x in bodies[0].splitlines() if x.startswith("影响 Affected:"))
    assert line == ("影响 Affected: 20号楼、21号楼 42户; 独居老人/关怀对象 Vulnerable: 杨长海 (20号楼 1单元 独居), "
                    "孙翠兰 (21号楼 1单元 独居), 程广才 (21号楼 2单元 关怀)")


def test_naming_who_is_affected_never_costs_the_alert(harness: RuleHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_self: Any, _device: str) -> None:
        raise RuntimeError("a bug in the directory")

    monkeypatch.setattr(affected_module.AffectedDirectory, "for_device", broken)
    harness.event("pump-7", "supply_interrupted")
    alert = harness.alerts()["water-supply-interrupted"]
    assert alert.state == "open" and "affected" not in alert.evidence[0]


def test_alerts_of_devices_serving_no_building_are_left_alone(harness: RuleHarness) -> None:
    harness.event("gate-7", "forced_open")
    assert "affected" not in harness.alerts()["gate-forced-open"].evidence[0]


def test_buildings_and_homes_are_applied_and_follow_the_file(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            apply_site_config(session, CommunityConfig.model_validate(SITE))
        smaller = copy.deepcopy(SITE)
        smaller["sites"][0]["buildings"] = smaller["sites"][0]["buildings"][:2]
        smaller["sites"][0]["persons"] = smaller["sites"][0]["persons"][:4]
        smaller["sites"][0]["buildings"][1]["units"] = units(10, 9)
        with sessions.begin() as session:
            apply_site_config(session, CommunityConfig.model_validate(smaller))
        with sessions() as session:
            rows = {b.id: (b.name, b.courtyard, b.grid_id, b.households) for b in session.scalars(select(Building))}
            assert rows == {"b20": ("20号楼", "7号院", "g3", 24), "b21": ("21号楼", "7号院", "g3", 19)}
            person = session.get(Person, "P21-welfare")
            assert person is not None and (person.building_id, person.unit) == ("b21", "2单元")
    finally:
        engine.dispose()


REFUSED: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
    (lambda s: s["devices"][0]["attributes"].update(serves=["b20", "b99"]),
     "device pump-7: attributes.serves names 'b99', not a building of site 's1'"),
    (lambda s: s["devices"][0]["attributes"].update(serves="b20"),
     "device pump-7: attributes.serves must be a list of building ids"),
    (lambda s: s["persons"][0].update(building="b99"),
     "person P20-alone: building 'b99' is not a building of site 's1'"),
    (lambda s: s["persons"][0].update(unit="9单元"),
     "person P20-alone: unit '9单元' is not a unit of building 'b20'"),
    (lambda s: s["persons"][0].update(building=None),
     "person P20-alone: unit '1单元' without a building"),
    (lambda s: s["buildings"][0].update(grid="g9"),
     "building b20: grid 'g9' is not a grid of site 's1'"),
]


def test_the_site_file_refuses_unknown_buildings(sqlite_url: str) -> None:
    """A mistyped building would silently leave households or residents out of every outage alert."""
    engine = make_engine(sqlite_url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        for change, reason in REFUSED:
            site = copy.deepcopy(SITE)
            change(site["sites"][0])
            with sessions() as session, pytest.raises(ValueError) as refused:
                apply_site_config(session, CommunityConfig.model_validate(site))
            assert str(refused.value) == reason
    finally:
        engine.dispose()
