"""Reading camera pictures after the commit, and turning what is found into ordinary events.

A plate or face event that carries only a picture is stored at once (so the
camera's message is acknowledged and nothing waits); its picture goes to the
recognition pool. Each plate or face found comes back as a new event of the same
camera, `read_by: anju`, with the plate or the matched person, and goes through the
same processing as a device's message (dedup by `msg_id`, storage, rules, alerts).
Its commit also closes the picture's task, so a picture interrupted by a restart is
read again at start-up (`resume`), and reading it twice makes no second event.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway import snapshots
from gateway.mqtt_hub import HubUnavailable, MqttHub
from kernel.config import VisionSettings
from kernel.db.models import FaceEmbedding
from kernel.metrics import GatewayMetrics
from kernel.observations import Observation
from kernel.timeutil import utcnow
from vision.enrolment import load_gallery
from vision.faces import Gallery
from vision.worker import ReadResult, RecognitionPool

log = logging.getLogger(__name__)

CARRIED_FIELDS = ("direction", "lane", "channel", "vendor", "vendor_event")
"""Fields of the camera's event that its readings keep (the rest describe the picture, not the reading)."""
INJECT_RETRIES = 20


class FaceGallery:
    """The enrolled faces, reloaded when enrolments change (checked at most once a second)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._gallery = Gallery()
        self._signature: tuple[int, int | None] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self) -> Gallery:
        with self._lock:
            if time.monotonic() - self._checked >= 1.0:
                self._checked = time.monotonic()
                with self.sessions() as session:
                    signature = tuple(session.execute(
                        select(func.count(FaceEmbedding.id), func.max(FaceEmbedding.id))).one())
                    if signature != self._signature:
                        self._gallery = load_gallery(session)
                        self._signature = signature  # type: ignore[assignment]
            return self._gallery

    def invalidate(self) -> None:
        with self._lock:
            self._checked = 0.0


class SnapshotReader:
    """Hands unread pictures to the pool and injects the readings; all calls are non-blocking."""

    def __init__(self, settings: VisionSettings, sessions: sessionmaker[Session], hub: MqttHub,
                 metrics: GatewayMetrics, pool: RecognitionPool | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.hub = hub
        self.metrics = metrics
        self.pool = pool or RecognitionPool(settings.workers, settings.queue_limit, settings.face_upsample)
        self.gallery = FaceGallery(sessions)

    def read(self, observations: list[Observation]) -> None:
        for obs in observations:
            if obs.unread is not None:
                self._submit(obs.unread.snapshot_id, obs.unread.task, obs.unread.content, _context(obs))
                obs.unread = None  # the picture's bytes are not kept past this point

    def resume(self, since: datetime) -> int:
        """Queue the pictures stored since `since` that were never read (the gateway stopped before)."""
        with self.sessions() as session:
            pending = snapshots.unread(session, since)
        for row in pending:
            context = {"site": row.site_id, "kind": row.kind, "device": row.device_id, "type": row.type,
                       "ts": row.ts, "msg_id": row.msg_id, "data": row.data}
            self._submit(row.id, row.task, row.content, context)
        if pending:
            log.info("re-reading %d camera pictures left unread at the last stop", len(pending))
        return len(pending)

    def close(self) -> None:
        self.pool.close()

    # -- on pool threads ----------------------------------------------------------------------

    def _submit(self, snapshot_id: int, task: str, content: bytes, context: dict[str, Any]) -> None:
        started = time.monotonic()

        def done(result: ReadResult) -> None:
            self.metrics.vision_seconds.labels(task).observe(time.monotonic() - started)
            self._deliver(snapshot_id, context, result)

        if not self.pool.submit(task, content, done):
            self.metrics.pictures.labels(task, "refused").inc()
            self._close_task(snapshot_id, context["device"], "not read: the recognition queue was full")
            log.warning("recognition queue full (%d): picture %d of %s stored unread",
                        self.pool.queue_limit, snapshot_id, context["device"])

    def _deliver(self, snapshot_id: int, context: dict[str, Any], result: ReadResult) -> None:
        if result.error:
            self.metrics.pictures.labels(result.task, "unreadable").inc()
            self._close_task(snapshot_id, context["device"], result.error)
            return
        payloads = (self._plate_events(snapshot_id, context, result) if result.task == "plate"
                    else self._face_events(snapshot_id, context, result))
        if not payloads:
            self.metrics.pictures.labels(result.task, "none").inc()
            self._close_task(snapshot_id, context["device"], f"no {result.task} found")
            return
        topic = f"anju/v1/{context['site']}/{context['kind']}/{context['device']}/event"
        for payload in payloads:
            self._inject(topic, orjson.dumps(payload))

    def _plate_events(self, snapshot_id: int, context: dict[str, Any], result: ReadResult) -> list[dict[str, Any]]:
        out = []
        for n, plate in enumerate(result.plates):
            self.metrics.pictures.labels("plate", "found").inc()
            out.append({**_base(snapshot_id, n, context), "plate": plate.text, "color": plate.color,
                        "confidence": plate.confidence, "uncertain": plate.uncertain, "box": list(plate.box)})
        return out

    def _face_events(self, snapshot_id: int, context: dict[str, Any], result: ReadResult) -> list[dict[str, Any]]:
        gallery = self.gallery.current()
        out = []
        for n, face in enumerate(result.faces):
            match = gallery.match(np.asarray(face.embedding, dtype=np.float32), self.settings.face_threshold)
            payload = {**_base(snapshot_id, n, context), "box": list(face.box), "similarity": match.similarity}
            if match.person_id is not None:
                payload["person_id"] = match.person_id
                self.metrics.pictures.labels("face", "found").inc()
            else:
                payload["nearest"] = match.nearest
                self.metrics.pictures.labels("face", "unknown").inc()
            out.append(payload)
        return out

    def _inject(self, topic: str, payload: bytes) -> None:
        for attempt in range(INJECT_RETRIES):
            try:
                self.hub.inject(topic, payload)
                return
            except HubUnavailable as exc:
                if attempt == INJECT_RETRIES - 1:
                    # The picture's task stays open: it is read again at the next start.
                    log.error("reading of a picture not queued (%s); it is read again at the next start", exc)
                    return
                time.sleep(0.25)

    def _close_task(self, snapshot_id: int, device_id: str, outcome: str) -> None:
        try:
            with self.sessions.begin() as session:
                snapshots.finish(session, snapshot_id, device_id, outcome)
        except Exception:
            log.exception("could not record the outcome of picture %d", snapshot_id)


def _context(obs: Observation) -> dict[str, Any]:
    return {"site": obs.device.site, "kind": obs.device.kind, "device": obs.device.id, "type": obs.type,
            "ts": obs.ts, "msg_id": obs.msg_id, "data": dict(obs.data)}


def _base(snapshot_id: int, n: int, context: dict[str, Any]) -> dict[str, Any]:
    """The reading's event: the camera's event time and fields, its own id (so reading twice is a duplicate)."""
    data = context["data"]
    ts: datetime = context["ts"]
    out: dict[str, Any] = {"msg_id": f"snapshot-{snapshot_id}-{n}", "type": context["type"],
                           "ts": ts.isoformat().replace("+00:00", "Z"), "snapshot_id": snapshot_id, "read_by": "anju"}
    out.update({k: data[k] for k in CARRIED_FIELDS if k in data})
    if context.get("msg_id"):
        out["source_msg_id"] = context["msg_id"]
    return out


RESUME_WINDOW = timedelta(hours=24)
"""Pictures older than this that were never read are left unread at start-up (their moment has passed)."""


def resume_since(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - RESUME_WINDOW
