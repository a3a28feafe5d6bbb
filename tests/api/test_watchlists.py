"""Watchlists through the real API, and a plate put on the blacklist that raises an alert at the next sighting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.test_sites import assert_forbidden
from tests.helpers import ApiServer, Publisher, count_events, wait_for

pytestmark = [pytest.mark.broker]


def stored_events(api: ApiServer, **where: Any) -> int:
    """Events the gateway has stored so far (a fresh session each time: a held one would see a frozen snapshot)."""
    with api.services.sessions() as session:
        return count_events(session, **where)


def test_watchlist_entries_and_permissions(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                           sqlite_url: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    with api.admin() as admin:
        assert admin.get("/watchlists").json() == []
        assert admin.get("/watchlists/blacklist").json() == {"list": "blacklist", "entries": []}
        added = admin.post("/watchlists/blacklist/entries", json={"value": " 辽E99999 ", "note": "被盗车辆"})
        assert added.status_code == 201, added.text
        entry = added.json()
        assert (entry["value"], entry["note"], entry["added_by"]) == ("辽E99999", "被盗车辆", "admin")
        again = admin.post("/watchlists/blacklist/entries", json={"value": "辽E99999", "note": "other"})
        assert again.status_code == 201 and again.json() == entry  # idempotent: the first entry stays
        assert admin.post("/watchlists/residents/entries", json={"value": "辽E12345"}).status_code == 201
        lists = admin.get("/watchlists").json()
        assert [(wl["list"], [e["value"] for e in wl["entries"]]) for wl in lists] == [
            ("blacklist", ["辽E99999"]), ("residents", ["辽E12345"])]
        assert admin.get("/watchlists/blacklist").json()["entries"] == [entry]

        for bad in ({"value": ""}, {"value": "   "}, {"value": "x" * 129}, {"value": "a\x00b"}, {},
                    {"value": "x", "note": "n" * 2001}):
            assert admin.post("/watchlists/blacklist/entries", json=bad).status_code == 422, bad
        for name in ("Black", "x" * 65, "a b", "雪"):
            assert admin.get(f"/watchlists/{name}").status_code == 422, name
            assert admin.post(f"/watchlists/{name}/entries", json={"value": "x"}).status_code == 422, name

        assert admin.delete("/watchlists/blacklist/entries/辽E99999").status_code == 204
        assert admin.delete("/watchlists/blacklist/entries/辽E99999").status_code == 404
        assert admin.delete("/watchlists/blacklist/entries/..").status_code in (404, 405)
        assert admin.delete("/watchlists/blacklist/entries/" + "x" * 129).status_code == 422
        assert admin.get("/watchlists/blacklist").json()["entries"] == []

    patrol = api.token("patrol", grids=["g1"])
    with api.client(patrol) as http:
        assert http.get("/watchlists/residents").status_code == 200
        assert_forbidden(http, ("POST", "/watchlists/blacklist/entries", {"value": "辽E1"}),
                         ("DELETE", "/watchlists/residents/entries/辽E12345", None))


def test_blacklisted_plate_raises_an_alert_at_once(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                   sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    publisher = Publisher(mosquitto_url, site_id)
    try:
        # Seen before it is on the list: stored, no alert.
        publisher.send("cam1", "plate_camera", "event", type="plate", plate="辽E99999", direction="in")
        wait_for(lambda: stored_events(api, device_id="cam1", type="plate") == 1, timeout=5, what="the first sighting")
        with api.admin() as admin:
            assert admin.post("/watchlists/blacklist/entries", json={"value": "辽E99999"}).status_code == 201
            msg_id = publisher.send("cam1", "plate_camera", "event", type="plate", plate="辽E99999", direction="in")
            alerts = wait_for(lambda: admin.get("/alerts", params={"site": site_id}).json(), timeout=5,
                              what="the blacklist alert")
    finally:
        publisher.close()
    assert [(a["rule"], a["count"]) for a in alerts] == [("plate-blacklist", 1)]
    assert [e["msg_id"] for e in alerts[0]["evidence"]] == [msg_id]
