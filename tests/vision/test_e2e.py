"""Snapshot in → alert out: cameras that send only a picture, read by the gateway's recognition processes.

Real photographs only: the plate development set in ../shared/vision/plates and
the face photos of the face_recognition sdist (vision/evalset.py fetches them).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from kernel.db.models import Event, Snapshot
from tests.conftest import unavailable
from tests.helpers import ApiServer, Publisher, wait_for
from vision.evalset import EvalSetMissing, FaceSet, face_set, plate_set

pytestmark = [pytest.mark.broker]
T = TypeVar("T")
READ_TIMEOUT = 60.0
"""The first picture starts a recognition process and loads its models (a few seconds on a loaded machine)."""


def _or_skip(load: Callable[[], T]) -> T:
    """The photo set, or a skip with the reason (a failure on CI, where the photos must be there)."""
    try:
        return load()
    except EvalSetMissing as exc:
        if os.environ.get("CI") == "true":
            unavailable(str(exc))
        pytest.skip(str(exc))


def _plates() -> list[tuple[Path, str]]:
    return _or_skip(plate_set)


def _faces() -> FaceSet:
    return _or_skip(face_set)


def camera_jpeg(path: Path, max_side: int = 800) -> str:
    """The photo as a camera would send it: at most `max_side` pixels, JPEG, base64 (fits a 256 KiB message)."""
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    assert ok
    return base64.b64encode(encoded.tobytes()).decode()


def _alerts(http: httpx.Client, rule: str) -> list[dict]:
    return [a for a in http.get("/alerts").json() if a["rule"] == rule]


def test_plate_picture_becomes_a_blacklist_alert(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                 db_url: str, site_id: str) -> None:
    photo, plate = next((p, t) for p, t in _plates() if t == "川AF058Y")
    api = make_api(mosquitto_url, db_url)
    with api.admin() as admin:
        assert admin.post("/watchlists/blacklist/entries", json={"value": plate}).status_code in (200, 201)
    publisher = Publisher(mosquitto_url, site_id)
    try:
        publisher.send("cam1", "plate_camera", "event", msg_id="shot-1", type="plate", direction="in",
                       snapshot=camera_jpeg(photo))
    finally:
        publisher.close()
    with api.admin() as admin:
        alert = wait_for(lambda: _alerts(admin, "plate-blacklist"), READ_TIMEOUT, 0.2, "the blacklist alert")[0]
        evidence = alert["evidence"][0]["data"]
        assert evidence["plate"] == plate and evidence["read_by"] == "anju" and evidence["direction"] == "in"
        assert evidence["source_msg_id"] == "shot-1" and evidence["color"] == "blue"

        picture = admin.get(f"/snapshots/{evidence['snapshot_id']}")
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        assert picture.content[:3] == b"\xff\xd8\xff" and plate.encode("ascii", "backslashreplace").decode() \
            in picture.headers["x-anju-outcome"]
    with api.services.sessions() as session:
        camera_event, reading = session.scalars(select(Event).where(
            Event.device_id == "cam1", Event.type == "plate").order_by(Event.id)).all()
        assert "snapshot" not in camera_event.data and "plate" not in camera_event.data
        assert camera_event.data["snapshot_id"] == reading.data["snapshot_id"]
        row = session.get(Snapshot, camera_event.data["snapshot_id"])
        assert row.task is None and row.event_id == camera_event.id and row.outcome.startswith(f"plate {plate}")


def _face_event(publisher: Publisher, photo: Path) -> str:
    msg_id = f"face-{uuid.uuid4().hex[:8]}"
    publisher.send("face1", "face_camera", "event", msg_id=msg_id, type="face", direction="in",
                   snapshot=camera_jpeg(photo))
    return msg_id


def _reading(api: ApiServer, msg_id: str) -> dict:
    """The gateway's reading of the picture sent as `msg_id` (waits for it)."""
    def find() -> dict | None:
        with api.services.sessions() as session:
            for event in session.scalars(select(Event).where(Event.device_id == "face1", Event.type == "face")):
                if event.data.get("source_msg_id") == msg_id:
                    return event.data
        return None
    return wait_for(find, READ_TIMEOUT, 0.2, f"the reading of {msg_id}")


