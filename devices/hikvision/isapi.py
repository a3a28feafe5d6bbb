"""Hikvision ISAPI event notifications (HTTP "alarm host" / listening-host pushes) → canonical Anju events.

Built from the published ISAPI `EventNotificationAlert` format (XML, namespace
`http://www.hikvision.com/ver20/XMLSchema` or `ver10`, or its JSON form with the
same field names), as posted by cameras configured with an HTTP notification host:

- `eventType` `ANPR` (licence-plate capture): `ANPR/licensePlate`, `ANPR/confidenceLevel` (0-100),
  `ANPR/plateColor`, `ANPR/direction` (`forward`/`reverse`), `dateTime`, `UUID` → a `plate_camera` `plate`
  event; the picture parts `licensePlatePicture.jpg` / `detectionPicture.jpg` → `snapshot`.
- `faceCapture` / `FaceDetection` / `faceSnap` (a face was captured, not recognised) → a `face_camera` `face`
  event with only the `snapshot` (`faceImage`, else `background`) or `snapshot_url` (the event's picture URL).
- face comparison (`alarmResult`, `faceSnapMatch`, `faceContrast`, or a capture carrying a match): the face
  library (`FDID`/`FDLib`), the person (`PID`/`FPID`) and `similarity` (0-1 or 0-100) → `face` with
  `person_id` and `similarity`.
- `videoloss` with `eventState` `inactive` is the cameras' periodic heartbeat → `heartbeat` telemetry.

Everything else (motion detection, line crossing, ...) is answered but ignored. Pure functions, no I/O:
anything wrong with a body raises `VendorError` with a stable reason and a sentence. The driver
(`devices.hikvision.driver.Hikvision.parse_push`) is how the HTTP route reaches this parser.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from xml.parsers import expat

import orjson

from devices.base import PushError
from devices.hikvision.multipart import MultipartError, Part, split_multipart

VENDOR = "hikvision"
PLATE_COLORS = {"blue": "blue", "yellow": "yellow", "white": "white", "black": "black", "green": "green",
                "newenergygreen": "green", "yellowgreen": "green", "gradientgreen": "green", "greenyellow": "green",
                "蓝": "blue", "黄": "yellow", "白": "white", "黑": "black", "绿": "green"}
"""ISAPI `plateColor` values (and the Chinese ones some firmware sends) → SPEC colours; others are dropped."""
NO_PLATE = {"", "unknown", "无车牌", "车牌", "nopalte", "noplate", "none"}
DIRECTIONS = {"in": "in", "enter": "in", "entry": "in", "out": "out", "exit": "out", "leave": "out"}
PLATE_EVENTS = {"anpr", "vehicledetection"}
FACE_CAPTURE_EVENTS = {"facecapture", "facedetection", "facesnap"}
FACE_MATCH_EVENTS = {"alarmresult", "facesnapmatch", "facecontrast", "facematch", "whitelistfacecontrast",
                     "blacklistfacecontrast"}
HEARTBEAT_EVENTS = {"videoloss"}
PERSON_KEYS = ("PID", "FPID", "personID", "employeeNoString")
LIBRARY_KEYS = ("FDID", "FDLibID", "faceLibID")
URL_KEYS = ("faceURL", "snapPicURL", "URL", "picURL", "bkgUrl", "backgroundURL")


class VendorError(PushError):
    """A body that cannot be turned into events; `reason` is a stable class (the dead letter's reason)."""


@dataclass(slots=True)
class Canonical:
    """One message for the pipeline: `anju/v1/{site}/{kind}/{device}/{channel}` with `payload`."""

    kind: str
    channel: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Notification:
    event_type: str
    messages: list[Canonical] = field(default_factory=list)
    ignored: str | None = None
    """Why nothing came of it (an event type Anju has no use for)."""


# -- documents ------------------------------------------------------------------------------------


def parse_xml(data: bytes) -> dict[str, Any]:
    """An XML document as nested dicts (namespace-free local names; repeated elements become lists).

    Uses expat directly so that any DOCTYPE (and with it every entity declaration, external or not) is refused
    before anything is expanded: ISAPI documents never have one.
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[tuple[str, dict[str, Any], list[str]]] = [("", {}, [])]

    def refuse(*_args: Any) -> Any:
        raise VendorError("xml_doctype", "XML with a DOCTYPE or entity declaration is refused")

    def start(name: str, _attrs: dict[str, str]) -> None:
        if len(stack) > 32:
            raise VendorError("xml_too_deep", "XML nested more than 32 levels")
        stack.append((name.rsplit(" ", 1)[-1], {}, []))

    def end(_name: str) -> None:
        tag, children, text = stack.pop()
        value: Any = children if children else "".join(text).strip()
        parent = stack[-1][1]
        if tag in parent:
            existing = parent[tag]
            parent[tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            parent[tag] = value

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = lambda text: stack[-1][2].append(text)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise VendorError("not_xml", f"the XML is not well-formed: {exc}") from None
    return stack[0][1]


def parse_document(data: bytes) -> dict[str, Any]:
    """An `EventNotificationAlert` from its XML or JSON text (recognised by the first character)."""
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise VendorError("not_json", f"the JSON is not valid: {exc}") from None
        if isinstance(doc, dict) and len(doc) == 1 and isinstance(doc.get("EventNotificationAlert"), dict):
            doc = doc["EventNotificationAlert"]
        if not isinstance(doc, dict):
            raise VendorError("not_event", "the JSON is not an object")
        return doc
    if text.startswith(b"<"):
        root = parse_xml(text)
        alert = root.get("EventNotificationAlert")
        if not isinstance(alert, dict):
            raise VendorError("not_event", f"the XML root is {next(iter(root), '?')!r}, not EventNotificationAlert")
        return alert
    raise VendorError("not_event", "the body is neither XML nor JSON")


def split_body(content_type: str, body: bytes) -> tuple[dict[str, Any], list[Part]]:
    """The event document and the picture parts of a request body (XML, JSON or multipart)."""
    if not body.strip():
        raise VendorError("empty", "the body is empty")
    if not content_type.lower().startswith("multipart/"):
        return parse_document(body), []
    try:
        parts = split_multipart(content_type, body)
    except MultipartError as exc:
        raise VendorError("bad_multipart", str(exc)) from None
    event = next((p for p in parts if _is_document(p)), None)
    if event is None:
        raise VendorError("no_event_part", "no XML or JSON part in the multipart body")
    return parse_document(event.data), [p for p in parts if p is not event and _is_picture(p)]


def _is_document(part: Part) -> bool:
    if "xml" in part.content_type or "json" in part.content_type:
        return True
    return part.data.lstrip()[:1] in (b"<", b"{") and not _is_picture(part)


def _is_picture(part: Part) -> bool:
    return part.data[:3] == b"\xff\xd8\xff" or (part.content_type.startswith("image/") and len(part.data) > 0)


# -- fields ---------------------------------------------------------------------------------------


def get(doc: Any, *names: str) -> Any:
    """The first of `names` present in a dict, case-insensitively (firmware differs in capitalisation)."""
    if not isinstance(doc, dict):
        return None
    lowered = {k.lower(): v for k, v in doc.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def find(doc: Any, *names: str) -> Any:
    """Depth-first: the first value anywhere under `doc` whose key is one of `names` (case-insensitive)."""
    wanted = {n.lower() for n in names}
    todo = [doc]
    while todo:
        node = todo.pop(0)
        if isinstance(node, dict):
            for key, value in node.items():
                if key.lower() in wanted and value not in (None, "", [], {}):
                    return value
            todo.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            todo.extend(node)
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, dict | bool):
        return None
    return str(value).strip() or None


def _number(value: Any, what: str) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise VendorError("invalid_field", f"{what} is not a number: {text[:32]!r}") from None
    if not 0 <= number <= 100:
        raise VendorError("invalid_field", f"{what} {number} is outside 0-100")
    return round(number / 100 if number > 1 else number, 4)


def event_time(doc: dict[str, Any], tz: tzinfo | None) -> str | None:
    """`dateTime` as RFC 3339; firmware that omits the offset is read in the site's time zone."""
    text = _text(get(doc, "dateTime"))
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise VendorError("invalid_field", f"dateTime {text[:40]!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        if tz is None:
            return None  # arrival time, rather than a guess
        parsed = parsed.replace(tzinfo=tz)
    return parsed.isoformat()


def event_id(doc: dict[str, Any], device_id: str, event_type: str, subject: str | None) -> str:
    """Deterministic per camera event: the camera's `UUID` when it sends one, else a hash of what identifies it.

    A camera that retries (no answer, a timeout, `isDataRetransmission`) posts the same event again: same id,
    so the pipeline's dedup processes it once.
    """
    uuid = _text(get(doc, "UUID", "uuid", "eventUUID"))
    if uuid and len(uuid) <= 100:
        return f"hik:{uuid}"
    identity = "|".join([device_id, event_type, _text(get(doc, "dateTime")) or "", _text(get(doc, "channelID")) or "",
                         subject or "", _text(find(doc, "absTime")) or ""])
    return "hik:" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def _snapshot(pictures: list[Part], preferred: tuple[str, ...], fallback: tuple[str, ...]) -> str | None:
    """The base64 of the first picture whose part name or file name mentions one of `preferred`, then `fallback`."""
    def label(part: Part) -> str:
        return f"{part.name or ''} {part.filename or ''}".lower()

    for words in (preferred, fallback):
        for part in pictures:
            if any(w in label(part) for w in words):
                return base64.b64encode(part.data).decode("ascii")
    return base64.b64encode(pictures[0].data).decode("ascii") if pictures else None


def _url(doc: dict[str, Any]) -> str | None:
    url = _text(find(doc, *URL_KEYS))
    return url if url and len(url) <= 2048 and re.match(r"^https?://", url) else None


# -- events ---------------------------------------------------------------------------------------


def parse(content_type: str, body: bytes, device_id: str, kind: str, tz: tzinfo | None = None,
          forward: str = "in") -> Notification:
    """A request body → the canonical messages for a device of `kind` (`plate_camera` or `face_camera`).

    `forward`: what the camera's `forward` direction means where it is mounted (`in`, the default, or `out`).
    """
    doc, pictures = split_body(content_type, body)
    return notification(doc, pictures, device_id, kind, tz, forward)


def notification(doc: dict[str, Any], pictures: list[Part], device_id: str, kind: str, tz: tzinfo | None = None,
                 forward: str = "in") -> Notification:
    event_type = _text(get(doc, "eventType"))
    if event_type is None:
        raise VendorError("not_event", "EventNotificationAlert without an eventType")
    key = event_type.lower()
    note = Notification(event_type)
    if key in HEARTBEAT_EVENTS and (_text(get(doc, "eventState")) or "").lower() == "inactive":
        note.messages.append(Canonical(kind, "telemetry", {"type": "heartbeat", "vendor": VENDOR}))
        return note
    if key in PLATE_EVENTS:
        wanted = "plate_camera"
        build: Callable[[dict[str, Any], list[Part], str, tzinfo | None, str], dict[str, Any]] = _plate
    elif key in FACE_CAPTURE_EVENTS | FACE_MATCH_EVENTS:
        wanted = "face_camera"
        build = _face
    else:
        note.ignored = f"eventType {event_type!r} is not one Anju uses"
        return note
    if kind != wanted:
        raise VendorError("kind_mismatch", f"a {event_type} event needs a {wanted}, and {device_id} is a {kind}")
    payload = build(doc, pictures, device_id, tz, forward)
    payload.update(vendor=VENDOR, vendor_event=event_type)
    channel = _text(get(doc, "channelID", "dynChannelID"))
    if channel:
        payload["vendor_channel"] = channel
    note.messages.append(Canonical(kind, "event", payload))
    return note


def _plate(doc: dict[str, Any], pictures: list[Part], device_id: str, tz: tzinfo | None,
           forward: str) -> dict[str, Any]:
    anpr = get(doc, "ANPR") or {}
    if isinstance(anpr, list):
        anpr = anpr[0] if anpr else {}
    plate = _text(get(anpr, "licensePlate", "originalLicensePlate"))
    if plate is not None and (plate.lower() in NO_PLATE or len(plate) > 16):
        plate = None
    payload: dict[str, Any] = {"type": "plate", "msg_id": event_id(doc, device_id, "ANPR", plate)}
    ts = event_time(doc, tz)
    if ts:
        payload["ts"] = ts
    if plate:
        payload["plate"] = plate
    color = PLATE_COLORS.get((_text(get(anpr, "plateColor")) or "").lower())
    if color:
        payload["color"] = color
    confidence = _number(get(anpr, "confidenceLevel"), "ANPR/confidenceLevel")
    if confidence is not None:
        payload["confidence"] = confidence
    direction = (_text(get(anpr, "direction")) or "").lower()
    back = "out" if forward == "in" else "in"
    mapped = {"forward": forward, "reverse": back}.get(direction) or DIRECTIONS.get(direction)
    if mapped:
        payload["direction"] = mapped
    for name, source in (("vehicle_color", find(get(anpr, "vehicleInfo"), "color")),
                         ("vehicle_list", get(anpr, "vehicleListName")), ("vehicle_type", get(anpr, "vehicleType"))):
        value = _text(source)
        if value and value.lower() not in ("unknown", "otherlist"):
            payload[name] = value[:64]
    _attach_picture(payload, doc, pictures, ("licenseplate", "plate"), ("detection", "vehicle", "scene", "background"))
    if "plate" not in payload and "snapshot" not in payload and "snapshot_url" not in payload:
        raise VendorError("invalid_payload", "an ANPR event with neither a readable plate nor a picture")
    return payload


def _attach_picture(payload: dict[str, Any], doc: dict[str, Any], pictures: list[Part], preferred: tuple[str, ...],
                    fallback: tuple[str, ...]) -> None:
    """The event's picture as `snapshot` (the preferred part, else a fallback one), else its URL as `snapshot_url`."""
    snapshot = _snapshot(pictures, preferred, fallback)
    if snapshot:
        payload["snapshot"] = snapshot
    elif _url(doc):
        payload["snapshot_url"] = _url(doc)


def _face(doc: dict[str, Any], pictures: list[Part], device_id: str, tz: tzinfo | None,
          _forward: str) -> dict[str, Any]:
    person = _text(find(doc, *PERSON_KEYS))
    similarity = _number(find(doc, "similarity", "maxsimilarity", "similarityValue"), "similarity")
    payload: dict[str, Any] = {"type": "face"}
    if person and len(person) <= 128 and similarity is not None:
        payload.update(person_id=person, similarity=similarity)
        library = _text(find(doc, *LIBRARY_KEYS)) or _text(find(doc, "FDLib"))
        if library:
            payload["face_library"] = library[:128]
    payload["msg_id"] = event_id(doc, device_id, "face", payload.get("person_id"))
    ts = event_time(doc, tz)
    if ts:
        payload["ts"] = ts
    _attach_picture(payload, doc, pictures, ("faceimage", "face", "facepic"), ("background", "bkg", "scene"))
    if "person_id" not in payload and "snapshot" not in payload and "snapshot_url" not in payload:
        raise VendorError("invalid_payload", "a face event with neither a matched person nor a picture")
    return payload
