"""Patrol teams through the real API, and a roster change that reroutes the next SOS at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from kernel.timeutil import utcnow
from tests.api.test_sites import assert_deleted, assert_forbidden, assert_refused
from tests.helpers import ApiServer, Publisher, wait_for

pytestmark = [pytest.mark.broker]


def test_teams_crud_rosters_conflicts_and_permissions(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                      db_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, db_url)
    with api.admin() as admin:
        own = admin.get("/teams/g1-team").json()  # made from the site file's `patrol_team`
        assert (own["site"], own["name"], own["grids"], own["roster"]) == (site_id, "一组", ["g1"], [])

        team = {"id": "t2", "site": site_id, "name": "夜巡队",
                "members": [{"name": "李四", "phone": "13900000000"}, {"name": "赵六"}],
                "roster": [{"name": "李四", "days": ["fri", "sat"], "from": "22:00", "to": "06:00"}]}
        created = admin.post("/teams", json=team)
        assert created.status_code == 201, created.text
        assert created.json() == {**team, "grids": [], "members": [{"name": "李四", "phone": "13900000000"},
                                                                   {"name": "赵六", "phone": None}],
                                  "roster": [{"name": "李四", "phone": None, "days": ["fri", "sat"], "from": "22:00",
                                              "to": "06:00"}]}
        assert admin.post("/teams", json=team).status_code == 409
        assert admin.put("/grids/g1", json={"site": site_id, "name": "第一网格", "team": "t2"}).status_code == 200
        assert admin.get("/teams/t2").json()["grids"] == ["g1"]
        # `grids` is read-only: set on the grid, ignored on the team.
        renamed = admin.put("/teams/t2", json={**team, "name": "夜巡二队", "roster": [], "grids": ["g9"]})
        assert renamed.status_code == 200 and renamed.json()["grids"] == ["g1"] and renamed.json()["roster"] == []
        assert admin.put("/teams/t3", json={"site": site_id, "name": "三队"}).status_code == 201
        assert [t["id"] for t in admin.get("/teams", params={"site": site_id}).json()] == ["g1-team", "t2", "t3"]

        for roster, expect in (([{"name": "x", "days": ["Mon"]}], "days"),
                               ([{"name": "x", "from": "8am", "to": "20:00"}], "from"),
                               ([{"name": "x", "to": "20:00"}], "give both"),
                               ([{"name": ""}], "name")):
            answer = admin.put("/teams/t3", json={"site": site_id, "name": "三队", "roster": roster})
            assert answer.status_code == 422 and expect in answer.text, answer.text
        assert admin.put("/teams/t3", json={"site": "ghost", "name": "三队"}).status_code == 422
        assert admin.put("/teams/t3", json={"site": site_id, "name": "三队",
                                            "members": [{"name": "x", "phone": "1\n2"}]}).status_code == 422
        # A team covering grids can neither leave their site nor be deleted.
        assert admin.post("/sites", json={"id": "s2", "name": "邻村"}).status_code == 201
        assert admin.put("/teams/t2", json={**team, "site": "s2"}).status_code == 409
        in_use = admin.delete("/teams/t2")
        assert in_use.status_code == 409 and "g1" in in_use.json()["detail"]
        assert admin.put("/teams/t3", json={"site": "s2", "name": "三队"}).status_code == 200
        assert_deleted(admin, "/teams/g1-team")
        assert_refused(admin, "GET", "/teams/{}")
        assert_refused(admin, "PUT", "/teams/{}", json={"site": site_id, "name": "x"})

    patrol = api.token("patrol", team="t2")
    with api.client(patrol) as http:
        assert http.get("/teams/t2").status_code == 200
        assert_forbidden(http, ("PUT", "/teams/t2", team), ("POST", "/teams", {**team, "id": "t9"}),
                         ("DELETE", "/teams/t3", None))


def test_nobody_on_duty_skips_the_grid_patrol(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                              sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    with api.admin() as admin:
        team = admin.get("/teams/g1-team").json()
        # A shift two to three hours from now (site time, Asia/Shanghai): nobody is on duty at the press.
        local = utcnow() + timedelta(hours=8)
        shift = {"name": "张三", "from": f"{(local.hour + 2) % 24:02d}:00", "to": f"{(local.hour + 3) % 24:02d}:00"}
        answer = admin.put("/teams/g1-team", json={**team, "roster": [shift]})
        assert answer.status_code == 200, answer.text

        publisher = Publisher(mosquitto_url, site_id)
        try:
            publisher.send("eb1", "elder_button", "event", type="press")
            alert = wait_for(lambda: admin.get("/alerts", params={"site": site_id}).json(), timeout=5,
                             what="the SOS alert")[0]
        finally:
            publisher.close()
        detail = admin.get(f"/alerts/{alert['id']}").json()
    steps = [(h["action"], h["level"]) for h in detail["history"]]
    assert steps[:3] == [("created", 0), ("skipped", 0), ("notified", 1)], steps
    assert "一组" in detail["history"][1]["note"] and detail["level"] == 1
