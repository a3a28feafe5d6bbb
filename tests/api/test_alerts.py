"""The alert endpoints and the live stream, end to end: device → Mosquitto → gateway → rules → API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.helpers import ApiServer, Publisher, Subscriber, wait_for

pytestmark = [pytest.mark.broker]


def next_change(ws: Any, timeout: float = 10) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=timeout))
    assert frame["type"] == "change", frame
    return frame


def test_sos_reaches_patrol_live_and_is_handled_through_the_api(
        make_api: Callable[..., ApiServer], broker_url: str, db_url: str, publisher: Publisher,
        site_id: str) -> None:
    api = make_api(broker_url, db_url)
    patrol = api.token("patrol", name="巡逻员 小张", grids=["g1"])
    app = Subscriber(broker_url, f"anju/v1/{site_id}/alerts", qos=1)
    try:
        with connect(api.ws_url("/alerts/stream", patrol)) as ws:
            hello = json.loads(ws.recv(timeout=5))
            assert hello["type"] == "hello"
            publisher.send("eb1", "elder_button", "event", type="press")
            created = next_change(ws)
            assert created["action"] == "created" and created["seq"] > hello["seq"]
            alert = created["alert"]
            assert (alert["rule"], alert["severity"], alert["state"], alert["device_id"]) == \
                ("elder-sos", "critical", "open", "eb1")

            with api.client(patrol) as http:
                listed = http.get("/alerts", params={"state": "open"}).json()
                assert [a["id"] for a in listed] == [alert["id"]]
                detail = http.get(f"/alerts/{alert['id']}").json()
                assert detail["device"]["location"] == {"building": "1", "unit": "2"}
                assert [h["action"] for h in detail["history"]][:2] == ["created", "notified"]

                acked = http.post(f"/alerts/{alert['id']}/ack", json={}).json()
                assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "巡逻员 小张"
                assert next_change(ws)["action"] == "acknowledged"
                assert http.post(f"/alerts/{alert['id']}/ack").status_code == 409  # already owned

                assert http.post(f"/alerts/{alert['id']}/resolve", json={"note": " "}).status_code == 422
                no_outcome = http.post(f"/alerts/{alert['id']}/resolve", json={"note": "好了"})
                assert no_outcome.status_code == 422 and "disposition" in no_outcome.json()["detail"]
                resolved = http.post(f"/alerts/{alert['id']}/resolve",
                                     json={"note": "老人摔倒，已联系家属送医 / fell, family called",
                                           "disposition": "handled"}).json()
                assert resolved["state"] == "resolved"
                last = next_change(ws)
                assert last["action"] == "resolved"
                history = [h["action"] for h in http.get(f"/alerts/{alert['id']}").json()["history"]
                           if not h["action"].startswith("notification_")]  # nobody here has a target: noted
                assert history == ["created", "notified", "acknowledged", "resolved"]
        # The alerts topic saw every change too, API-made ones included.
        wait_for(lambda: [m["action"] for m in app.json()] == ["created", "acknowledged", "resolved"],
                 what="every change on the alerts topic")
    finally:
        app.close()

    # A client that reconnects with the last seq it saw gets exactly what it missed.
    publisher.send("eb1", "elder_button", "event", type="press")
    with connect(api.ws_url("/alerts/stream", patrol, since=last["seq"])) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        missed = next_change(ws)
        assert missed["action"] == "created" and missed["seq"] > last["seq"]


def test_patrol_sees_only_its_grids_and_roles_are_enforced(
        make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    publisher = Publisher(mosquitto_url, site_id)
    publisher.send("eb1", "elder_button", "event", type="press")
    publisher.close()
    with api.admin() as admin:
        alert = wait_for(lambda: admin.get("/alerts").json(), what="the SOS alert")[0]
    with api.admin() as admin:
        metrics = admin.get("/metrics").text  # SPEC §3 lists it under /api/v1 too
    assert 'anju_open_alerts{severity="critical",state="open"} 1.0' in metrics
    assert 'anju_alert_changes_total{action="created",severity="critical"} 1.0' in metrics
    assert 'anju_messages_total{channel="event",kind="elder_button",outcome="accepted"} 1.0' in metrics
    assert "anju_rule_evaluations_total" in metrics and "anju_processing_seconds_bucket" in metrics
    other_grid = api.token("patrol", grids=["g1"])  # g1 is the test site's only grid
    with api.client(other_grid) as http:
        assert [a["id"] for a in http.get("/alerts").json()] == [alert["id"]]

    maintenance = api.token("maintenance")
    with api.client(maintenance) as http:
        assert http.get("/alerts").json() == []  # an SOS is a patrol alert
        assert http.get(f"/alerts/{alert['id']}").status_code == 404
        assert http.post("/tokens", json={"name": "x", "role": "admin"}).status_code == 403
    with api.client() as anonymous:
        assert anonymous.get("/alerts").status_code == 401
    with api.client("not-a-token") as forged:
        assert forged.get("/alerts").status_code == 401
