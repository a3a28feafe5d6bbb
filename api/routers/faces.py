"""A person's enrolled faces, their data export and its erasure (PIPL): admin only, every call audited.

Enrolment photos are read by the gateway's recognition processes (not on the API's
event loop); only the embedding is kept unless `privacy.keep_enrolment_photos`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from api.auth import Permission, Principal
from api.deps import DB, Services, Svc, errors, require
from api.jsonsafe import renderable
from api.present import public_picture_ids
from api.routers._common import LINE, PathId, commit, get_or_404, unprocessable
from kernel.db.engine import affected
from kernel.db.models import FaceEmbedding, Person
from vision import enrolment
from vision.worker import ReadResult

router = APIRouter(prefix="/persons", tags=["faces and person data"])
Reader = Annotated[Principal, Depends(require(Permission.PERSONS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.PERSONS_WRITE))]
MAX_PHOTO = 4 * 1024 * 1024
READ_TIMEOUT = 60.0


class Photo(BaseModel):
    name: str = Field(default="photo", min_length=1, max_length=200, pattern=LINE, description="e.g. the file name")
    data: str = Field(min_length=4, max_length=MAX_PHOTO * 4 // 3 + 4, description="base64 JPEG or PNG")


class EnrolIn(BaseModel):
    photos: list[Photo] = Field(min_length=1, max_length=10)


class FaceOut(BaseModel):
    id: int
    source: str | None
    created_at: datetime
    created_by: str | None
    photo_kept: bool


class EnrolResult(BaseModel):
    source: str
    face_id: int | None = Field(description="the stored face; null when the photo was refused")
    reason: str | None = None
    box: list[int] | None = Field(default=None, description="x, y, w, h of the face in the photo")


class Erased(BaseModel):
    faces: int
    sightings: int = Field(description="face events that named the person; their person_id is now `erased`")
    pictures: int


def _face(row: FaceEmbedding) -> FaceOut:
    return FaceOut(id=row.id, source=row.source, created_at=row.created_at, created_by=row.created_by,
                   photo_kept=row.photo is not None)


@router.get("/{person_id}/faces", response_model=list[FaceOut], responses=errors(404, 422))
def list_faces(person_id: PathId, session: DB, who: Reader) -> list[FaceOut]:
    get_or_404(session, Person, person_id, "person")
    rows = session.scalars(select(FaceEmbedding).where(FaceEmbedding.person_id == person_id)
                           .order_by(FaceEmbedding.id)).all()
    enrolment.audit(session, who.name, who.role, "view_faces", person_id)
    session.commit()
    return [_face(r) for r in rows]


@router.post("/{person_id}/faces", response_model=list[EnrolResult], status_code=status.HTTP_201_CREATED,
             responses=errors(404, 422, 503))
async def enrol_faces(person_id: PathId, body: EnrolIn, svc: Svc, who: Writer) -> list[EnrolResult]:
    """Enrol a person's face from photos (one person per photo, frontal, at least 80 px across). 201 with one
    result per photo; 422 when no photo could be used (each photo's reason in `detail`)."""
    with svc.sessions() as session:
        get_or_404(session, Person, person_id, "person")
    photos = [(p.name, _decode(p)) for p in body.photos]
    pool = svc.gateway.reader.pool
    futures = [pool.read("face", content) for _, content in photos]
    if any(f is None for f in futures):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the recognition queue is full; retry",
                            headers={"Retry-After": "5"})
    try:
        results: list[ReadResult] = await asyncio.wait_for(
            asyncio.gather(*(asyncio.wrap_future(f) for f in futures if f is not None)), READ_TIMEOUT)
    except TimeoutError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the photos were not read in time; retry",
                            headers={"Retry-After": "5"}) from None
    return await asyncio.to_thread(_store, svc, who, person_id, photos, results)


def _store(svc: Services, who: Principal, person_id: str, photos: list[tuple[str, bytes]],
           results: list[ReadResult]) -> list[EnrolResult]:
    with svc.sessions() as session:
        get_or_404(session, Person, person_id, "person")
        outcomes = enrolment.enrol(session, person_id, [(n, c, r) for (n, c), r in zip(photos, results, strict=True)],
                                   svc.settings.privacy.keep_enrolment_photos, who.name, who.role)
        out = [EnrolResult(source=o.source, face_id=o.face_id, reason=o.reason,
                           box=list(o.box) if o.box else None) for o in outcomes]
        if not any(o.face_id for o in outcomes):
            session.rollback()
            raise unprocessable([o.model_dump() for o in out])
        commit(session, f"person {person_id} was deleted meanwhile")
    svc.gateway.reader.gallery.invalidate()
    return out


def _decode(photo: Photo) -> bytes:
    try:
        content = base64.b64decode(photo.data, validate=True)
    except (binascii.Error, ValueError):
        raise unprocessable(f"photo {photo.name!r} is not base64") from None
    if len(content) > MAX_PHOTO:
        raise unprocessable(f"photo {photo.name!r} is larger than {MAX_PHOTO} bytes")
    return content


@router.delete("/{person_id}/faces", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
def delete_faces(person_id: PathId, svc: Svc, session: DB, who: Writer) -> None:
    """Forget the person's enrolled faces (the person stays); cameras stop recognising them within a second."""
    get_or_404(session, Person, person_id, "person")
    removed = affected(session.execute(delete(FaceEmbedding).where(FaceEmbedding.person_id == person_id)))
    enrolment.audit(session, who.name, who.role, "delete_faces", person_id, f"{removed} face(s)")
    session.commit()
    svc.gateway.reader.gallery.invalidate()


@router.get("/{person_id}/export", response_model=dict[str, Any], responses=errors(404, 422))
def export_person(person_id: PathId, session: DB, who: Reader) -> dict[str, Any]:
    """Everything held about the person (details, faces with their embeddings, sightings, who accessed their
    data), for their access request. The export itself is audited."""
    person = get_or_404(session, Person, person_id, "person")
    enrolment.audit(session, who.name, who.role, "export", person_id)
    session.commit()
    document = enrolment.export(session, person)
    document["sightings"] = public_picture_ids(session, document["sightings"])  # the API's picture ids only
    return renderable(document)


@router.delete("/{person_id}/data", response_model=Erased, responses=errors(404, 422))
def erase_person(person_id: PathId, svc: Svc, session: DB, who: Writer) -> Erased:
    """Erase the person: their details, faces and the pictures of their sightings; the sighting events stay,
    unnamed (`person_id: erased`). The audit log keeps that it happened, and who did it."""
    person = get_or_404(session, Person, person_id, "person")
    counts = enrolment.erase(session, person)
    enrolment.audit(session, who.name, who.role, "erase", person_id,
                    ", ".join(f"{v} {k}" for k, v in counts.items()))
    commit(session, f"person {person_id} is still referenced")
    svc.engine.request_refresh()
    svc.gateway.reader.gallery.invalidate()
    return Erased(**counts)
