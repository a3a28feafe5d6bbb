"""Patrol teams (巡防队): who is called first for the alerts of the grids they cover, and when they are on duty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import DB, Svc, errors
from api.routers._common import (
    BodyId,
    ConfigReader,
    ConfigWriter,
    Name,
    PathId,
    Phone,
    Roster,
    Shift,
    SiteFilter,
    Targets,
    check_targets,
    conflict,
    existing_site,
    get_or_404,
    of_site,
    put_responses,
    remove,
    reveals_targets,
    roster_json,
    save,
    shifts_out,
    targets_out,
)
from kernel.db.models import Grid, PatrolTeam

router = APIRouter(prefix="/teams", tags=["teams"])


class Member(BaseModel):
    name: Name
    phone: Phone | None = None
    notify: Targets

    @field_validator("notify")
    @classmethod
    def _targets(cls, notify: list[str], info: ValidationInfo) -> list[str]:
        return check_targets(notify, f"member {info.data.get('name', '?')}")


class TeamBody(BaseModel):
    site: BodyId
    name: Name
    members: list[Member] = Field(default_factory=list, max_length=200, description="who to call")
    roster: Roster = Field(default_factory=list)


class TeamIn(TeamBody):
    id: BodyId


class TeamOut(BaseModel):
    id: str
    site: str
    name: str
    members: list[Member]
    roster: list[Shift]
    grids: list[str] = Field(description="the grids this team covers (set on each grid's `team`)")


def _out(session: Session, row: PatrolTeam, who: Principal) -> TeamOut:
    """The team as `who` may see it: notification targets as stored only to who may change them."""
    reveal = reveals_targets(who)
    grids = session.scalars(select(Grid.id).where(Grid.team_id == row.id).order_by(Grid.id)).all()
    return TeamOut(id=row.id, site=row.site_id, name=row.name, roster=shifts_out(row.roster, reveal),
                   grids=list(grids), members=[_member(m, reveal) for m in row.members or [] if isinstance(m, dict)])


def _member(stored: dict[str, Any], reveal: bool) -> Member:
    """A stored member, not re-validated: a target stored earlier (or by the site file) that no longer parses is
    still shown, so an admin can see and fix it."""
    member = Member.model_validate({k: v for k, v in stored.items() if k != "notify"})
    member.notify = targets_out(stored.get("notify"), reveal)
    return member


def _store(session: Session, body: TeamBody) -> Callable[[PatrolTeam], None]:
    def store(row: PatrolTeam) -> None:
        site = existing_site(session, body.site)
        roster = roster_json(body.roster, site.timezone, "team")
        if row.site_id is not None and row.site_id != body.site and session.scalar(
                select(exists().where(Grid.team_id == row.id, Grid.site_id != body.site))):
            raise conflict(f"team {row.id} covers grids of site {row.site_id}: give them another team first")
        row.site_id, row.name, row.roster = body.site, body.name.strip(), roster
        row.members = [m.model_dump(exclude_none=True) for m in body.members]  # `notify` left out when empty

    return store


@router.get("", response_model=list[TeamOut], responses=errors(422))
def list_teams(session: DB, who: ConfigReader, site: SiteFilter = None) -> list[TeamOut]:
    return [_out(session, r, who) for r in of_site(session, PatrolTeam, site)]


@router.post("", response_model=TeamOut, status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
def create_team(body: TeamIn, svc: Svc, session: DB, who: ConfigWriter) -> TeamOut:
    return _out(session, save(session, svc, PatrolTeam, body.id, "team", _store(session, body)), who)


@router.get("/{team_id}", response_model=TeamOut, responses=errors(404, 422))
def get_team(team_id: PathId, session: DB, who: ConfigReader) -> TeamOut:
    return _out(session, get_or_404(session, PatrolTeam, team_id, "team"), who)


@router.put("/{team_id}", response_model=TeamOut, responses=put_responses(TeamOut))
def put_team(team_id: PathId, body: TeamBody, response: Response, svc: Svc, session: DB,
             who: ConfigWriter) -> TeamOut:
    """Create or replace a team (201 when created); a new roster decides who is on duty from the next alert on.

    `grids` in the body is ignored: a grid names its team (`PUT /grids/{id}`). Each member's and shift's `notify`
    targets are checked as the senders will parse them (422 naming the member and the reason)."""
    return _out(session, save(session, svc, PatrolTeam, team_id, "team", _store(session, body), replace=response),
                who)


@router.delete("/{team_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
def delete_team(team_id: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> None:
    """Delete a team that covers no grid (a grid without a team would lose its roster without anyone noticing)."""
    row = get_or_404(session, PatrolTeam, team_id, "team")
    covered = session.scalars(select(Grid.id).where(Grid.team_id == team_id).order_by(Grid.id)).all()
    if covered:
        raise conflict(f"team {team_id} still covers grids {', '.join(covered)}: give them another team first")
    remove(session, svc, row, f"team {team_id}")
