"""Hikvision ISAPI event parsing, from the published EventNotificationAlert format (no server needed)."""

from __future__ import annotations

import base64
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from devices import DRIVERS
from devices.hikvision.isapi import VendorError, parse, parse_xml
from tests.devices.hikvision_payloads import jpeg, multipart, sample

SHANGHAI = ZoneInfo("Asia/Shanghai")


def one(content_type: str, body: bytes, kind: str = "plate_camera", **kw: object) -> dict:
    note = parse(content_type, body, "cam1", kind, SHANGHAI, **kw)
    assert len(note.messages) == 1, note
    message = note.messages[0]
    assert message.kind == kind
    schema = DRIVERS[kind].schema_for(message.channel, message.payload["type"])
    assert schema is not None
    schema.model_validate(orjson.loads(orjson.dumps(message.payload)))  # what the pipeline will accept
    return message.payload


def test_anpr_xml() -> None:
    event = one("application/xml", sample("anpr.xml"))
    assert event["type"] == "plate" and event["plate"] == "辽E12345"
    assert (event["color"], event["confidence"], event["direction"]) == ("blue", 0.97, "in")
    assert event["ts"] == "2024-03-01T08:15:30+08:00"
    assert event["msg_id"] == "hik:0f3a8e2c-5b1d-4c7e-9a6f-2d8b1e4c7a90"
    assert event["vehicle_color"] == "white" and event["vendor"] == "hikvision" and event["vendor_channel"] == "1"
    assert "snapshot" not in event


def test_anpr_json_and_forward_meaning_out() -> None:
    event = one("application/json", sample("anpr.json"))
    assert (event["plate"], event["color"], event["confidence"], event["direction"]) == \
        ("辽A8D9F2", "green", 0.88, "out")
    assert one("application/json", sample("anpr.json"), forward="out")["direction"] == "in"
    # No UUID: the id is derived from the event itself, so a retry (even flagged as a retransmission) is the same.
    again = orjson.loads(sample("anpr.json"))
    again["isDataRetransmission"] = True
    assert one("application/json", orjson.dumps(again))["msg_id"] == event["msg_id"]
    other = dict(again, dateTime="2024-03-01T18:02:12+08:00")
    assert one("application/json", orjson.dumps(other))["msg_id"] != event["msg_id"]


def test_anpr_multipart_takes_the_plate_picture() -> None:
    plate, scene = jpeg(seed=1), jpeg(320, 180, seed=2)
    for subtype in ("form-data", "mixed"):
        content_type, body = multipart(sample("anpr.xml"), "anpr.xml",
                                       {"detectionPicture.jpg": scene, "licensePlatePicture.jpg": plate}, subtype)
        event = one(content_type, body)
        assert base64.b64decode(event["snapshot"]) == plate
        assert event["plate"] == "辽E12345"


def test_unreadable_plate_with_a_picture_is_a_snapshot_event() -> None:
    text = sample("anpr.xml").replace("辽E12345".encode(), "无车牌".encode())
    content_type, body = multipart(text, "anpr.xml", {"detectionPicture.jpg": jpeg()})
    event = one(content_type, body)
    assert "plate" not in event and event["snapshot"]
    with pytest.raises(VendorError) as failed:
        parse("application/xml", text, "cam1", "plate_camera")
    assert failed.value.reason == "invalid_payload"


def test_face_match_xml_and_json() -> None:
    event = one("application/xml", sample("face_match.xml"), "face_camera")
    assert (event["person_id"], event["similarity"], event["face_library"]) == ("R-0803-2", 0.91, "2")
    assert event["snapshot_url"].startswith("http://192.168.1.70/picture/")
    event = one("application/json", sample("face_match.json"), "face_camera")
    assert (event["person_id"], event["similarity"], event["face_library"]) == ("E-0304", 0.86, "3C8A2F")


def test_face_capture_with_only_a_picture() -> None:
    face = jpeg(40, 48, seed=3)
    content_type, body = multipart(sample("face_capture.xml"), "faceCapture.xml",
                                   {"background.jpg": jpeg(320, 180), "faceImage.jpg": face})
    event = one(content_type, body, "face_camera")
    assert "person_id" not in event and base64.b64decode(event["snapshot"]) == face
    # The firmware sent no UTC offset: read in the site's time zone.
    assert datetime.fromisoformat(event["ts"]) == datetime(2024, 3, 1, 21, 12, 5, tzinfo=SHANGHAI)


def test_heartbeat_and_ignored_events() -> None:
    note = parse("application/xml", sample("heartbeat.xml"), "cam1", "plate_camera")
    assert [(m.channel, m.payload["type"]) for m in note.messages] == [("telemetry", "heartbeat")]
    note = parse("application/xml", sample("vmd.xml"), "cam1", "plate_camera")
    assert note.messages == [] and "VMD" in (note.ignored or "")


@pytest.mark.parametrize(("name", "reason"), [("malformed.xml", "not_xml"), ("doctype.xml", "xml_doctype")])
def test_bad_xml_is_refused(name: str, reason: str) -> None:
    with pytest.raises(VendorError) as failed:
        parse("application/xml", sample(name), "cam1", "plate_camera")
    assert failed.value.reason == reason


@pytest.mark.parametrize(("content_type", "body", "reason"), [
    ("application/xml", b"", "empty"),
    ("application/json", b"[1, 2]", "not_event"),
    ("application/json", b"{not json", "not_json"),
    ("application/xml", b"<Other/>", "not_event"),
    ("text/plain", b"hello", "not_event"),
    ("multipart/form-data", b"--x\r\n\r\n--x--", "bad_multipart"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\r\n--x--\r\n",
     "no_event_part"),
    ("application/xml", b"<EventNotificationAlert><dateTime>x</dateTime></EventNotificationAlert>", "not_event"),
])
def test_malformed_bodies(content_type: str, body: bytes, reason: str) -> None:
    with pytest.raises(VendorError) as failed:
        parse(content_type, body, "cam1", "plate_camera")
    assert failed.value.reason == reason


def test_wrong_kind_and_bad_fields() -> None:
    with pytest.raises(VendorError) as failed:
        parse("application/xml", sample("anpr.xml"), "face1", "face_camera")
    assert failed.value.reason == "kind_mismatch"
    bad = sample("anpr.xml").replace(b"<confidenceLevel>97<", b"<confidenceLevel>high<")
    with pytest.raises(VendorError) as failed:
        parse("application/xml", bad, "cam1", "plate_camera")
    assert failed.value.reason == "invalid_field"


def test_xml_is_namespace_agnostic_and_keeps_repeats() -> None:
    doc = parse_xml(b'<a xmlns="http://www.hikvision.com/ver10/XMLSchema"><b>1</b><b>2</b><c><d> x </d></c></a>')
    assert doc == {"a": {"b": ["1", "2"], "c": {"d": "x"}}}
