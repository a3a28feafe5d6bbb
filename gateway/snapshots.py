"""Camera pictures: taken out of events into the `snapshots` table, read later, expired after the retention.

An event keeps `snapshot_id` instead of the base64 picture, so events stay small
and pictures (personal data) can expire on their own schedule (docs/privacy.md).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.orm import Session

from kernel.db.engine import affected
from kernel.db.models import Device, Event, Snapshot

READ_TASKS = {"plate": "plate", "person_id": "face"}
"""A capture's missing result field → what the gateway reads from its picture."""


def media_type(content: bytes) -> str:
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def shrink(content: bytes, limit: int) -> bytes | None:
    """The picture re-encoded as a JPEG of at most `limit` bytes (smaller, then lower quality), or None.

    For cameras that push scene pictures over HTTP larger than the message limit: reading a plate or a face
    needs far less than a 4K scene, and a stored smaller picture beats a refused event.
    """
    import cv2

    from vision.worker import decode_image

    image = decode_image(content)
    if image is None:
        return None
    for side, quality in ((1920, 90), (1600, 85), (1280, 85), (1280, 70), (960, 70), (800, 60), (640, 50)):
        scale = min(1.0, side / max(image.shape[:2]))
        resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        ok, encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and encoded.nbytes <= limit:
            return encoded.tobytes()
    return None


def take_picture(data: dict[str, Any]) -> bytes | None:
    """Remove the base64 `snapshot` from an event's data and return its bytes.

    A picture that is not base64 is dropped with `snapshot_error` in the data:
    the event itself is good and is kept.
    """
    encoded = data.pop("snapshot", None)
    if not isinstance(encoded, str):
        return None
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        data["snapshot_error"] = "the snapshot is not base64"
        return None
    if not content:
        data["snapshot_error"] = "the snapshot is empty"
        return None
    return content


def store(session: Session, site: str, device: str, received_at: datetime, content: bytes,
          task: str | None, grid: str | None = None) -> int:
    """Keep a picture; returns its internal id (what the event's `snapshot_id` holds).

    The camera's grid is recorded with it (`grid`, else the device's row in this transaction): who may see
    the picture is decided by where the camera was when it took it, not by whatever the camera's row says
    later (moved, or deleted). The API knows the picture by a random `public_id` only.
    """
    if grid is None:
        grid = session.scalar(select(Device.grid_id).where(Device.id == device))
    return int(session.execute(insert(Snapshot).returning(Snapshot.id), {
        "public_id": new_public_id(), "site_id": site, "grid_id": grid, "device_id": device,
        "received_at": received_at, "media_type": media_type(content), "size": len(content), "content": content,
        "task": task,
    }).scalar_one())


def new_public_id() -> str:
    """128 random bits, URL-safe (22 characters): a picture's address cannot be guessed from another's."""
    return secrets.token_urlsafe(16)


def public_ids(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Internal id → public id, for the pictures that still exist (expired ones are left out)."""
    wanted = sorted(set(ids))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = session.execute(select(Snapshot.id, Snapshot.public_id).where(Snapshot.id.in_(chunk)))
        found.update((snapshot_id, public_id) for snapshot_id, public_id in rows)
    return found


def link_events(session: Session, links: list[tuple[int, int]]) -> None:
    """(snapshot id, event id) pairs, once the events have their ids."""
    for snapshot_id, event_id in links:
        session.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(event_id=event_id))


def finish(session: Session, snapshot_id: int, device_id: str, outcome: str) -> None:
    """The picture has been read (only the device's own pictures: an event cannot close another's)."""
    session.execute(update(Snapshot).where(Snapshot.id == snapshot_id, Snapshot.device_id == device_id)
                    .values(task=None, outcome=outcome[:200]))


def unread(session: Session, since: datetime) -> list[Row[Any]]:
    """Pictures stored since `since` that were never read (the gateway stopped first), each with what its
    reading needs: the camera event (type, time, msg_id, data) and the device's kind."""
    return list(session.execute(
        select(Snapshot.id, Snapshot.task, Snapshot.content, Snapshot.site_id, Snapshot.device_id, Event.type,
               Event.ts, Event.msg_id, Event.data, Device.kind)
        .join(Event, Event.id == Snapshot.event_id).join(Device, Device.id == Snapshot.device_id)
        .where(Snapshot.task.is_not(None), Snapshot.received_at >= since).order_by(Snapshot.id)))


def prune(session: Session, before: datetime) -> int:
    return affected(session.execute(delete(Snapshot).where(Snapshot.received_at < before)))
