"""Camera pictures (the evidence of plate and face events), until `privacy.snapshot_retention_days` expires them.

Every view is written to the person-data audit log, naming the person when the
picture's event named one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from anju.db.models import Device, Event, Snapshot
from api.auth import Permission, Principal
from api.deps import DB, errors, require
from api.routers._common import RowId, get_or_404
from api.visibility import can_see_device
from vision import enrolment

router = APIRouter(prefix="/snapshots", tags=["snapshots"])
Viewer = Annotated[Principal, Depends(require(Permission.SNAPSHOTS_READ))]
IMAGE = {200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the picture as the camera sent it"}}


@router.get("/{snapshot_id}", response_class=Response, responses={**IMAGE, **errors(404, 422)})
def get_snapshot(snapshot_id: RowId, session: DB, who: Viewer) -> Response:
    """The picture; 404 once it has expired. `outcome` (what the gateway read in it) is in the `X-Anju-Outcome`
    header."""
    row = get_or_404(session, Snapshot, snapshot_id, "snapshot")
    device = session.get(Device, row.device_id)
    if device is not None and not can_see_device(who, device):
        get_or_404(session, Snapshot, -1, "snapshot")  # the same 404 as a missing picture: nothing leaks
    named = session.scalar(select(Event.data["person_id"].as_string()).where(
        Event.type == "face", Event.data["snapshot_id"].as_integer() == snapshot_id).limit(1))
    enrolment.audit(session, who.name, who.role, "view_snapshot", named, f"snapshot {snapshot_id}")
    session.commit()
    headers = {"Cache-Control": "private, no-store"}
    if row.outcome:
        headers["X-Anju-Outcome"] = row.outcome.encode("ascii", "backslashreplace").decode()
    return Response(row.content, media_type=row.media_type, headers=headers)
