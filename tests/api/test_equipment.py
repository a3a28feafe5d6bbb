"""Buildings and equipment through the real API and the real path (MQTT → gateway → rules), on both databases:
status per building from the latest readings, outages with their duration and the households they affected."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerting.test_affected import SITE
from tests.helpers import ApiServer, Publisher, wait_for

pytestmark = [pytest.mark.broker]


def equipment_site(site_id: str) -> dict[str, Any]:
    site = copy.deepcopy(SITE)
    body = site["sites"][0]
    body["id"] = site_id
    body["devices"] += [
        {"id": f"{site_id}-lift-20", "kind": "elevator", "grid": "g3", "name": "20号楼1单元电梯",
         "location": {"building": "20号楼", "unit": "1单元"}, "attributes": {"serves": ["b20"]}},
        {"id": f"{site_id}-heat", "kind": "heating", "grid": "g3", "name": "7-8号院换热站",
         "attributes": {"serves": ["b20", "b21", "b22"]}},
    ]
    for device in body["devices"]:  # ids are unique across sites: this test's own
        if not device["id"].startswith(site_id):
            device["id"] = f"{site_id}-{device['id']}"
    for person in body["persons"]:
        person["devices"] = [f"{site_id}-{d}" for d in person.get("devices", [])]
    return site


@pytest.fixture
def site_file(tmp_path: Path, site_id: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(equipment_site(site_id), allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def pub(mosquitto_url: str, site_id: str) -> Iterator[Publisher]:
    publisher = Publisher(mosquitto_url, site_id)
    yield publisher
    publisher.close()


def test_equipment_per_building_and_outages(make_api: Any, mosquitto_url: str, db_url: str, site_id: str,
                                            pub: Publisher) -> None:
    api: ApiServer = make_api(mosquitto_url, db_url)
    lift, pump, heat = f"{site_id}-lift-20", f"{site_id}-pump-7", f"{site_id}-heat"
    pub.send(lift, "elevator", "telemetry", type="status", running=True, in_service=True, floor=3, door="closed")
    pub.send(pump, "water", "telemetry", type="reading", pressure_mpa=0.32, level_pct=71)
    pub.send(heat, "heating", "telemetry", type="reading", supply_c=55, return_c=42.5, pressure_mpa=0.4)
    pub.send(pump, "water", "event", type="supply_interrupted")
    pub.send(lift, "elevator", "event", type="trapped", floor=3)

    with api.admin() as admin:
        def alerts() -> list[dict[str, Any]]:
            return [a for a in admin.get("/alerts", params={"site": site_id}).json()
                    if a["rule"] in ("water-supply-interrupted", "lift-trapped", "lift-trapped-repair")]

        wait_for(lambda: len(alerts()) == 3, what="the water and lift alerts")
        pub.send(pump, "water", "event", type="supply_restored")

        buildings = admin.get("/buildings", params={"site": site_id}).json()
        assert [(b["id"], b["households"], b["courtyard"]) for b in buildings] == [
            ("b20", 24, "7号院"), ("b21", 18, "7号院"), ("b22", 36, "8号院")]
        assert buildings[0]["units"] == [{"name": "1单元", "households": 12}, {"name": "2单元", "households": 12}]

        def status() -> dict[str, Any]:
            answer = admin.get("/equipment", params={"site": site_id})
            assert answer.status_code == 200, answer.text
            return {b["id"]: b for b in answer.json()["buildings"]}

        by_id = wait_for(lambda: (s := status()) and s["b20"]["heating"] and s["b20"]["lifts"]
                         and s["b20"]["lifts"][0]["floor"] is not None and s, what="the latest readings")
        b20 = by_id["b20"]
        assert [(x["device_id"], x["in_service"], x["running"], x["floor"]) for x in b20["lifts"]] == [
            (lift, True, True, 3.0)]
        assert [(x["device_id"], x["pressure_mpa"], x["level_pct"]) for x in b20["water"]] == [(pump, 0.32, 71.0)]
        assert [(x["supply_c"], x["return_c"], x["spread_c"]) for x in b20["heating"]] == [(55.0, 42.5, 12.5)]
        assert {a["rule"] for a in b20["alerts"]} == {"water-supply-interrupted", "lift-trapped",
                                                      "lift-trapped-repair"}
        b22 = by_id["b22"]
        assert not b22["lifts"] and not b22["water"] and [x["device_id"] for x in b22["heating"]] == [heat]
        assert b22["alerts"] == []

        def outages() -> dict[str, dict[str, Any]]:
            answer = admin.get("/equipment/outages", params={"site": site_id})
            assert answer.status_code == 200, answer.text
            return {o["rule"]: o for o in answer.json()["outages"]}

        found = wait_for(lambda: (o := outages()) and not o["water-supply-interrupted"]["ongoing"] and o,
                         what="the water outage to end with supply_restored")
        water = found["water-supply-interrupted"]
        assert water["end"] is not None and water["households"] == 42
        assert water["seconds"] == pytest.approx(
            (datetime.fromisoformat(water["end"]) - datetime.fromisoformat(water["start"])).total_seconds())
        assert [b["id"] for b in water["buildings"]] == ["b20", "b21"] and water["vulnerable"] == 3
        trapped = found["lift-trapped"]
        assert trapped["ongoing"] and trapped["end"] is None and trapped["seconds"] > 0
        assert (trapped["households"], trapped["vulnerable"], trapped["device_name"]) == (24, 1, "20号楼1单元电梯")
        # The alert page shows whom the water cut affects (its evidence).
        detail = admin.get(f"/alerts/{water['alert_id']}").json()
        assert detail["evidence"][0]["affected"]["households"] == 42

        bad = admin.get("/equipment/outages", params={"since": "2026-01-02T00:00:00Z",
                                                      "until": "2026-01-01T00:00:00Z"})
        assert bad.status_code == 422

    # Maintenance sees its own alerts only; a patrol token only its grids' buildings.
    with api.client(api.token("maintenance")) as maintenance:
        rules = {o["rule"] for o in maintenance.get("/equipment/outages", params={"site": site_id}).json()["outages"]}
        assert rules == {"water-supply-interrupted", "lift-trapped-repair"}
    with api.client(api.token("patrol", grids=["g3"])) as patrol:
        assert [b["id"] for b in patrol.get("/buildings", params={"site": site_id}).json()] == ["b20", "b21", "b22"]
        rules = {o["rule"] for o in patrol.get("/equipment/outages", params={"site": site_id}).json()["outages"]}
        assert rules == {"lift-trapped"}
        seen = patrol.get("/equipment", params={"site": site_id}).json()["buildings"][0]
        assert {a["rule"] for a in seen["alerts"]} == {"lift-trapped"}
