"""Persons through the real API: admin only, and never leaked through another resource."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.api.test_sites import assert_deleted, assert_forbidden, assert_refused
from tests.helpers import ApiServer

pytestmark = [pytest.mark.broker]

ELDER = {"name": "王秀英", "grid": "g1", "role": "elder", "welfare_check": True, "devices": ["eb1"],
         "credentials": ["card-8812"], "plates": [],
         "attributes": {"age": 82, "family": [{"name": "王强", "phone": "13700000000", "relation": "son"}]}}


def test_persons_crud_validation_and_privacy(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                             sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    with api.admin() as admin:
        created = admin.put("/persons/p1", json={"site": site_id, **ELDER})
        assert created.status_code == 201, created.text
        body = created.json()
        assert {k: body[k] for k in ("id", "site", *ELDER)} == {"id": "p1", "site": site_id, **ELDER}
        replaced = admin.put("/persons/p1", json={"site": site_id, "name": "王秀英"})
        assert replaced.status_code == 200
        assert (replaced.json()["role"], replaced.json()["devices"], replaced.json()["attributes"]) == \
            ("resident", [], {})
        assert admin.put("/persons/p2", json={"site": site_id, **ELDER, "name": "李大爷"}).status_code == 201
        assert [p["id"] for p in admin.get("/persons", params={"site": site_id}).json()] == ["p1", "p2"]
        assert [p["id"] for p in admin.get("/persons", params={"role": "elder"}).json()] == ["p2"]
        assert admin.get("/persons", params={"site": "elsewhere"}).json() == []
        assert admin.get("/persons/p2").json()["attributes"]["family"][0]["phone"] == "13700000000"

        for bad in ({"site": "ghost", "name": "x"}, {"site": site_id, "name": "x", "grid": "ghost"},
                    {"site": site_id}, {"site": site_id, "name": "x", "role": "King"},
                    {"site": site_id, "name": "x", "devices": ["../eb1"]},
                    {"site": site_id, "name": "x", "devices": ["gate1"]},  # not an elder button
                    {"site": site_id, "name": "x", "devices": ["ghost"]},
                    {"site": site_id, "name": "x", "plates": ["辽E" + "1" * 200]},
                    {"site": site_id, "name": "x", "welfare_check": "maybe"}):
            assert admin.put("/persons/p3", json=bad).status_code == 422, bad
        assert admin.get("/persons/p3").status_code == 404
        assert_refused(admin, "GET", "/persons/{}")
        assert_refused(admin, "PUT", "/persons/{}", json={"site": site_id, "name": "x"})

        # Person data is in no other answer (an elder's family phone, credentials...).
        conflict = admin.delete(f"/sites/{site_id}")
        assert conflict.status_code == 409 and "王秀英" not in conflict.text
        for path in ("/sites", f"/sites/{site_id}", "/grids", "/teams", f"/sites/{site_id}/escalation", "/rules"):
            text = admin.get(path).text
            assert "李大爷" not in text and "13700000000" not in text and "card-8812" not in text, path

    for role in ("patrol", "maintenance", "integrator"):
        token = api.token(role, grids=["g1"]) if role == "patrol" else api.token(role)
        with api.client(token) as http:
            assert_forbidden(http, ("GET", "/persons", None), ("GET", "/persons/p2", None),
                             ("PUT", "/persons/p2", {"site": site_id, "name": "x"}), ("DELETE", "/persons/p2", None))

    with api.admin() as admin:
        assert_deleted(admin, "/persons/p1")
        assert [p["id"] for p in admin.get("/persons").json()] == ["p2"]
