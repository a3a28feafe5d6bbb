"""Issue 18: field reports and video patrol, through the real API (uvicorn, the gateway on the real broker).

A patrol member's report with a photo becomes an alert like a device's: routed to the grid's team (its
history says who was notified), announced on the alerts topic, the photo kept as a camera picture (served by
the snapshots route to the grid's patrol, re-encoded without what the phone put beside the picture). A camera's
`attributes.live_url` reaches the alert detail only when it is an http(s) address.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from patrol.reports import MAX_SIDE, image_size
from tests.helpers import ApiServer, Publisher, Subscriber, wait_for

pytestmark = [pytest.mark.broker]


def photo(width: int = 2400, height: int = 1200, exif_gps: bool = True) -> bytes:
    """A phone-sized JPEG made with OpenCV; with an APP1 segment standing for what a phone adds (the place)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 1] = np.linspace(0, 255, width, dtype=np.uint8)
    cv2.rectangle(image, (width // 4, height // 4), (width // 2, height // 2), (0, 0, 255), -1)
    cv2.putText(image, "ANJU", (width // 3, height * 3 // 4), cv2.FONT_HERSHEY_SIMPLEX, 6, (255, 255, 255), 12)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    content = encoded.tobytes()
    if exif_gps:
        app1 = b"Exif\x00\x00GPS 41.8057N 123.4315E secret-serial"
        content = content[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + content[2:]
    return content


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def test_a_report_with_a_photo_becomes_an_alert_routed_to_the_grids_team(
        make_api: Callable[..., ApiServer], mosquitto_url: str, db_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, db_url)
    patrol = api.token("patrol", name="巡逻员 王五", grids=["g1"])
    sent = photo()
    assert image_size(sent) == (2400, 1200)
    topic = Subscriber(mosquitto_url, f"anju/v1/{site_id}/alerts", qos=1)
    try:
        with api.client(patrol) as http:
            answer = http.post("/reports", json={"what": "井盖缺失", "where": "3号楼东侧", "severity": "major",
                                                 "photo": b64(sent)})
            assert answer.status_code == 201, answer.text
            alert = answer.json()
            assert (alert["rule"], alert["type"], alert["kind"], alert["audience"]) == \
                ("field-report", "report", "field_report", "patrol")
            assert (alert["site"], alert["grid"], alert["severity"], alert["state"]) == (site_id, "g1", "major", "open")
            assert alert["title"] == "井盖缺失 @ 3号楼东侧" and alert["device"] is None
            steps = {h["action"]: h for h in alert["history"]}
            assert steps.keys() >= {"created", "notified", "reported"}, alert["history"]
            assert steps["notified"]["level"] == 0 and steps["reported"]["by"] == "巡逻员 王五"
            evidence = alert["evidence"][0]
            assert evidence["reporter"] == {"name": "巡逻员 王五", "role": "patrol", "team": None}
            assert evidence["data"]["what"] == "井盖缺失" and evidence["data"]["where"] == "3号楼东侧"
            public = evidence["data"]["snapshot_id"]
            assert isinstance(public, str) and len(public) >= 20  # the picture's public id, as a camera's

            assert http.get(f"/alerts/{alert['id']}").json()["history"] == alert["history"]
            assert [a["id"] for a in http.get("/alerts", params={"state": "open"}).json()] == [alert["id"]]
            picture = http.get(f"/snapshots/{public}")
            assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        kept = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
        assert kept is not None and max(kept.shape[:2]) == MAX_SIDE  # re-encoded, resized
        assert b"GPS" not in picture.content and b"secret-serial" not in picture.content
        on_topic = wait_for(lambda: [a for a in topic.json() if a["id"] == alert["id"]], what="it on the alerts topic")
        assert on_topic[0]["action"] == "created" and on_topic[0]["evidence"][0]["data"]["snapshot_id"] == public
    finally:
        topic.close()

    with api.admin() as admin:
        assert admin.post("/grids", json={"id": "g2", "site": site_id, "name": "第二网格"}).status_code == 201
    with api.client(api.token("patrol", grids=["g2"])) as other:  # another grid's patrol sees neither
        assert other.get(f"/alerts/{alert['id']}").status_code == 404
        assert other.get(f"/snapshots/{public}").status_code == 404
    with api.admin() as admin:
        audit = admin.get("/audit/person-data", params={"action": "view_snapshot"}).json()
        assert any(public in (row.get("detail") or "") and row["actor"] == "巡逻员 王五" for row in audit), audit
        # The lifecycle is a device alert's: acknowledged and resolved by whoever handles it.
        assert admin.post(f"/alerts/{alert['id']}/ack", json={}).status_code == 200
        done = admin.post(f"/alerts/{alert['id']}/resolve", json={"note": "已放置警示锥，通知物业",
                                                                     "disposition": "referred"})
        assert done.status_code == 200 and done.json()["state"] == "resolved"


def test_refusals_say_why_and_store_nothing(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                            sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    patrol = api.token("patrol", grids=["g1"])
    small = photo(320, 240, exif_gps=False)
    huge_png = b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + (20000).to_bytes(4, "big") \
        + (20000).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00" + b"\x00" * 64
    cases = {
        "not base64": ({"photo": "@@@not base64@@@"}, "not base64"),
        "not an image": ({"photo": b64(b"GIF89a" + b"\x00" * 100)}, "not a JPEG or PNG"),
        "a JPEG in name only": ({"photo": b64(b"\xff\xd8\xff\xe0" + b"\x00" * 200)}, "not a readable"),
        "too large": ({"photo": b64(small + b"\x00" * (4 * 1024 * 1024))}, "larger than 4 MiB"),
        "too many pixels": ({"photo": b64(huge_png)}, "megapixels"),
        "bad severity": ({"severity": "urgent"}, "severity"),
        "nothing said": ({"what": " "}, None),
        "nowhere": ({"where": None}, "where"),
        "unknown field": ({"extra": 1}, None),
    }
    with api.client(patrol) as http:
        for name, (change, reason) in cases.items():
            body = {"what": "可疑人员", "where": "南门", **change}
            answer = http.post("/reports", json={k: v for k, v in body.items() if v is not None})
            assert answer.status_code == 422, f"{name}: {answer.status_code} {answer.text[:300]}"
            assert reason is None or reason in answer.text, f"{name}: {answer.text[:300]}"
        outside = http.post("/reports", json={"what": "可疑人员", "where": "南门", "grid": "nope"})
        assert outside.status_code == 403 and "its grids" in outside.json()["detail"]
        oversized = http.post("/reports", content=b"{" + b" " * (7 * 1024 * 1024) + b"}",
                              headers={"content-type": "application/json"})
        assert oversized.status_code == 413
    with api.admin() as admin:  # not bound to a grid: it must say which, and one that exists
        assert "which grid" in admin.post("/reports", json={"what": "x", "where": "y"}).text
        unknown = admin.post("/reports", json={"what": "x", "where": "y", "grid": "nope"})
        assert unknown.status_code == 422 and "no grid 'nope'" in unknown.text
        assert admin.get("/alerts").json() == []  # nothing was raised by a refused report
        # A report by the phone's position alone, no photo, critical: a person in danger.
        placed = admin.post("/reports", json={"what": "老人摔倒", "location": {"lat": 41.8057, "lon": 123.4315},
                                              "grid": "g1", "severity": "critical"})
        assert placed.status_code == 201, placed.text
        assert placed.json()["title"] == "老人摔倒 @ 41.80570,123.43150" and placed.json()["severity"] == "critical"
        assert "snapshot_id" not in placed.json()["evidence"][0]["data"]
    with api.client(api.token("integrator")) as integrator:
        assert integrator.post("/reports", json={"what": "x", "where": "y", "grid": "g1"}).status_code == 403


@pytest.mark.parametrize(("url", "shown"), [
    ("https://cams.example/hls/cam1.m3u8", True),
    ("http://10.0.0.7/doc/page/preview.asp", True),
    ("javascript:alert(document.cookie)", False),
    ("JavaScript:alert(1)", False),
    ("data:text/html,<script>alert(1)</script>", False),
    ("http://admin:12345@10.0.0.7/", False),
    ("https://cams.example/\nx", False),
    ("//cams.example/x", False),
])
def test_a_cameras_live_view_reaches_its_alert_only_as_an_http_address(
        make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str, site_id: str, url: str,
        shown: bool) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    with api.admin() as admin:
        assert admin.patch("/devices/cam1", json={"attributes": {"live_url": url}}).status_code == 200
        assert admin.get("/devices/cam1").json()["attributes"]["live_url"] == url  # stored as given
        assert admin.post("/watchlists/blacklist/entries", json={"value": "辽A77777"}).status_code in (200, 201)
    publisher = Publisher(mosquitto_url, site_id)
    try:
        publisher.send("cam1", "plate_camera", "event", type="plate", plate="辽A77777", direction="in")
    finally:
        publisher.close()
    with api.client(api.token("patrol", grids=["g1"])) as http:
        alert = wait_for(lambda: [a for a in http.get("/alerts").json() if a["rule"] == "plate-blacklist"],
                         what="the blacklist alert")[0]
        device = http.get(f"/alerts/{alert['id']}").json()["device"]
    assert device["id"] == "cam1"
    assert device["live_url"] == (url if shown else None)