def test_face_enrolment_match_watchlist_export_and_erasure(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                           db_url: str, site_id: str) -> None:
    faces = _faces()
    api = make_api(mosquitto_url, db_url)
    with api.admin() as admin:
        person = {"site": site_id, "name": "王某", "role": "watchlisted"}
        assert admin.put("/persons/p-obama", json=person).status_code == 201
        photo = base64.b64encode(faces.enrolment()["obama"].read_bytes()).decode()
        both = admin.post("/persons/p-obama/faces", json={"photos": [{"name": "obama.jpg", "data": photo},
                                                                     {"name": "not-a-photo", "data": "AAAA"}]})
        assert both.status_code == 201, both.text
        stored, refused = both.json()
        assert stored["face_id"] and stored["box"] and refused["face_id"] is None and "readable" in refused["reason"]
        assert admin.post("/persons/p-obama/faces", json={"photos": [{"data": "AAAA"}]}).status_code == 422
        assert admin.post("/watchlists/watchlist/entries", json={"value": "p-obama"}).status_code in (200, 201)

    publisher = Publisher(mosquitto_url, site_id)
    try:
        probe = next(p for who, p in faces.probes() if who == "obama")
        known = _reading(api, _face_event(publisher, probe))
        assert known["person_id"] == "p-obama" and known["similarity"] >= 0.9 and known["read_by"] == "anju"
        stranger = _reading(api, _face_event(publisher, faces.enrolment()["biden"]))
        assert "person_id" not in stranger and stranger["nearest"] == "p-obama" and stranger["similarity"] < 0.9
    finally:
        publisher.close()

    with api.admin() as admin:
        alert = wait_for(lambda: _alerts(admin, "face-watchlist"), 10, 0.2, "the watchlist alert")
        assert len(alert) == 1 and alert[0]["evidence"][0]["data"]["person_id"] == "p-obama"

        export = admin.get("/persons/p-obama/export").json()
        assert export["person"]["name"] == "王某" and len(export["faces"]) == 1
        assert export["faces"][0]["photo"] is None  # embeddings only, unless privacy.keep_enrolment_photos
        with api.services.sessions() as session:  # the API names a picture by its public id only
            public = session.get(Snapshot, known["snapshot_id"]).public_id
        assert [s["snapshot_id"] for s in export["sightings"]] == [public]
        assert {a["action"] for a in export["access_log"]} >= {"create", "enrol"}

        erased = admin.delete("/persons/p-obama/data")
        assert erased.status_code == 200 and erased.json() == {"faces": 1, "sightings": 1, "pictures": 1}
        assert admin.get("/persons/p-obama").status_code == 404
        assert admin.get(f"/snapshots/{public}").status_code == 404
        log = admin.get("/audit/person-data", params={"person": "p-obama"}).json()
        assert [e["action"] for e in log][:2] == ["erase", "export"] and log[0]["actor"] == "admin"
    with api.services.sessions() as session:
        sighting = session.scalars(select(Event).where(Event.data["snapshot_id"].as_integer() == known["snapshot_id"],
                                                       Event.data["read_by"].as_string() == "anju")).one()
        assert sighting.data["person_id"] == "erased"
    # Forgotten faces are no longer matched: the same photo is now a stranger.
    publisher = Publisher(mosquitto_url, site_id)
    try:
        again = _reading(api, _face_event(publisher, probe))
        assert "person_id" not in again and again["similarity"] == 0
    finally:
        publisher.close()


def test_hikvision_face_capture_with_a_large_picture_becomes_a_watchlist_alert(
        make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str, site_id: str) -> None:
    """A Hikvision face capture (multipart, a 3-megapixel scene JPEG over the 256 KiB message limit): the
    picture is re-encoded to fit, read, matched to the enrolled person, and the watchlist alert names them."""
    from tests.devices.hikvision_payloads import multipart, sample

    faces = _faces()
    scene = next(p for who, p in faces.probes() if who == "obama" and p.name == "obama3.jpg").read_bytes()
    assert len(scene) > 256 * 1024
    api = make_api(mosquitto_url, sqlite_url)
    with api.admin() as admin:
        assert admin.put("/persons/p-w1", json={"site": site_id, "name": "重点人员"}).status_code == 201
        photo = base64.b64encode(faces.enrolment()["obama"].read_bytes()).decode()
        assert admin.post("/persons/p-w1/faces", json={"photos": [{"data": photo}]}).status_code == 201
        assert admin.post("/watchlists/watchlist/entries", json={"value": "p-w1"}).status_code in (200, 201)
    content_type, body = multipart(sample("face_capture.xml"), "faceCapture.xml", {"faceImage.jpg": scene})
    with api.client(api.token("integrator")) as http:
        posted = http.post(f"/vendors/hikvision/{site_id}/face1", content=body, headers={"Content-Type": content_type})
        assert posted.status_code == 200 and posted.json()["accepted"] == 1, posted.text
    with api.admin() as admin:
        alert = wait_for(lambda: _alerts(admin, "face-watchlist"), READ_TIMEOUT, 0.2, "the watchlist alert")[0]
        data = alert["evidence"][0]["data"]
        assert data["person_id"] == "p-w1" and data["read_by"] == "anju" and data["similarity"] >= 0.9
    with api.services.sessions() as session:
        camera_event = session.scalars(select(Event).where(Event.msg_id == posted.json()["events"][0])).one()
        assert camera_event.data["snapshot_resized"] is True
        assert session.get(Snapshot, camera_event.data["snapshot_id"]).size <= 256 * 1024
