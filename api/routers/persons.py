"""Persons the rules know: elders (welfare checks), residents, watchlisted people.

Personal data: only roles with `persons:read` see it, and no other resource's
answer includes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from api.auth import Permission, Principal
from api.deps import DB, Svc, errors, require
from api.jsonsafe import BoundedObject, renderable_object
from api.routers._common import (
    LINE,
    BodyId,
    Name,
    PathId,
    SiteFilter,
    commit,
    created_status,
    existing_site,
    get_or_404,
    put_responses,
    reasons,
    remove,
    unprocessable,
)
from gateway.registry import apply_person
from kernel.db.models import Building, Device, Grid, Person
from kernel.siteconfig import PersonConfig
from vision.enrolment import audit

router = APIRouter(prefix="/persons", tags=["persons"])
Reader = Annotated[Principal, Depends(require(Permission.PERSONS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.PERSONS_WRITE))]
Text = Annotated[str, Field(min_length=1, max_length=128, pattern=LINE)]
ROLE = Annotated[str, Field(pattern=r"^[a-z_-]{1,32}$", description="elder, resident, staff, visitor")]


class PersonIn(BaseModel):
    site: BodyId
    name: Name
    grid: BodyId | None = None
    role: ROLE = "resident"
    welfare_check: bool = Field(default=False, description="alert when the person is not seen for the rule's period")
    devices: list[BodyId] = Field(default_factory=list, max_length=50, description="the elder buttons they use")
    credentials: list[Text] = Field(default_factory=list, max_length=50, description="gate cards and PINs")
    plates: list[Text] = Field(default_factory=list, max_length=50)
    attributes: BoundedObject = Field(default_factory=dict, description="family contacts, age, health notes (at "
                                      "most 8 levels and 64 KiB as JSON)")
    building: BodyId | None = Field(default=None, description="the building of the site they live in "
                                                               "(docs/buildings.md)")
    unit: Annotated[str, Field(min_length=1, max_length=64, pattern=LINE)] | None = None


class PersonOut(BaseModel):
    id: str
    site: str
    name: str
    grid: str | None
    role: str
    welfare_check: bool
    devices: list[str]
    credentials: list[str]
    plates: list[str]
    attributes: dict[str, Any]
    updated_at: datetime
    building: str | None = None
    unit: str | None = None


def _out(row: Person) -> PersonOut:
    return PersonOut(id=row.id, site=row.site_id, name=row.name, grid=row.grid_id, role=row.role,
                     welfare_check=row.welfare_check, devices=row.devices or [], credentials=row.credentials or [],
                     plates=row.plates or [], attributes=renderable_object(row.attributes), updated_at=row.updated_at,
                     building=row.building_id, unit=row.unit)


@router.get("", response_model=list[PersonOut], responses=errors(422))
def list_persons(
    session: DB, who: Reader,
    site: SiteFilter = None,
    role: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[PersonOut]:
    stmt = select(Person).order_by(Person.id).limit(limit)
    for column, value in ((Person.site_id, site), (Person.role, role)):
        if value is not None:
            stmt = stmt.where(column == value)
    out = [_out(r) for r in session.scalars(stmt)]
    audit(session, who.name, who.role, "list", None, f"{len(out)} person(s); site={site}, role={role}")
    session.commit()
    return out


@router.get("/{person_id}", response_model=PersonOut, responses=errors(404, 422))
def get_person(person_id: PathId, session: DB, who: Reader) -> PersonOut:
    out = _out(get_or_404(session, Person, person_id, "person"))
    audit(session, who.name, who.role, "view", person_id)
    session.commit()
    return out


@router.put("/{person_id}", response_model=PersonOut, responses=put_responses(PersonOut))
def put_person(person_id: PathId, body: PersonIn, response: Response, svc: Svc, session: DB,
               who: Writer) -> PersonOut:
    """Create or replace a person (201 when created); `id` is what face cameras report as `person_id`.
    The rules know them at once (welfare checks: who a press, a face, a card or a plate shows)."""
    existing_site(session, body.site)
    if body.grid is not None:
        grid = session.get(Grid, body.grid)
        if grid is None or grid.site_id != body.site:
            raise unprocessable(f"grid {body.grid!r} is not a grid of site {body.site!r}")
    for device_id in body.devices:  # a mistyped button would silently never show the elder
        device = session.get(Device, device_id)
        if device is None or device.site_id != body.site or device.kind != "elder_button":
            raise unprocessable(f"{device_id!r} is not an elder button of site {body.site!r}")
    if body.building is not None:
        building = session.get(Building, body.building)
        if building is None or building.site_id != body.site:
            raise unprocessable(f"building {body.building!r} is not a building of site {body.site!r}")
        units = {str(u.get("name")) for u in building.units or [] if isinstance(u, dict)}
        if body.unit is not None and units and body.unit not in units:
            raise unprocessable(f"unit {body.unit!r} is not a unit of building {body.building!r}")
    elif body.unit is not None:
        raise unprocessable("a unit needs its building")
    try:
        config = PersonConfig(id=person_id, **body.model_dump(exclude={"site"}))
    except ValidationError as exc:
        raise unprocessable(reasons(exc)) from None
    created_status(response, session.get(Person, person_id) is None)
    row = apply_person(session, body.site, config)
    audit(session, who.name, who.role, "update" if response.status_code == 200 else "create", person_id)
    commit(session, f"person {person_id} or its site was changed concurrently")
    svc.engine.request_refresh()
    return _out(row)


@router.delete("/{person_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
def delete_person(person_id: PathId, svc: Svc, session: DB, who: Writer) -> None:
    """Delete the person and their enrolled faces (`DELETE /persons/{id}/data` also erases their sightings)."""
    audit(session, who.name, who.role, "delete", person_id)
    remove(session, svc, get_or_404(session, Person, person_id, "person"), f"person {person_id}")
