"""Grids (网格): the smallest unit of responsibility, each routed first to its patrol team."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from api.deps import DB, Svc, errors
from api.routers._common import (
    BodyId,
    ConfigReader,
    ConfigWriter,
    Name,
    PathId,
    SiteFilter,
    Wait,
    check_wait,
    conflict,
    existing_site,
    get_or_404,
    of_site,
    put_responses,
    remove,
    save,
    unprocessable,
)
from kernel.db.models import Device, Grid, PatrolTeam

router = APIRouter(prefix="/grids", tags=["grids"])


class GridBody(BaseModel):
    site: BodyId
    name: Name
    team: BodyId | None = Field(default=None, description="the patrol team called first: a team of the same site")
    wait: Wait = Field(default="5m", description="how long the team has to acknowledge before level 1 is told")


class GridIn(GridBody):
    id: BodyId


class GridOut(BaseModel):
    id: str
    site: str
    name: str
    team: str | None
    wait: str


def _out(row: Grid) -> GridOut:
    return GridOut(id=row.id, site=row.site_id, name=row.name, team=row.team_id, wait=row.wait)


def _store(session: Session, body: GridBody) -> Callable[[Grid], None]:
    """Check the body against the site's teams and the grid's devices, then write it into the row."""

    def store(row: Grid) -> None:
        existing_site(session, body.site)
        wait = check_wait(body.wait, "wait")
        if body.team is not None:
            team = session.get(PatrolTeam, body.team)
            if team is None or team.site_id != body.site:
                raise unprocessable(f"team {body.team!r} is not a team of site {body.site!r}")
        if row.site_id is not None and row.site_id != body.site and session.scalar(
                select(exists().where(Device.grid_id == row.id))):
            raise conflict(f"grid {row.id} has devices of site {row.site_id}: move them before moving the grid")
        row.site_id, row.name, row.team_id, row.wait = body.site, body.name.strip(), body.team, wait

    return store


@router.get("", response_model=list[GridOut], responses=errors(422))
def list_grids(session: DB, _who: ConfigReader, site: SiteFilter = None) -> list[GridOut]:
    return [_out(r) for r in of_site(session, Grid, site)]


@router.post("", response_model=GridOut, status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
def create_grid(body: GridIn, svc: Svc, session: DB, _who: ConfigWriter) -> GridOut:
    return _out(save(session, svc, Grid, body.id, "grid", _store(session, body)))


@router.get("/{grid_id}", response_model=GridOut, responses=errors(404, 422))
def get_grid(grid_id: PathId, session: DB, _who: ConfigReader) -> GridOut:
    return _out(get_or_404(session, Grid, grid_id, "grid"))


@router.put("/{grid_id}", response_model=GridOut, responses=put_responses(GridOut))
def put_grid(grid_id: PathId, body: GridBody, response: Response, svc: Svc, session: DB,
             _who: ConfigWriter) -> GridOut:
    """Create or replace a grid (201 when created). Routing follows at once: new alerts go to the new team."""
    return _out(save(session, svc, Grid, grid_id, "grid", _store(session, body), replace=response))


@router.delete("/{grid_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
def delete_grid(grid_id: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> None:
    """Delete a grid with no devices left in it (its past alerts keep their grid id)."""
    row = get_or_404(session, Grid, grid_id, "grid")
    if session.scalar(select(exists().where(Device.grid_id == grid_id))):
        raise conflict(f"grid {grid_id} still has devices: move or delete them first")
    remove(session, svc, row, f"grid {grid_id}")
