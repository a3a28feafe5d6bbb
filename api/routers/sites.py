"""Sites (communities) and each site's escalation chain above its grids (community office → street → district)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from zoneinfo import available_timezones

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import delete, exists, select

from alerting.routing import DEFAULT_CHAIN_ABOVE_GRID
from api.deps import DB, Svc, errors
from api.routers._common import (
    LINE,
    BodyId,
    ConfigReader,
    ConfigWriter,
    Name,
    PathId,
    Roster,
    Shift,
    Wait,
    check_wait,
    commit,
    conflict,
    get_or_404,
    put_responses,
    remove,
    roster_json,
    save,
    shifts_out,
    unprocessable,
)
from kernel.db.models import Device, EscalationLevel, Grid, Person, Site
from kernel.durations import format_duration

router = APIRouter(prefix="/sites", tags=["sites"])
MAX_LEVELS = 20


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


class SiteBody(BaseModel):
    name: Name
    timezone: str = Field(default="Asia/Shanghai", max_length=64, description="an IANA name, e.g. Asia/Shanghai")
    address: str | None = Field(default=None, max_length=500, pattern=LINE)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Asia/Shanghai")
        return value


class SiteIn(SiteBody):
    id: BodyId


class SiteOut(BaseModel):
    id: str
    name: str
    timezone: str
    address: str | None


class LevelIn(BaseModel):
    name: Name
    wait: Wait | None = Field(default=None, description="time to acknowledge before the next level; none at the top")
    roster: Roster = Field(default_factory=list)


class LevelOut(BaseModel):
    name: str
    wait: str | None
    roster: list[Shift]


class ChainIn(BaseModel):
    levels: list[LevelIn] = Field(max_length=MAX_LEVELS, description="level 1 (above the grid patrol) first; "
                                                                     "empty: the default chain")


class ChainOut(BaseModel):
    site: str
    levels: list[LevelOut]
    default: bool = Field(description="true: the site has no chain of its own and routes by the default one")


def _out(row: Site) -> SiteOut:
    return SiteOut(id=row.id, name=row.name, timezone=row.timezone, address=row.address)


def _store(body: SiteBody) -> Callable[[Site], None]:
    def store(row: Site) -> None:
        row.name, row.timezone, row.address = body.name.strip(), body.timezone, body.address

    return store


@router.get("", response_model=list[SiteOut], responses=errors())
def list_sites(session: DB, _who: ConfigReader) -> list[SiteOut]:
    return [_out(r) for r in session.scalars(select(Site).order_by(Site.id))]


@router.post("", response_model=SiteOut, status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
def create_site(body: SiteIn, svc: Svc, session: DB, _who: ConfigWriter) -> SiteOut:
    return _out(save(session, svc, Site, body.id, "site", _store(body)))


@router.get("/{site_id}", response_model=SiteOut, responses=errors(404, 422))
def get_site(site_id: PathId, session: DB, _who: ConfigReader) -> SiteOut:
    return _out(get_or_404(session, Site, site_id, "site"))


@router.put("/{site_id}", response_model=SiteOut, responses=put_responses(SiteOut))
def put_site(site_id: PathId, body: SiteBody, response: Response, svc: Svc, session: DB,
             _who: ConfigWriter) -> SiteOut:
    """Create or replace a site (201 when created). A new timezone applies to its rosters at once."""
    return _out(save(session, svc, Site, site_id, "site", _store(body), replace=response))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
def delete_site(site_id: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> None:
    """Delete a site with no grids, devices or persons left; its teams and chain go with it."""
    row = get_or_404(session, Site, site_id, "site")
    for model, what in ((Grid, "grids"), (Device, "devices"), (Person, "persons")):
        if session.scalar(select(exists().where(model.site_id == site_id))):
            raise conflict(f"site {site_id} still has {what}: delete or move them first")
    remove(session, svc, row, f"site {site_id}")


def _chain(session: DB, site_id: str) -> ChainOut:
    rows = session.scalars(select(EscalationLevel).where(EscalationLevel.site_id == site_id)
                           .order_by(EscalationLevel.position)).all()
    if not rows:
        return ChainOut(site=site_id, default=True, levels=[
            LevelOut(name=lv.name, wait=format_duration(lv.wait) if lv.wait else None, roster=[])
            for lv in DEFAULT_CHAIN_ABOVE_GRID])
    return ChainOut(site=site_id, default=False, levels=[
        LevelOut(name=lv.name, wait=lv.wait, roster=shifts_out(lv.roster)) for lv in rows])


@router.get("/{site_id}/escalation", response_model=ChainOut, responses=errors(404, 422))
def get_escalation(site_id: PathId, session: DB, _who: ConfigReader) -> ChainOut:
    """The chain above the grid patrol (level 0): level 1 is the first one an unacknowledged alert climbs to."""
    get_or_404(session, Site, site_id, "site")
    return _chain(session, site_id)


@router.put("/{site_id}/escalation", response_model=ChainOut, responses=errors(404, 409, 422))
def put_escalation(site_id: PathId, body: ChainIn, svc: Svc, session: DB, _who: ConfigWriter) -> ChainOut:
    """Replace the whole chain. Every level but the last needs a `wait`; a level whose roster has nobody on
    duty is skipped when an alert reaches it."""
    site = get_or_404(session, Site, site_id, "site")
    rows = []
    for position, level in enumerate(body.levels, start=1):
        if level.wait is None and position < len(body.levels):
            raise unprocessable(f"level {position} ({level.name}): only the last level may have no `wait`")
        wait = check_wait(level.wait, f"level {position} ({level.name}) wait") if level.wait else None
        rows.append(EscalationLevel(site_id=site_id, position=position, name=level.name.strip(), wait=wait,
                                    roster=roster_json(level.roster, site.timezone, f"level {position}")))
    session.execute(delete(EscalationLevel).where(EscalationLevel.site_id == site_id))
    session.add_all(rows)
    commit(session, f"the chain of site {site_id} was changed concurrently")
    svc.engine.request_refresh()
    return _chain(session, site_id)

