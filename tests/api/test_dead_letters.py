"""Dead letters through the real API: what the gateway refused, with the reason and the bytes it got."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from kernel.timeutil import utcnow
from tests.api.test_sites import assert_forbidden
from tests.helpers import ApiServer, Publisher, wait_for

pytestmark = [pytest.mark.broker]


def test_dead_letters_are_listed_filtered_and_counted(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                      sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    publisher = Publisher(mosquitto_url, site_id)
    try:
        publisher.raw(publisher.topic("plate_camera", "cam1", "event"), b'{"type": "plate", \xff')
        publisher.send("gate1", "access_gate", "event", type="held_open", seconds="long")
        publisher.send("cam9", "plate_camera", "event", type="plate", plate="辽E1")
    finally:
        publisher.close()
    integrator = api.token("integrator")
    with api.client(integrator) as http:
        def three() -> list[dict] | None:
            found = of_site(http.get("/dead-letters").json(), site_id)
            return found if len(found) == 3 else None

        mine = wait_for(three, timeout=5, what="three dead letters")
        assert [d["reason"] for d in mine] == ["unregistered_device", "invalid_payload", "not_json"]  # newest first
        not_json = mine[2]
        assert (not_json["device_id"], not_json["size"]) == ("cam1", 19)
        assert not_json["payload"] == '{"type": "plate", \ufffd'
        assert "seconds" in mine[1]["detail"]

        by_device = http.get("/dead-letters", params={"device_id": "gate1"}).json()
        assert [d["reason"] for d in by_device] == ["invalid_payload"]
        assert [d["id"] for d in http.get("/dead-letters", params={"reason": "not_json"}).json()] == [not_json["id"]]
        assert http.get("/dead-letters", params={"since": (utcnow() + timedelta(minutes=1)).isoformat()}).json() == []
        assert len(of_site(http.get("/dead-letters", params={"since": "2020-01-01T00:00:00"}).json(), site_id)) == 3
        assert len(http.get("/dead-letters", params={"limit": 1}).json()) == 1
        counts = {r["reason"]: r["count"] for r in http.get("/dead-letters/reasons").json()}
        assert counts["not_json"] == 1 and counts["invalid_payload"] == 1 and counts["unregistered_device"] >= 1

        for params in ({"limit": 1001}, {"limit": 0}, {"since": "yesterday"}, {"device_id": "../x"},
                       {"reason": "r" * 65}, {"since": "0001-01-01T00:00:00+05:00"}):
            assert http.get("/dead-letters", params=params).status_code == 422, params

    patrol = api.token("patrol", grids=["g1"])
    with api.client(patrol) as http:
        assert_forbidden(http, ("GET", "/dead-letters", None), ("GET", "/dead-letters/reasons", None))


def of_site(letters: list[dict], site: str) -> list[dict]:
    """Only this test's letters: the shared broker may hold retained messages of other sites."""
    return [d for d in letters if f"/{site}/" in d["topic"]]


def test_tolerated_deviations_are_listed_per_device_and_on_the_contract(
        make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str, site_id: str) -> None:
    """A message processed only after a repair is shown to the integrator: per device and reason, and per kind."""
    api = make_api(mosquitto_url, sqlite_url)
    publisher = Publisher(mosquitto_url, site_id)
    try:
        publisher.send("eb1", "elder_button", "event", type="PRESS", ts=int(utcnow().timestamp()))
        publisher.send("eb1", "elder_button", "event", type="press", ts=int(utcnow().timestamp()))
    finally:
        publisher.close()
    with api.client(api.token("integrator")) as http:
        def both() -> list[dict] | None:
            found = http.get("/deviations", params={"device_id": "eb1"}).json()
            counts = {d["reason"]: d["count"] for d in found}
            return found if counts == {"ts_seconds": 2, "type_case": 1} else None

        rows = {d["reason"]: d for d in wait_for(both, timeout=5, what="the two reasons counted")}
        assert rows["type_case"]["last_sent"] == "'PRESS'" and rows["type_case"]["field"] == "type"
        assert rows["ts_seconds"]["site"] == site_id and rows["ts_seconds"]["kind"] == "elder_button"
        assert http.get("/deviations", params={"reason": "ts_seconds", "site": site_id}).json()[0]["count"] == 2
        button = next(k for k in http.get("/contract").json()["kinds"] if k["kind"] == "elder_button")
        assert button["safety"] is True and button["aliases"]["sos"] == "press"
        assert {"reason": "ts_seconds", "count": 2, "devices": 1} in button["deviations"]
        assert http.get("/deviations", params={"device_id": "no such!"}).status_code == 422
    with api.client(api.token("patrol", grids=["g1"])) as http:
        assert http.get("/deviations").status_code == 403
