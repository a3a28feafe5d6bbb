"""Field reports: a patrol member raises an alert from the phone (what, where, how bad, a photo).

A report becomes an alert like a device's: `RuleEngine.raise_spec` opens it, routes it to the grid's team
(level 0), escalates it up the site's chain while nobody acknowledges it, and queues its notifications. What
differs is only where it comes from:

- the photo is kept as a camera picture is (`gateway.snapshots.store`): the same retention
  (`privacy.snapshot_retention_days`), the same route (`GET /snapshots/{id}`, audited, a patrol sees the
  pictures of its grids), referenced from the evidence as `data.snapshot_id`, as a camera's alert does it;
- the photo is re-encoded (a JPEG of at most `MAX_SIDE` pixels a side) before it is kept: what a phone puts in
  a photo beside the picture (the place it was taken, the phone's make and serial) is not kept, and what is
  served back is a picture OpenCV wrote, whatever was sent;
- a report is never silenced (a person saw something: a device's maintenance window does not cover that)
  and never merged into another (no dedup key: two reports are two alerts);
- any severity may be reported, `critical` too: it is for a person in danger (it reminds every 15 minutes
  after it is acknowledged, and quiet hours never hold it), and the console says so beside the choice;
- the reporter is in the evidence and in the alert's history (a `reported` step by their name).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alerting.alerts import AlertChange, record_step
from alerting.engine import RuleEngine
from gateway import snapshots
from kernel.db.models import Grid
from kernel.vocabulary import SEVERITIES
from rules.alertspec import AlertSpec

RULE = "field-report"
KIND = "field_report"
TYPE = "report"
MAX_PHOTO = 4 * 1024 * 1024
"""The photo as sent, decoded from base64 (the console shrinks a phone's photo well below this first)."""
MAX_PIXELS = 50_000_000
"""Refused before decoding: a small file can claim a huge picture, and decoding it would take gigabytes."""
MAX_SIDE = 1920
"""The longest side of the picture kept (a phone's 4000 px are resized): enough to read a plate in it."""
JPEG_QUALITY = 85
SOURCE_PREFIX = "report:"
"""A report's picture has no camera: `snapshots.device_id` is this and the reporter's name (no device id has a
colon, so it can never be taken for a camera's)."""


class ReportError(ValueError):
    """A report that cannot be raised as sent (unknown grid, not an image, too large): the API's 422."""


class OutsideGrids(ReportError):
    """The reporter may not report in that grid (a patrol token outside the grids it covers): the API's 403."""


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who reports: the token's name, role and team, and the grids it covers (None: every grid)."""

    name: str
    role: str
    team: str | None = None
    grids: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """Where the phone was, when it could tell (WGS-84 degrees; accuracy in metres)."""

    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class Report:
    what: str
    where: str | None = None
    location: Location | None = None
    grid: str | None = None
    severity: str = "major"
    photo: bytes | None = None
    """JPEG or PNG bytes as the phone sent them."""


def decode_photo(data: str) -> bytes:
    """The bytes of a base64 photo, as the API receives it (ReportError if it is not base64)."""
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ReportError("the photo is not base64") from None
    if not content:
        raise ReportError("the photo is empty")
    return content


def raise_report(session: Session, engine: RuleEngine, reporter: Reporter, report: Report,
                 now: datetime) -> AlertChange:
    """Keep the photo, raise the alert (routed, escalated and notified as a device's), record the reporter.

    The caller commits, then has `engine.deliver` announce the change (topic, live stream, notification senders).
    """
    what = report.what.strip()
    where = (report.where or "").strip() or None
    if not what:
        raise ReportError("say what was seen (`what`)")
    if where is None and report.location is None:
        raise ReportError("say where (`where`, or the phone's `location`)")
    if report.severity not in SEVERITIES:
        raise ReportError(f"severity must be one of {', '.join(SEVERITIES)}, not {report.severity!r}")
    grid = _grid(session, reporter, report.grid)
    picture = None if report.photo is None else check_photo(report.photo)
    data: dict[str, Any] = {"what": what, "where": where}
    if report.location is not None:
        data["location"] = {"lat": report.location.lat, "lon": report.location.lon,
                            "accuracy_m": report.location.accuracy_m}
    if picture is not None:
        data["snapshot_id"] = snapshots.store(session, grid.site_id, (SOURCE_PREFIX + reporter.name)[:64], now,
                                              picture, None, grid=grid.id)
        data["photo_bytes"] = len(picture)
    place = where if where is not None else _coordinates(report.location)
    spec = AlertSpec(
        rule=RULE, type=TYPE, kind=KIND, severity=report.severity, title=f"{what} @ {place}", site=grid.site_id,
        grid=grid.id, audience="patrol", dedup_key=None, silenceable=False,
        evidence={"type": TYPE, "ts": now.isoformat(), "reporter": {
            "name": reporter.name, "role": reporter.role, "team": reporter.team}, "data": data})
    change = engine.raise_spec(session, spec, now)
    record_step(session, change.alert["id"], change.alert["level"], "reported", now, reporter.name,
                f"field report ({reporter.role}{', team ' + reporter.team if reporter.team else ''})")
    return change


def _grid(session: Session, reporter: Reporter, wanted: str | None) -> Grid:
    """The grid named, else the reporter's first; a reporter bound to grids reports only in them."""
    if wanted is None:
        if not reporter.grids:
            raise ReportError("say which grid (`grid`): this token is not bound to one")
        wanted = sorted(reporter.grids)[0]
    if reporter.grids is not None and wanted not in reporter.grids:
        raise OutsideGrids(f"this token reports only in its grids ({', '.join(sorted(reporter.grids)) or 'none'})")
    grid = session.get(Grid, wanted)
    if grid is None:
        raise ReportError(f"no grid {wanted!r}")
    return grid


def _coordinates(location: Location | None) -> str:
    return "?" if location is None else f"{location.lat:.5f},{location.lon:.5f}"


def check_photo(content: bytes) -> bytes:
    """The photo as kept: a real JPEG or PNG, within the limits, re-encoded as a JPEG of at most `MAX_SIDE` px.

    ReportError saying why otherwise: too large, not a JPEG or PNG, too many pixels, not decodable.
    """
    import cv2

    from vision.worker import decode_image

    if len(content) > MAX_PHOTO:
        raise ReportError(f"the photo is larger than {MAX_PHOTO // (1024 * 1024)} MiB ({len(content)} bytes)")
    if snapshots.media_type(content) not in ("image/jpeg", "image/png"):
        raise ReportError("the photo is not a JPEG or PNG image")
    size = image_size(content)
    if size is None:
        raise ReportError("the photo is not a readable JPEG or PNG image (no size in its header)")
    width, height = size
    if width * height > MAX_PIXELS:
        raise ReportError(f"the photo is {width}×{height} pixels; at most {MAX_PIXELS // 1_000_000} megapixels")
    image = decode_image(content)
    if image is None:
        raise ReportError("the photo cannot be decoded as an image")
    scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ReportError("the photo could not be re-encoded")
    return bytes(encoded.tobytes())


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""JPEG start-of-frame markers (0xC4 defines Huffman tables, 0xC8 is reserved, 0xCC arithmetic coding)."""


def image_size(content: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's or a JPEG's header, without decoding it; None when it has none."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(content) < 24 or content[12:16] != b"IHDR":
            return None
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    if not content.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 4 <= len(content):
        if content[i] != 0xFF:
            return None
        marker = content[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        length = int.from_bytes(content[i + 2:i + 4], "big")
        if marker in _SOF:
            if i + 9 > len(content):
                return None
            height = int.from_bytes(content[i + 5:i + 7], "big")
            width = int.from_bytes(content[i + 7:i + 9], "big")
            return width, height
        if length < 2:
            return None
        i += 2 + length
    return None
