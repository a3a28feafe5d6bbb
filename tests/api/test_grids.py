"""Grids through the real API, on SQLite and PostgreSQL: a grid names its patrol team, of its own site."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.api.test_sites import assert_deleted, assert_forbidden, assert_refused
from tests.helpers import ApiServer

pytestmark = [pytest.mark.broker]


def test_grids_crud_team_checks_conflicts_and_permissions(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                          db_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, db_url)
    with api.admin() as admin:
        assert admin.get("/grids", params={"site": site_id}).json() == [
            {"id": "g1", "site": site_id, "name": "第一网格", "team": "g1-team", "wait": "5m"}]
        created = admin.post("/grids", json={"id": "g2", "site": site_id, "name": "第二网格", "team": "g1-team"})
        assert created.status_code == 201, created.text
        assert created.json() == {"id": "g2", "site": site_id, "name": "第二网格", "team": "g1-team", "wait": "5m"}
        assert admin.post("/grids", json={"id": "g2", "site": site_id, "name": "x"}).status_code == 409
        assert admin.get("/teams/g1-team").json()["grids"] == ["g1", "g2"]

        replaced = admin.put("/grids/g2", json={"site": site_id, "name": "第二网格", "wait": "3m"})
        assert replaced.status_code == 200 and replaced.json()["team"] is None and replaced.json()["wait"] == "3m"
        assert admin.put("/grids/g3", json={"site": site_id, "name": "第三网格"}).status_code == 201
        assert [g["id"] for g in admin.get("/grids", params={"site": site_id}).json()] == ["g1", "g2", "g3"]
        assert admin.get("/grids", params={"site": "elsewhere"}).json() == []

        # The team must be a team of the grid's own site.
        assert admin.post("/sites", json={"id": "s2", "name": "邻村"}).status_code == 201
        assert admin.post("/teams", json={"id": "s2-team", "site": "s2", "name": "邻村巡防"}).status_code == 201
        foreign = admin.put("/grids/g3", json={"site": site_id, "name": "x", "team": "s2-team"})
        assert foreign.status_code == 422 and "not a team of site" in foreign.json()["detail"]
        assert admin.put("/grids/g3", json={"site": site_id, "name": "x", "team": "ghost"}).status_code == 422
        assert admin.put("/grids/g3", json={"site": "ghost", "name": "x"}).status_code == 422
        bad_wait = admin.put("/grids/g3", json={"site": site_id, "name": "x", "wait": "five minutes"})
        assert bad_wait.status_code == 422 and "unit" in bad_wait.json()["detail"]
        assert admin.put("/grids/g3", json={"site": site_id, "name": "x", "wait": "400d"}).status_code == 422
        # A grid with devices cannot move to another site (its devices would be in a foreign grid).
        assert admin.put("/grids/g1", json={"site": "s2", "name": "x"}).status_code == 409
        assert admin.put("/grids/g3", json={"site": "s2", "name": "第三网格", "team": "s2-team"}).status_code == 200

        assert admin.get("/grids/ghost").status_code == 404
        assert_refused(admin, "GET", "/grids/{}")
        assert_refused(admin, "DELETE", "/grids/{}")
        in_use = admin.delete("/grids/g1")
        assert in_use.status_code == 409 and "devices" in in_use.json()["detail"]
        assert_deleted(admin, "/grids/g2")

    patrol = api.token("patrol", grids=["g1"])
    with api.client(patrol) as http:
        assert http.get("/grids/g1").status_code == 200
        assert_forbidden(http, ("POST", "/grids", {"id": "g9", "site": site_id, "name": "x"}),
                         ("PUT", "/grids/g1", {"site": site_id, "name": "x"}), ("DELETE", "/grids/g3", None))
