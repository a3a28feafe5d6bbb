"""Hikvision HTTP pushes end to end: camera body → API → the gateway's processing queue → dedup, rules, alerts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.devices.hikvision_payloads import jpeg, multipart, sample
from tests.helpers import ApiServer, count_events, wait_for

pytestmark = [pytest.mark.broker]
XML = {"Content-Type": "application/xml"}


def test_hikvision_events_reach_rules_and_alerts(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                 sqlite_url: str, site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    integrator = api.token("integrator")
    with api.admin() as admin:
        assert admin.post("/watchlists/blacklist/entries", json={"value": "辽E12345"}).status_code in (200, 201)
    url = f"{api.url}/api/v1/vendors/hikvision/{site_id}/cam1"

    # A camera that cannot send headers: the token in the notification URL.
    first = httpx.post(url, params={"token": integrator}, content=sample("anpr.xml"), headers=XML, timeout=15)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 1, "duplicates": 0, "events": ["hik:0f3a8e2c-5b1d-4c7e-9a6f-2d8b1e4c7a90"],
                            "ignored": None}
    with api.admin() as admin:
        alert = wait_for(lambda: [a for a in admin.get("/alerts").json() if a["rule"] == "plate-blacklist"],
                         what="the plate-blacklist alert")[0]
    assert alert["device_id"] == "cam1" and alert["severity"] == "major"

    # The camera retries (it did not see our answer): processed once.
    with api.client(integrator) as http:
        again = http.post(f"/vendors/hikvision/{site_id}/cam1", content=sample("anpr.xml"), headers=XML)
        assert again.status_code == 200 and again.json()["accepted"] == 0 and again.json()["duplicates"] == 1
        with api.services.sessions() as session:
            assert count_events(session, device_id="cam1", type="plate") == 1

        # Multipart with the plate picture, JSON event part: stored with the snapshot.
        plate = jpeg(seed=7)
        content_type, body = multipart(sample("anpr.json"), "anpr.json", {"licensePlatePicture.jpg": plate},
                                       event_type="application/json")
        posted = http.post(f"/vendors/hikvision/{site_id}/cam1", content=body,
                           headers={"Content-Type": content_type})
        assert posted.status_code == 200 and posted.json()["accepted"] == 1, posted.text
        with api.services.sessions() as session:
            assert count_events(session, device_id="cam1", type="plate") == 2
            from sqlalchemy import select

            from kernel.db.models import Event, Snapshot
            stored = session.scalars(select(Event).where(Event.msg_id == posted.json()["events"][0])).one()
            assert "snapshot" not in stored.data  # the picture is kept apart, and expires (docs/privacy.md)
            picture = session.get(Snapshot, stored.data["snapshot_id"])
            assert picture.content == plate and picture.event_id == stored.id and picture.task is None
            assert (stored.data["plate"], stored.data["direction"]) == ("辽A8D9F2", "out")

        # Face comparison and face capture on the face camera.
        face = http.post(f"/vendors/hikvision/{site_id}/face1", content=sample("face_match.json"),
                         headers={"Content-Type": "application/json"})
        assert face.status_code == 200 and face.json()["accepted"] == 1, face.text
        content_type, body = multipart(sample("face_capture.xml"), "faceCapture.xml", {"faceImage.jpg": jpeg()})
        capture = http.post(f"/vendors/hikvision/{site_id}/face1", content=body,
                            headers={"Content-Type": content_type})
        assert capture.status_code == 200 and capture.json()["accepted"] == 1, capture.text

        # Heartbeats keep the camera online; other event types are answered (so the camera stops retrying).
        beat = http.post(f"/vendors/hikvision/{site_id}/cam1", content=sample("heartbeat.xml"), headers=XML)
        assert beat.status_code == 200 and beat.json()["accepted"] == 1 and beat.json()["events"] == []
        vmd = http.post(f"/vendors/hikvision/{site_id}/cam1", content=sample("vmd.xml"), headers=XML)
        assert vmd.status_code == 200 and vmd.json()["accepted"] == 0 and "VMD" in vmd.json()["ignored"]

        # Bad bodies: 422 with the reason, kept as dead letters.
        for name, reason in (("malformed.xml", "hikvision_not_xml"), ("doctype.xml", "hikvision_xml_doctype")):
            bad = http.post(f"/vendors/hikvision/{site_id}/cam1", content=sample(name), headers=XML)
            assert bad.status_code == 422 and reason in bad.json()["detail"], bad.text
        wrong_kind = http.post(f"/vendors/hikvision/{site_id}/face1", content=sample("anpr.xml"), headers=XML)
        assert wrong_kind.status_code == 422
        assert http.post(f"/vendors/hikvision/{site_id}/gate1", content=sample("anpr.xml"),
                         headers=XML).status_code == 422
        assert http.post(f"/vendors/hikvision/{site_id}/nocam", content=sample("anpr.xml"),
                         headers=XML).status_code == 404
        assert http.post("/vendors/hikvision/other/cam1", content=sample("anpr.xml"),
                         headers=XML).status_code == 404
        huge = http.post(f"/vendors/hikvision/{site_id}/cam1", content=b"<" + b"x" * (4 * 1024 * 1024), headers=XML)
        assert huge.status_code == 413

    with api.admin() as admin:
        letters = admin.get("/dead-letters", params={"device_id": "cam1"}).json()
        reasons = {d["reason"] for d in letters}
        assert {"hikvision_not_xml", "hikvision_xml_doctype"} <= reasons
        assert all(d["topic"].startswith(f"http/hikvision/{site_id}/") for d in letters)


def test_roles_and_tokens(make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str,
                          site_id: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    url = f"{api.url}/api/v1/vendors/hikvision/{site_id}/cam1"
    patrol = api.token("patrol", grids=["g1"])
    assert httpx.post(url, content=sample("anpr.xml"), headers=XML).status_code == 401
    assert httpx.post(url, params={"token": "forged"}, content=sample("anpr.xml"), headers=XML).status_code == 401
    assert httpx.post(url, params={"token": patrol}, content=sample("anpr.xml"), headers=XML).status_code == 403
    with api.client(patrol) as http:
        assert http.post(f"/vendors/hikvision/{site_id}/cam1", content=sample("anpr.xml"),
                         headers=XML).status_code == 403
    with api.services.sessions() as session:
        assert count_events(session, device_id="cam1") == 0
