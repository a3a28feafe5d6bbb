"""Silences through the real API: set with an owner and a reason, never for an SOS, ended without being erased."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from kernel.timeutil import utcnow
from tests.api.test_sites import assert_forbidden
from tests.helpers import ApiServer

pytestmark = [pytest.mark.broker]


def test_silences_are_set_refused_listed_and_ended(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                   sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    now = utcnow()
    in_an_hour = (now + timedelta(hours=1)).isoformat()
    maintenance = api.token("maintenance", name="维修 老陈")
    with api.client(maintenance) as http:
        created = http.post("/silences", json={"kind": "maintenance", "device": "gate1", "rule": "gate-forced-open",
                                               "reason": "更换门禁控制器 / replacing the controller",
                                               "ends_at": in_an_hour})
        assert created.status_code == 201, created.text
        silence = created.json()
        assert (silence["owner"], silence["kind"], silence["device"], silence["active"]) == \
            ("维修 老陈", "maintenance", "gate1", True)
        later = http.post("/silences", json={"site": site_id, "reason": "演练 / drill",
                                             "starts_at": in_an_hour,
                                             "ends_at": (now + timedelta(hours=2)).isoformat()})
        assert later.status_code == 201 and later.json()["active"] is False

        def refused(body: dict, expect: str) -> None:
            answer = http.post("/silences", json={"reason": "test", "ends_at": in_an_hour, **body})
            assert answer.status_code == 422, answer.text
            assert expect in str(answer.json()["detail"]), answer.text

        refused({"rule": "elder-sos"}, "can never be silenced")
        refused({"rule": "fence-alarm", "site": site_id}, "can never be silenced")
        refused({"rule": "no-such-rule"}, "no rule")
        refused({}, "at least a site, grid, device or rule")
        refused({"device": "ghost"}, "no device")
        refused({"grid": "ghost"}, "no grid")
        refused({"site": site_id, "ends_at": (now - timedelta(minutes=1)).isoformat()}, "end after it starts")
        refused({"site": site_id, "ends_at": (now + timedelta(days=31)).isoformat()}, "30 days")
        refused({"site": site_id, "ends_at": "2030-01-01T00:00:00"}, "timezone")
        refused({"site": site_id, "ends_at": "0001-01-01T00:00:00+05:00"}, "out of range")
        refused({"site": site_id, "reason": "  "}, "reason")
        refused({"site": site_id, "kind": "forever"}, "kind")
        refused({"site": "../etc"}, "site")

        everything = http.get("/silences").json()
        assert [s["id"] for s in everything] == [later.json()["id"], silence["id"]]  # newest first
        assert [s["id"] for s in http.get("/silences", params={"active": "true"}).json()] == [silence["id"]]
        assert [s["id"] for s in http.get("/silences", params={"active": "false"}).json()] == [later.json()["id"]]

        ended = http.delete(f"/silences/{silence['id']}")
        assert ended.status_code == 200 and ended.json()["active"] is False
        assert datetime.fromisoformat(ended.json()["ends_at"]) <= utcnow()
        assert http.get("/silences", params={"active": "true"}).json() == []
        assert len(http.get("/silences").json()) == 2  # kept, for the record
        assert http.delete(f"/silences/{silence['id']}").status_code == 200  # ending it again changes nothing
        assert http.delete("/silences/999999").status_code == 404
        for bad in ("abc", "0", str(2**63), "1.5", "..%2F1"):
            assert http.delete(f"/silences/{bad}").status_code in (404, 405, 422), bad
        assert http.get("/silences", params={"limit": 1001}).status_code == 422

    patrol = api.token("patrol", grids=["g1"])
    with api.client(patrol) as http:
        assert len(http.get("/silences").json()) == 2
        assert_forbidden(http, ("POST", "/silences", {"site": site_id, "reason": "x", "ends_at": in_an_hour}),
                         ("DELETE", f"/silences/{silence['id']}", None))
