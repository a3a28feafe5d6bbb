"""Enrolling faces, and a person's data under PIPL: the audit log, the export and the erasure.

Face data is sensitive personal information (PIPL art. 28): enrolment keeps only
the embedding unless `privacy.keep_enrolment_photos` is set; every view, export,
enrolment and erasure is written to `person_data_access` with who did it; a
person's data can be exported in full and erased (docs/privacy.md). The API and
the CLI (`anju enroll`) both go through here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kernel.db.engine import affected
from kernel.db.models import Event, FaceEmbedding, Person, PersonDataAccess, Snapshot
from kernel.timeutil import utcnow
from vision.faces import Gallery, embedding_from_bytes, embedding_to_bytes
from vision.worker import FaceFound, ReadResult

MIN_FACE = 80
"""Pixels across, at least, for an enrolment face: smaller ones give embeddings too noisy to match against."""
MIN_SHARPNESS = 60.0
"""Laplacian variance of the face at 100×100 (vision.faces): on ../shared/vision/faces the blurriest real photo
scores 73 and the sharpest of the same photos blurred (Gaussian, sigma = 1/75 of the picture) 49."""
MAX_TURN = 0.35
"""Nose offset from between the eyes, in eye distances: the most turned photo of that set is 0.27, a
three-quarter view about 0.4, a profile 0.5."""
ERASED = "erased"
"""What a face sighting's `person_id` becomes when the person's data is erased."""


@dataclass(frozen=True)
class EnrolOutcome:
    source: str
    face_id: int | None
    """The stored face's id; None when the photo was refused (see `reason`)."""
    reason: str | None = None
    box: tuple[int, int, int, int] | None = None


def audit(session: Session, actor: str, role: str, action: str, person_id: str | None,
          detail: str | None = None) -> None:
    """Write one line of the person-data audit log (in the caller's transaction)."""
    session.add(PersonDataAccess(at=utcnow(), actor=actor[:200], role=role[:16], action=action[:32],
                                 person_id=person_id, detail=detail[:500] if detail else None))


def check_photo(source: str, result: ReadResult) -> tuple[np.ndarray | None, EnrolOutcome | None]:
    """The embedding of an enrolment photo, or why it is refused: one clear face, no more, no less."""
    if result.error:
        return None, EnrolOutcome(source, None, result.error)
    if not result.faces:
        return None, EnrolOutcome(source, None, "no face found (a frontal face at least 80 pixels across is needed)")
    if len(result.faces) > 1:
        return None, EnrolOutcome(source, None, f"{len(result.faces)} faces found: use a photo of this person alone")
    face = result.faces[0]
    why = quality_problem(face)
    if why:
        return None, EnrolOutcome(source, None, why, face.box)
    return np.asarray(face.embedding, dtype=np.float32), None


def quality_problem(face: FaceFound) -> str | None:
    """Why a found face is not good enough to enrol (a poor enrolment makes every later match worse), or None."""
    size = min(face.box[2], face.box[3])
    if size < MIN_FACE:
        return f"face too small: {size} pixels across, at least {MIN_FACE} needed (move closer or use a larger photo)"
    if face.sharpness < MIN_SHARPNESS:
        return f"face too blurred: sharpness {face.sharpness:.0f}, at least {MIN_SHARPNESS:.0f} needed"
    if face.turn > MAX_TURN:
        return f"face turned too far: {face.turn:.2f} eye distances off frontal, at most {MAX_TURN} (face the camera)"
    return None


def enrol(session: Session, person_id: str, photos: list[tuple[str, bytes, ReadResult]], keep_photos: bool,
          actor: str, role: str) -> list[EnrolOutcome]:
    """Store one face per accepted photo (the caller commits); refused photos are reported, not stored."""
    outcomes = []
    for source, content, result in photos:
        embedding, refused = check_photo(source, result)
        if refused is not None:
            outcomes.append(refused)
            continue
        assert embedding is not None  # check_photo gives an embedding whenever it refuses nothing
        row = FaceEmbedding(person_id=person_id, embedding=embedding_to_bytes(embedding), source=source[:200],
                            photo=content if keep_photos else None, created_at=utcnow(), created_by=actor[:200])
        session.add(row)
        session.flush()
        outcomes.append(EnrolOutcome(source, row.id, None, result.faces[0].box))
    stored = [o for o in outcomes if o.face_id is not None]
    audit(session, actor, role, "enrol", person_id,
          f"{len(stored)} face(s) enrolled from {len(photos)} photo(s)" + (", photos kept" if keep_photos else ""))
    return outcomes


def load_gallery(session: Session) -> Gallery:
    """Every enrolled face, for matching (the gateway reloads it when enrolments change)."""
    rows = session.execute(select(FaceEmbedding.person_id, FaceEmbedding.embedding)).all()
    return Gallery([(r.person_id, embedding_from_bytes(r.embedding)) for r in rows])


def sightings(session: Session, person_id: str, limit: int = 10_000) -> list[Event]:
    """Face events that named the person (a camera's or the gateway's own match)."""
    return list(session.scalars(select(Event).where(
        Event.type == "face", Event.data["person_id"].as_string() == person_id).order_by(Event.ts).limit(limit)))


def export(session: Session, person: Person) -> dict[str, Any]:
    """Everything Anju holds about one person, for their access request (PIPL art. 45)."""
    faces = session.scalars(select(FaceEmbedding).where(FaceEmbedding.person_id == person.id)
                            .order_by(FaceEmbedding.id)).all()
    log = session.scalars(select(PersonDataAccess).where(PersonDataAccess.person_id == person.id)
                          .order_by(PersonDataAccess.id)).all()
    return {
        "exported_at": _iso(utcnow()),
        "person": {"id": person.id, "site": person.site_id, "grid": person.grid_id, "name": person.name,
                   "role": person.role, "welfare_check": person.welfare_check, "devices": person.devices or [],
                   "credentials": person.credentials or [], "plates": person.plates or [],
                   "attributes": person.attributes or {}, "updated_at": _iso(person.updated_at)},
        "faces": [{"id": f.id, "source": f.source, "created_at": _iso(f.created_at), "created_by": f.created_by,
                   "embedding": base64.b64encode(f.embedding).decode(),
                   "photo": base64.b64encode(f.photo).decode() if f.photo else None} for f in faces],
        "sightings": [{"event_id": e.id, "device": e.device_id, "site": e.site_id, "ts": _iso(e.ts),
                       "similarity": e.data.get("similarity"), "snapshot_id": e.data.get("snapshot_id")}
                      for e in sightings(session, person.id)],
        "access_log": [{"at": _iso(a.at), "actor": a.actor, "role": a.role, "action": a.action, "detail": a.detail}
                       for a in log],
    }


def erase(session: Session, person: Person) -> dict[str, int]:
    """Delete the person, their faces and the pictures of their sightings; unname the sightings (caller commits).

    The sighting events stay (a camera saw *someone* then), with `person_id` replaced
    by "erased", so alert histories keep their shape without the person in them.
    """
    faces = affected(session.execute(delete(FaceEmbedding).where(FaceEmbedding.person_id == person.id)))
    events = sightings(session, person.id, limit=1_000_000)
    pictures = {e.data.get("snapshot_id") for e in events if isinstance(e.data.get("snapshot_id"), int)}
    removed = 0
    if pictures:
        removed = affected(session.execute(delete(Snapshot).where(Snapshot.id.in_(pictures))))
    for event in events:
        event.data = {k: v for k, v in event.data.items() if k != "nearest"} | {"person_id": ERASED}
    session.delete(person)
    return {"faces": faces, "sightings": len(events), "pictures": removed}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
