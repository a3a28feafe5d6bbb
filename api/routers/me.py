"""Who am I: the console asks this after login to know which views to show."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import ROLE_PERMISSIONS, Permission, Principal
from api.deps import DB, errors, require
from kernel.db.models import PatrolTeam

router = APIRouter(tags=["tokens"])


class TeamRef(BaseModel):
    id: str
    name: str


class MeOut(BaseModel):
    name: str
    role: str
    grids: list[str] | None
    team: TeamRef | None
    permissions: list[str]


# config:read is the permission every role has: whoever holds a valid token may ask who they are.
@router.get("/me", response_model=MeOut, responses=errors())
def me(session: DB, who: Annotated[Principal, Depends(require(Permission.CONFIG_READ))]) -> MeOut:
    team = session.get(PatrolTeam, who.team_id) if who.team_id else None
    return MeOut(name=who.name, role=who.role.value, grids=sorted(who.grids) if who.grids is not None else None,
                 team=TeamRef(id=team.id, name=team.name) if team else None,
                 permissions=sorted(p.value for p in ROLE_PERMISSIONS[who.role]))
