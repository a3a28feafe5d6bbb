"""Camera pictures (the evidence of plate and face events), until `privacy.snapshot_retention_days` expires them.

A picture is known to the API only by its random public id (`snapshot_id` in an
alert's evidence), and a patrol sees it when it covers the grid the camera was in
when it took the picture: recorded with the picture, so neither moving nor
deleting the camera later changes who may see it. Every view is written to the
person-data audit log, naming the person when the picture's event named one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status
from sqlalchemy import select

from api.auth import Permission, Principal, Role
from api.deps import DB, errors, require
from kernel.db.models import Event, Snapshot
from vision import enrolment

router = APIRouter(prefix="/snapshots", tags=["snapshots"])
Viewer = Annotated[Principal, Depends(require(Permission.SNAPSHOTS_READ))]
PublicId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the picture's public id")]
IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the picture as the camera sent it"}}


def may_see(who: Principal, picture: Snapshot) -> bool:
    """A patrol token sees the pictures taken in its grids (a picture from no grid: none); other roles with
    `snapshots:read` see every picture."""
    return who.role is not Role.PATROL or (picture.grid_id is not None and picture.grid_id in (who.grids or ()))


@router.get("/{snapshot_id}", response_class=Response, responses={**IMAGE, **errors(404, 422)})
def get_snapshot(snapshot_id: PublicId, session: DB, who: Viewer) -> Response:
    """The picture; 404 once it has expired, or when the caller may not see it. `outcome` (what the gateway read
    in it) is in the `X-Anju-Outcome` header."""
    row = session.scalars(select(Snapshot).where(Snapshot.public_id == snapshot_id)).one_or_none()
    if row is None or not may_see(who, row):  # the same 404 either way: nothing leaks
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no snapshot {snapshot_id}")
    named = session.scalar(select(Event.data["person_id"].as_string()).where(
        Event.type == "face", Event.data["snapshot_id"].as_integer() == row.id).limit(1))
    enrolment.audit(session, who.name, who.role, "view_snapshot", named, f"snapshot {row.public_id}")
    session.commit()
    headers = {"Cache-Control": "private, no-store"}
    if row.outcome:
        headers["X-Anju-Outcome"] = row.outcome.encode("ascii", "backslashreplace").decode()
    return Response(row.content, media_type=row.media_type, headers=headers)
