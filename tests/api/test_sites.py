"""Sites and their escalation chains through the real API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import ApiServer

pytestmark = [pytest.mark.broker]

HOSTILE_IDS = ["x" * 65, "..", "a b", "雪", "a;drop"]
"""Ids the API must refuse with a 4xx: too long, path tricks, spaces, non-ASCII, SQL."""


def assert_refused(http: Any, method: str, path: str, **kwargs: Any) -> None:
    """Hostile ids in the path get a 4xx (never a 5xx, never a success)."""
    for bad in HOSTILE_IDS:
        response = http.request(method, path.format(bad), **kwargs)
        assert 400 <= response.status_code < 500, (bad, response.status_code, response.text)
    assert http.request(method, path.format("..%2F..%2Fetc"), **kwargs).status_code in (404, 405, 422)


def assert_forbidden(http: Any, *calls: tuple[str, str, dict[str, Any] | None]) -> None:
    """Each `(method, path, body)` answers 403: the caller's role may not do it."""
    for method, path, body in calls:
        response = http.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.status_code, response.text)


def assert_deleted(http: Any, path: str) -> None:
    """DELETE answers 204, then the thing is gone: GET and a second DELETE answer 404."""
    assert http.delete(path).status_code == 204, path
    assert http.get(path).status_code == 404, path
    assert http.delete(path).status_code == 404, path


def test_sites_crud_conflicts_and_permissions(make_api: Callable[..., ApiServer], mosquitto_url: str, db_url: str,
                                              site_id: str) -> None:
    api = make_api(mosquitto_url, db_url)
    with api.admin() as admin:
        assert site_id in [s["id"] for s in admin.get("/sites").json()]
        created = admin.post("/sites", json={"id": "s2", "name": "新村社区", "address": "和平路 1 号"})
        assert created.status_code == 201, created.text
        assert created.json() == {"id": "s2", "name": "新村社区", "timezone": "Asia/Shanghai", "address": "和平路 1 号"}
        assert admin.post("/sites", json={"id": "s2", "name": "again"}).status_code == 409
        replaced = admin.put("/sites/s2", json={"name": "新村", "timezone": "Asia/Urumqi"})
        assert replaced.status_code == 200 and replaced.json()["timezone"] == "Asia/Urumqi"
        assert replaced.json()["address"] is None  # replace, not merge
        assert admin.put("/sites/s3", json={"name": "第三社区"}).status_code == 201
        assert admin.get("/sites/s3").json()["name"] == "第三社区"

        bad_tz = admin.put("/sites/s3", json={"name": "x", "timezone": "Mars/Olympus"})
        assert bad_tz.status_code == 422 and "IANA" in bad_tz.text
        assert admin.put("/sites/s3", json={"name": "x", "timezone": "../../etc/passwd"}).status_code == 422
        assert admin.put("/sites/s3", json={"name": " "}).status_code == 422
        assert admin.put("/sites/s3", json={"name": "n" * 201}).status_code == 422
        assert admin.put("/sites/s3", json={"name": "a\x00b"}).status_code == 422
        assert admin.post("/sites", json={"id": "../x", "name": "x"}).status_code == 422
        assert admin.get("/sites/nope").status_code == 404
        assert_refused(admin, "GET", "/sites/{}")
        assert_refused(admin, "PUT", "/sites/{}", json={"name": "x"})

        conflict = admin.delete(f"/sites/{site_id}")
        assert conflict.status_code == 409 and "grids" in conflict.json()["detail"]
        assert_deleted(admin, "/sites/s3")

    patrol = api.token("patrol", grids=["g1"])
    with api.client(patrol) as http:
        assert http.get("/sites/s2").status_code == 200
        assert http.get("/sites/s2/escalation").status_code == 200
        assert_forbidden(http, ("POST", "/sites", {"id": "s4", "name": "x"}), ("PUT", "/sites/s2", {"name": "x"}),
                         ("PUT", "/sites/s2/escalation", {"levels": []}), ("DELETE", "/sites/s2", None))
    with api.client() as anonymous:
        assert anonymous.get("/sites").status_code == 401


def test_escalation_chain_is_replaced_whole_and_validated(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                          db_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, db_url)
    path = f"/sites/{site_id}/escalation"
    with api.admin() as admin:
        default = admin.get(path).json()
        assert default["site"] == site_id and default["default"] is True
        assert [lv["wait"] for lv in default["levels"]] == ["10m", "15m", None]

        chain = {"levels": [
            {"name": "社区居委会", "wait": "10m",
             "roster": [{"name": "王主任", "phone": "13800000000", "days": ["mon", "tue"], "from": "08:00",
                         "to": "18:00"}, {"name": "夜班", "from": "18:00", "to": "08:00"}]},
            {"name": "街道办", "wait": "1h30m"},
            {"name": "区应急中心"},
        ]}
        stored = admin.put(path, json=chain)
        assert stored.status_code == 200, stored.text
        assert stored.json() == admin.get(path).json()
        body = stored.json()
        assert body["default"] is False
        assert [(lv["name"], lv["wait"]) for lv in body["levels"]] == [("社区居委会", "10m"), ("街道办", "1h30m"),
                                                                       ("区应急中心", None)]
        assert body["levels"][0]["roster"][0] == {"name": "王主任", "phone": "13800000000", "days": ["mon", "tue"],
                                                  "from": "08:00", "to": "18:00"}
        assert body["levels"][0]["roster"][1] == {"name": "夜班", "phone": None, "days": None, "from": "18:00",
                                                  "to": "08:00"}

        shorter = admin.put(path, json={"levels": [{"name": "社区", "wait": "5m"}, {"name": "街道"}]})
        assert [lv["name"] for lv in shorter.json()["levels"]] == ["社区", "街道"]

        def refused(levels: list[dict[str, Any]], expect: str) -> None:
            answer = admin.put(path, json={"levels": levels})
            assert answer.status_code == 422, answer.text
            assert expect in str(answer.json()["detail"]), answer.text

        refused([{"name": "社区"}, {"name": "街道"}], "only the last level may have no `wait`")
        refused([{"name": "社区", "wait": "10"}], "write a number and a unit")
        refused([{"name": "社区", "wait": "0m"}], "longer than zero")
        refused([{"name": "社区", "roster": [{"name": "王", "days": ["monday"]}]}], "days")
        refused([{"name": "社区", "roster": [{"name": "王", "from": "25:00", "to": "08:00"}]}], "from")
        refused([{"name": "社区", "roster": [{"name": "王", "from": "08:00"}]}], "give both `from` and `to`")
        refused([{"name": "社区", "roster": [{"name": "王", "from": "08:00", "to": "08:00"}]}], "same time")
        refused([{"name": "社区", "roster": [{"name": "王", "shift": "day"}]}], "shift")
        refused([{"name": f"L{i}", "wait": "1m"} for i in range(21)], "20")
        # Nothing refused changed the stored chain.
        assert [lv["name"] for lv in admin.get(path).json()["levels"]] == ["社区", "街道"]

        assert admin.put(path, json={"levels": []}).json()["default"] is True
        assert admin.get("/sites/nope/escalation").status_code == 404
        assert admin.put("/sites/nope/escalation", json={"levels": []}).status_code == 404
        assert_refused(admin, "GET", "/sites/{}/escalation")
