"""The rounds API on both databases, against the real stack: points and their QR codes, routes, check-ins (the
code, resends, the phone's clock, the round they count for), round history and who may see it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from tests.conftest import serving_api
from tests.helpers import ApiServer, clear_retained

pytestmark = [pytest.mark.broker]
ZONE = ZoneInfo("Asia/Shanghai")


def patrol_site(site_id: str, missed_in: timedelta | None = None) -> dict[str, Any]:
    """A site whose route `night` (points p1-p3, team t1) has a round running now: its schedule time is this
    minute, site time. With `missed_in`, a second route `gate` has one point (`p4`) whose window runs out that
    long from now."""
    now = datetime.now(UTC)
    local = now.astimezone(ZONE).replace(second=0, microsecond=0)
    start = local.astimezone(UTC)
    routes: list[dict[str, Any]] = [{
        "id": f"{site_id}-night", "name": "夜间巡更", "team": f"{site_id}-t1",
        "points": [{"point": f"{site_id}-p{i}", "within": "40m"} for i in (1, 2, 3)],
        "schedule": {"times": [f"{local:%H:%M}"]}, "duration": "1h"}]
    if missed_in is not None:
        within = int((now + missed_in - start).total_seconds())
        routes.append({"id": f"{site_id}-gate", "name": "大门巡查", "team": f"{site_id}-t1",
                       "points": [{"point": f"{site_id}-p4", "within": f"{within}s"}],
                       "schedule": {"times": [f"{local:%H:%M}"]}, "duration": "1h"})
    return {"sites": [{
        "id": site_id, "name": "巡更社区", "timezone": "Asia/Shanghai",
        "teams": [{"id": f"{site_id}-t1", "name": "夜班巡防队"}, {"id": f"{site_id}-t2", "name": "白班巡防队"}],
        "grids": [{"id": f"{site_id}-g1", "name": "第一网格", "team": f"{site_id}-t1"},
                  {"id": f"{site_id}-g2", "name": "第二网格", "team": f"{site_id}-t2"}],
        "patrol_points": [{"id": f"{site_id}-p{i}", "name": name, "grid": f"{site_id}-g1", "location": {"building": b}}
                          for i, name, b in ((1, "东门岗", "E"), (2, "3号楼", "3"), (3, "地下车库", "B1"),
                                             (4, "北门", "N"))],
        "patrol_routes": routes,
    }]}


@pytest.fixture
def rounds_api(db_url: str, mosquitto_url: str, tmp_path: Path, site_id: str) -> Iterator[ApiServer]:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(patrol_site(site_id), allow_unicode=True), encoding="utf-8")
    with serving_api(mosquitto_url, db_url, path) as server:
        yield server
    clear_retained(mosquitto_url, site_id)


def scan(client: httpx.Client, point: dict[str, Any], at: datetime | None = None, **extra: Any) -> httpx.Response:
    body = {"point": point["id"], "code": point["code"], "client_id": str(uuid.uuid4()),
            "at": (at or datetime.now(UTC)).isoformat(), "method": "qr", **extra}
    return client.post("/patrol/checkins", json=body)


def test_points_routes_and_their_codes(rounds_api: ApiServer, site_id: str) -> None:
    api = rounds_api
    patrol = api.token("patrol", name="巡逻员 张建国", team=f"{site_id}-t1")
    with api.admin() as admin, api.client(patrol) as member:
        points = {p["id"]: p for p in admin.get("/patrol/points", params={"site": site_id}).json()}
        p1 = points[f"{site_id}-p1"]
        assert p1["url"] == f"http://127.0.0.1:8080/p/{p1['id']}.{p1['code']}" and len(p1["code"]) >= 16
        seen = member.get("/patrol/points", params={"site": site_id}).json()
        assert {p["name"] for p in seen} >= {"东门岗"} and all(p["code"] is None and p["url"] is None for p in seen)
        assert member.get(f"/patrol/points/{p1['id']}/qr.svg").status_code == 403  # codes: config:write only

        svg = admin.get(f"/patrol/points/{p1['id']}/qr.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.text.startswith("<svg") and "<path" in svg.text
        sheet = admin.get("/patrol/qr-sheet", params={"site": site_id})
        assert sheet.status_code == 200 and sheet.text.count("<svg") == 4 and "地下车库" in sheet.text
        assert f"{p1['id']}.{p1['code']}" in sheet.text
        assert admin.get("/patrol/qr-sheet", params={"site": "nowhere"}).status_code == 404

        # the link the code holds leads a phone's camera app to the console's check-in
        with httpx.Client(base_url=api.url) as root:
            opened = root.get(f"/p/{p1['id']}.{p1['code']}")
            assert opened.status_code == 303 and opened.headers["location"] == (
                f"/console/#/patrol/p/{p1['id']}.{p1['code']}")
            assert root.get("/p/not-a-code").status_code == 404

        # a new point, its code replaced (the printed one retired), refused while a route lists it
        made = admin.post("/patrol/points", json={"id": f"{site_id}-p5", "site": site_id, "name": "南门",
                                                  "grid": f"{site_id}-g1"})
        assert made.status_code == 201, made.text
        assert admin.post("/patrol/points", json={"id": f"{site_id}-p5", "site": site_id, "name": "x"}).status_code \
            == 409
        assert admin.put(f"/patrol/points/{site_id}-p5", json={"site": site_id, "name": "南门岗"}).json()["code"] \
            == made.json()["code"]
        renewed = admin.post(f"/patrol/points/{site_id}-p5/code").json()
        assert renewed["code"] != made.json()["code"]
        assert admin.post("/patrol/points", json={"id": "x-p6", "site": site_id, "name": "x",
                                                  "grid": f"{site_id}-g9"}).status_code == 422
        assert admin.delete(f"/patrol/points/{p1['id']}").status_code == 409

        route = {"site": site_id, "name": "白天巡查", "team": f"{site_id}-t2",
                 "points": [{"point": f"{site_id}-p5", "within": "15m"}],
                 "schedule": {"times": ["09:00", "15:00"], "days": ["sat", "sun"]}, "duration": "30m"}
        created = admin.post("/patrol/routes", json={"id": f"{site_id}-day", **route})
        assert created.status_code == 201, created.text
        assert created.json()["schedule"] == {"times": ["09:00", "15:00"], "days": ["sat", "sun"]}
        for bad in ({"points": [{"point": "nope"}]}, {"schedule": {"times": ["9am"]}}, {"team": "nope"},
                    {"points": [{"point": f"{site_id}-p5", "within": "1h"}]}, {"duration": "2d"}):
            refused = admin.put(f"/patrol/routes/{site_id}-day", json={**route, **bad})
            assert refused.status_code == 422, (bad, refused.text)
        assert member.get("/patrol/routes", params={"site": site_id, "team": f"{site_id}-t2"}).json()[0]["id"] == \
            f"{site_id}-day"
        assert member.put(f"/patrol/routes/{site_id}-day", json=route).status_code == 403
        assert admin.delete(f"/patrol/routes/{site_id}-day").status_code == 204
        assert admin.delete(f"/patrol/points/{site_id}-p5").status_code == 204


def test_a_member_completes_a_round_by_checking_in(rounds_api: ApiServer, site_id: str) -> None:
    api = rounds_api
    member = api.token("patrol", name="巡逻员 张建国", team=f"{site_id}-t1")
    other = api.token("patrol", name="巡逻员 王五", team=f"{site_id}-t2")
    with api.admin() as admin:
        points = {p["id"]: p for p in admin.get("/patrol/points", params={"site": site_id}).json()}
    p1, p2, p3, p4 = (points[f"{site_id}-p{i}"] for i in (1, 2, 3, 4))
    with api.client(member) as phone, api.client(other) as stranger, api.admin() as admin:
        first = scan(phone, p1)
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["round"] is not None and body["round_state"] == "open" and body["member"] == "巡逻员 张建国"
        assert body["point_name"] == "东门岗" and body["completed"] is False and body["note"] is None
        again = phone.post("/patrol/checkins", json={"point": p1["id"], "code": p1["code"],
                                                     "client_id": body["client_id"], "at": body["at"]})
        assert again.status_code == 200 and again.json()["id"] == body["id"]  # the offline queue's resend

        wrong = scan(phone, {**p2, "code": "A" * 16})
        assert wrong.status_code == 422 and "not the code" in wrong.json()["detail"]
        assert scan(phone, {**p2, "id": "nowhere"}).status_code == 404
        old = scan(phone, p2, at=datetime.now(UTC) - timedelta(hours=25))
        assert old.status_code == 422 and "too old" in old.json()["detail"]
        ahead = scan(phone, p2, at=datetime.now(UTC) + timedelta(minutes=10))
        assert ahead.status_code == 201 and "ahead" in ahead.json()["note"]
        assert datetime.fromisoformat(ahead.json()["at"]) <= datetime.now(UTC)
        outside = scan(phone, p4)  # on no route of this site (without `missed_in`)
        assert outside.status_code == 201 and outside.json()["round"] is None
        elsewhere = scan(stranger, p3)  # another team's member: not their round
        assert elsewhere.status_code == 201 and elsewhere.json()["round"] is None
        assert scan(admin, p3, client_id="x").status_code == 422  # a client id is made by the phone: long enough

        done = scan(phone, p3, method="manual")
        assert done.status_code == 201 and done.json()["completed"] is True and done.json()["round_state"] == \
            "completed"
        round_id = done.json()["round"]

        shown = phone.get(f"/patrol/rounds/{round_id}").json()
        assert (shown["state"], shown["checked"], shown["total"], shown["team_name"]) == (
            "completed", 3, 3, "夜班巡防队")
        assert [(p["name"], p["state"], p["member"], p["method"]) for p in shown["points"]] == [
            ("东门岗", "checked", "巡逻员 张建国", "qr"), ("3号楼", "checked", "巡逻员 张建国", "qr"),
            ("地下车库", "checked", "巡逻员 张建国", "manual")]
        assert stranger.get(f"/patrol/rounds/{round_id}").status_code == 404  # another team's round
        assert stranger.get("/patrol/rounds").json() == []
        history = admin.get("/patrol/rounds", params={"site": site_id, "member": "巡逻员 张建国"}).json()
        assert [r["id"] for r in history] == [round_id]
        assert admin.get("/patrol/rounds", params={"member": "巡逻员 王五"}).json() == []
        assert admin.get("/patrol/rounds", params={"team": f"{site_id}-t1", "state": "completed"}).json()[0][
            "id"] == round_id
        mine = phone.get("/patrol/checkins").json()
        assert len(mine) == 4 and {c["point"] for c in mine} == {p1["id"], p2["id"], p3["id"], p4["id"]}
        assert {c["member"] for c in stranger.get("/patrol/checkins").json()} == {"巡逻员 王五"}
        # a maintenance token may read the history, not check in
        maintenance = api.token("maintenance")
        with api.client(maintenance) as staff:
            assert staff.get(f"/patrol/rounds/{round_id}").status_code == 200
            assert scan(staff, p1).status_code == 403
