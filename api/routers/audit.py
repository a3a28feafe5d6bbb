"""The person-data audit log (PIPL): who viewed, exported, enrolled or erased whose data, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.auth import Permission, Principal
from api.deps import DB, errors, require
from kernel.db.models import PersonDataAccess
from kernel.siteconfig import ID_PATTERN

router = APIRouter(prefix="/audit", tags=["audit"])
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


class AccessOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    person_id: str | None
    detail: str | None


@router.get("/person-data", response_model=list[AccessOut], responses=errors(422))
def person_data_log(
    session: DB, _who: Auditor,
    person: Annotated[str | None, Query(pattern=ID_PATTERN, description="only this person's")] = None,
    action: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="entries older than this id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AccessOut]:
    """Newest first."""
    stmt = select(PersonDataAccess).order_by(PersonDataAccess.id.desc()).limit(limit)
    if person is not None:
        stmt = stmt.where(PersonDataAccess.person_id == person)
    if action is not None:
        stmt = stmt.where(PersonDataAccess.action == action)
    if before is not None:
        stmt = stmt.where(PersonDataAccess.id < before)
    return [AccessOut(id=r.id, at=r.at, actor=r.actor, role=r.role, action=r.action, person_id=r.person_id,
                      detail=r.detail) for r in session.scalars(stmt)]
