"""Rules through the real API: the active set, checking, and rule files that take effect at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.api.test_sites import assert_deleted, assert_forbidden
from tests.api.test_watchlists import stored_events
from tests.helpers import ApiServer, Publisher, wait_for

pytestmark = [pytest.mark.broker]

HELD_OPEN_10S = """\
rules:
  - id: gate-held-open
    name: 门禁未关 10 秒 / Gate held open 10 s
    severity: minor
    when:
      event:
        kind: access_gate
        type: held_open
        where:
          seconds: {gt: 10}
"""
BROKEN = """\
rules:
  - id: gate-held-open
    name: broken
    severty: minor
    when:
      event: {kind: access_gate, type: held_opne}
"""


def test_rule_files_are_checked_stored_and_take_effect_at_once(make_api: Callable[..., ApiServer],
                                                               mosquitto_url: str, sqlite_url: str,
                                                               site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    publisher = Publisher(mosquitto_url, site_id)
    try:
        with api.admin() as admin:
            refused = admin.put("/rules/files/extra", json={"content": BROKEN})
            assert refused.status_code == 422
            errors = refused.json()["detail"]["errors"]
            assert {e["line"] for e in errors} == {4, 6}, errors
            assert any("severty" in e["reason"] for e in errors) and any("held_opne" in e["reason"] for e in errors)
            assert admin.get("/rules/files").json() == []

            # Under the pack's 60 s limit: stored, no alert.
            publisher.send("gate1", "access_gate", "event", type="held_open", seconds=20)
            wait_for(lambda: stored_events(api, device_id="gate1", type="held_open") == 1, timeout=5,
                     what="the first held_open")
            stored = admin.put("/rules/files/extra", json={"content": HELD_OPEN_10S})
            assert stored.status_code == 201, stored.text
            assert (stored.json()["name"], stored.json()["updated_by"]) == ("extra", "admin")
            msg_id = publisher.send("gate1", "access_gate", "event", type="held_open", seconds=20)
            alerts = wait_for(lambda: admin.get("/alerts", params={"site": site_id}).json(), timeout=5,
                              what="the held-open alert")
            assert [(a["rule"], a["count"]) for a in alerts] == [("gate-held-open", 1)]
            assert [e["msg_id"] for e in alerts[0]["evidence"]] == [msg_id]

            # A broken version changes nothing.
            assert admin.put("/rules/files/extra", json={"content": BROKEN}).status_code == 422
            assert admin.get("/rules/files/extra").json()["content"] == HELD_OPEN_10S
            files = admin.get("/rules/files").json()
            assert [f["name"] for f in files] == ["extra"] and "content" not in files[0]
            rules = {r["id"]: r for r in admin.get("/rules").json()}
            assert rules["gate-held-open"]["source"] == "api:extra"
            assert rules["gate-held-open"]["name"] == "门禁未关 10 秒 / Gate held open 10 s"
            # Another API file may not reuse an id of this one (which would win would depend on order).
            duplicate = admin.put("/rules/files/other", json={"content": HELD_OPEN_10S})
            assert duplicate.status_code == 422 and "already used in api:extra" in duplicate.text

            assert_deleted(admin, "/rules/files/extra")
            wait_for(lambda: {r["id"]: r for r in admin.get("/rules").json()}["gate-held-open"]["source"] == "pack",
                     timeout=5, what="the pack's rule back")
    finally:
        publisher.close()


def test_active_rules_builtin_pack_check_and_permissions(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                         sqlite_url: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    patrol = api.token("patrol", grids=["g1"])
    with api.client(patrol) as http:
        rules = {r["id"]: r for r in http.get("/rules").json()}
        assert rules["elder-sos"] == {
            "id": "elder-sos", "name": "老人一键呼救 / Elder SOS", "description": rules["elder-sos"]["description"],
            "severity": "critical", "audience": "patrol", "enabled": True, "silenceable": False,
            "condition": "event", "source": "pack"}
        assert rules["elder-welfare-check"]["condition"] == "absence"
        builtin = http.get("/rules/builtin").json()["content"]
        assert "id: elder-sos" in builtin

        assert http.post("/rules/check", json={"content": builtin}).json() == {"ok": True, "errors": []}
        checked = http.post("/rules/check", json={"content": BROKEN})
        assert checked.status_code == 200 and checked.json()["ok"] is False
        assert [e["line"] for e in checked.json()["errors"]] == [4, 6]
        for hostile in ("[" * 1_000, "\x00", "", "rules: 5", "!!python/object:os.system {}"):
            answer = http.post("/rules/check", json={"content": hostile})
            assert answer.status_code == 200 and answer.json()["ok"] is False, hostile[:20]
        assert http.post("/rules/check", json={"content": "x" * 600_000}).status_code == 422  # too large

        assert_forbidden(http, ("PUT", "/rules/files/extra", {"content": HELD_OPEN_10S}),
                         ("DELETE", "/rules/files/extra", None))
        assert http.get("/rules/files").json() == []

    with api.admin() as admin:
        nested = admin.put("/rules/files/deep", json={"content": "[" * 1_000})
        assert nested.status_code == 422 and nested.json()["detail"]["errors"][0]["line"] == 1
        for name in ("x" * 65, "a.b", "雪"):
            assert admin.put(f"/rules/files/{name}", json={"content": HELD_OPEN_10S}).status_code == 422, name
            assert admin.get(f"/rules/files/{name}").status_code == 422, name
        assert admin.get("/rules/files/..%2Fetc").status_code in (404, 422)
