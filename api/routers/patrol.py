"""Rounds (巡更): patrol points with their QR codes, routes with their schedules, check-ins, round history.

docs/patrol.md says how a round lives; `patrol.rounds` and `patrol.checkins` hold the rules, this router
only checks requests, who may see what, and shapes the answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from api.auth import Permission, Principal, Role
from api.deps import DB, Svc, errors, require
from api.jsonsafe import BoundedObject, renderable_object
from api.routers._common import (
    LINE,
    BodyId,
    ConfigReader,
    ConfigWriter,
    Instant,
    Name,
    PathId,
    RowId,
    SiteFilter,
    commit,
    conflict,
    existing_site,
    get_or_404,
    put_responses,
    reasons,
    remove,
    save,
    unprocessable,
)
from gateway.registry import new_point_code
from kernel.db.models import Grid, PatrolCheckin, PatrolPoint, PatrolRound, PatrolRoute, PatrolTeam, Site
from kernel.siteconfig import PatrolRouteConfig, RoutePointConfig, RouteScheduleConfig
from kernel.timeutil import utcnow
from patrol import checkins, qr
from patrol.rounds import rounds_json

router = APIRouter(prefix="/patrol", tags=["patrol"])
links_router = APIRouter(tags=["patrol"])
"""At the root: what a point's QR code holds, `/p/{point}.{code}`, short enough for a small printed code."""
CONSOLE_CHECKIN = "/console/#/patrol/p/"
Checker = Annotated[Principal, Depends(require(Permission.ROUNDS_CHECK_IN))]
DEFAULT_HISTORY = timedelta(days=7)


# -- points -------------------------------------------------------------------------------------------------


class PointBody(BaseModel):
    site: BodyId
    name: Name
    grid: BodyId | None = Field(default=None, description="a grid of the same site (where the point is)")
    location: BoundedObject = Field(default_factory=dict, description="free-form: building, gate, floor… (at most 8 "
                                                                      "levels and 64 KiB as JSON)")
    nfc_tag: str | None = Field(default=None, min_length=1, max_length=128, pattern=LINE,
                                description="the NFC tag's serial number as the phone reads it (04:A2:…), if any")


class PointIn(PointBody):
    id: BodyId


class PointOut(BaseModel):
    id: str
    site: str
    grid: str | None
    name: str
    location: dict[str, Any]
    nfc_tag: str | None = Field(description="shown only to callers with `config:write`")
    code: str | None = Field(description="the secret the QR code holds; only to callers with `config:write`")
    url: str | None = Field(description="what the QR code holds (`{public_url}/p/{id}.{code}`); as `code`")
    updated_at: datetime


def _point_out(svc: Svc, row: PatrolPoint, who: Principal) -> PointOut:
    reveal = who.can(Permission.CONFIG_WRITE)  # who may change the configuration: the codes are theirs to print
    return PointOut(id=row.id, site=row.site_id, grid=row.grid_id, name=row.name,
                    location=renderable_object(row.location or {}),
                    nfc_tag=row.nfc_tag if reveal else None, code=row.code if reveal else None,
                    url=qr.point_url(svc.settings.notifications.public_url, row.id, row.code) if reveal else None,
                    updated_at=row.updated_at)


def _store_point(session: Session, body: PointBody) -> Callable[[PatrolPoint], None]:
    def store(row: PatrolPoint) -> None:
        existing_site(session, body.site)
        if row.site_id is not None and row.site_id != body.site:
            raise conflict(f"patrol point {row.id} belongs to site {row.site_id}: points do not move between sites")
        if body.grid is not None and session.scalar(select(Grid.site_id).where(Grid.id == body.grid)) != body.site:
            raise unprocessable(f"grid {body.grid!r} is not a grid of site {body.site!r}")
        row.site_id, row.grid_id, row.name = body.site, body.grid, body.name.strip()
        row.location, row.nfc_tag, row.updated_at = dict(body.location), body.nfc_tag, utcnow()
        row.code = row.code or new_point_code()

    return store


@router.get("/points", response_model=list[PointOut], responses=errors(422))
def list_points(svc: Svc, session: DB, who: ConfigReader, site: SiteFilter = None) -> list[PointOut]:
    """Patrol points; their codes (and QR content) only to callers with `config:write`."""
    query = select(PatrolPoint).order_by(PatrolPoint.site_id, PatrolPoint.id)
    if site is not None:
        query = query.where(PatrolPoint.site_id == site)
    return [_point_out(svc, row, who) for row in session.scalars(query)]


@router.post("/points", response_model=PointOut, status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
def create_point(body: PointIn, svc: Svc, session: DB, who: ConfigWriter) -> PointOut:
    """A new point; its code is made now (`secrets.token_urlsafe`) and kept until `POST …/code` replaces it."""
    return _point_out(svc, save(session, svc, PatrolPoint, body.id, "patrol point", _store_point(session, body)), who)


@router.get("/points/{point_id}", response_model=PointOut, responses=errors(404, 422))
def get_point(point_id: PathId, svc: Svc, session: DB, who: ConfigReader) -> PointOut:
    return _point_out(svc, get_or_404(session, PatrolPoint, point_id, "patrol point"), who)


@router.put("/points/{point_id}", response_model=PointOut, responses=put_responses(PointOut))
def put_point(point_id: PathId, body: PointBody, response: Response, svc: Svc, session: DB,
              who: ConfigWriter) -> PointOut:
    """Create (201) or replace (200) a point; its code is kept (printed codes stay valid)."""
    return _point_out(svc, save(session, svc, PatrolPoint, point_id, "patrol point", _store_point(session, body),
                                replace=response), who)


@router.post("/points/{point_id}/code", response_model=PointOut, responses=errors(404, 422))
def new_code(point_id: PathId, svc: Svc, session: DB, who: ConfigWriter) -> PointOut:
    """Replace the point's code: the printed QR code stops working (a code copied or photographed), print anew."""
    row = get_or_404(session, PatrolPoint, point_id, "patrol point")
    row.code, row.updated_at = new_point_code(), utcnow()
    commit(session, f"patrol point {point_id} was changed at the same time")
    return _point_out(svc, row, who)


@router.delete("/points/{point_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
def delete_point(point_id: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> None:
    """Delete a point no route lists (its check-ins and past rounds stay)."""
    row = get_or_404(session, PatrolPoint, point_id, "patrol point")
    using = sorted(r.id for r in session.scalars(select(PatrolRoute).where(PatrolRoute.site_id == row.site_id))
                   if point_id in _route_points(r))
    if using:
        raise conflict(f"patrol point {point_id} is on routes {', '.join(using)}: take it off them first")
    remove(session, svc, row, f"patrol point {point_id}")


SVG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/svg+xml": {}}, "description": "the QR code"}}
HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}, "description": "a printable page"}}


@router.get("/points/{point_id}/qr.svg", response_class=Response, responses={**SVG, **errors(404, 422)})
def point_qr(point_id: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> Response:
    """The point's QR code as SVG: it holds `{notifications.public_url}/p/{id}.{code}`."""
    row = get_or_404(session, PatrolPoint, point_id, "patrol point")
    url = qr.point_url(svc.settings.notifications.public_url, row.id, row.code)
    return Response(qr.qr_svg(url, scale=8, title=row.name), media_type="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="{row.id}.svg"'})


@router.get("/qr-sheet", response_class=Response, responses={**HTML, **errors(404, 422)})
def qr_sheet(site: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the site")], svc: Svc,
             session: DB, _who: ConfigWriter) -> HTMLResponse:
    """A printable page with the QR codes of every point of a site (name, id, grid, where, the code as text)."""
    row = session.get(Site, site)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    points = session.scalars(select(PatrolPoint).where(PatrolPoint.site_id == site).order_by(PatrolPoint.id))
    sheet = qr.sheet_html(row.name, (qr.SheetPoint(p.id, p.name, p.code, p.grid_id, dict(p.location or {}))
                                     for p in points), svc.settings.notifications.public_url)
    return HTMLResponse(sheet, headers={"Content-Disposition": f'inline; filename="patrol-{site}.html"'})


# -- routes -------------------------------------------------------------------------------------------------


class RouteBody(BaseModel):
    site: BodyId
    name: Name
    team: BodyId | None = Field(default=None, description="the team that walks it (its alerts go to that team)")
    points: list[RoutePointConfig] = Field(min_length=1, max_length=200,
                                           description="in order: `{point, within}` (checked within `within` of the "
                                                       "round's start)")
    schedule: RouteScheduleConfig = Field(description='`{"times": ["22:00", "02:00"], "days": null}` in site time')
    duration: str = Field(default="1h", max_length=32, description="a round not complete this long after its "
                                                                    "start is overdue (at most 24h)")
    enabled: bool = True


class RouteIn(RouteBody):
    id: BodyId


class RouteOut(BaseModel):
    id: str
    site: str
    team: str | None
    name: str
    points: list[dict[str, Any]]
    schedule: dict[str, Any]
    duration: str
    enabled: bool
    updated_at: datetime


def _route_points(row: PatrolRoute) -> list[str]:
    return [str(p.get("point")) for p in row.points or [] if isinstance(p, dict)]


def _route_out(row: PatrolRoute) -> RouteOut:
    return RouteOut(id=row.id, site=row.site_id, team=row.team_id, name=row.name, points=list(row.points or []),
                    schedule=dict(row.schedule or {}), duration=row.duration, enabled=row.enabled,
                    updated_at=row.updated_at)


def _store_route(session: Session, route_id: str, body: RouteBody) -> Callable[[PatrolRoute], None]:
    def store(row: PatrolRoute) -> None:
        existing_site(session, body.site)
        try:
            config = PatrolRouteConfig.model_validate({"id": route_id, **body.model_dump(exclude={"site"})})
        except ValidationError as exc:
            raise unprocessable(reasons(exc)) from None
        if row.site_id is not None and row.site_id != body.site:
            raise conflict(f"patrol route {route_id} belongs to site {row.site_id}")
        if body.team is not None and session.scalar(select(PatrolTeam.site_id).where(PatrolTeam.id == body.team)) \
                != body.site:
            raise unprocessable(f"team {body.team!r} is not a team of site {body.site!r}")
        ids = [p.point for p in config.points]
        known = set(session.scalars(select(PatrolPoint.id).where(PatrolPoint.id.in_(ids),
                                                                 PatrolPoint.site_id == body.site)))
        unknown = [p for p in ids if p not in known]
        if unknown:
            raise unprocessable(f"not patrol points of site {body.site!r}: {', '.join(unknown)}")
        row.site_id, row.team_id, row.name = body.site, body.team, body.name.strip()
        row.points = [p.model_dump() for p in config.points]
        row.schedule, row.duration = config.schedule.model_dump(), config.duration
        row.enabled, row.updated_at = config.enabled, utcnow()

    return store


@router.get("/routes", response_model=list[RouteOut], responses=errors(422))
def list_routes(session: DB, _who: ConfigReader, site: SiteFilter = None,
                team: Annotated[str | None, Query(max_length=64)] = None) -> list[RouteOut]:
    query = select(PatrolRoute).order_by(PatrolRoute.site_id, PatrolRoute.id)
    if site is not None:
        query = query.where(PatrolRoute.site_id == site)
    if team is not None:
        query = query.where(PatrolRoute.team_id == team)
    return [_route_out(row) for row in session.scalars(query)]


@router.post("/routes", response_model=RouteOut, status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
def create_route(body: RouteIn, svc: Svc, session: DB, _who: ConfigWriter) -> RouteOut:
    """A route: its points (of the same site) in order with their windows, its team, its schedule; the next
    scheduled start makes a round (one already running now is made at once)."""
    return _route_out(save(session, svc, PatrolRoute, body.id, "patrol route", _store_route(session, body.id, body)))


@router.get("/routes/{route_id}", response_model=RouteOut, responses=errors(404, 422))
def get_route(route_id: PathId, session: DB, _who: ConfigReader) -> RouteOut:
    return _route_out(get_or_404(session, PatrolRoute, route_id, "patrol route"))


@router.put("/routes/{route_id}", response_model=RouteOut, responses=put_responses(RouteOut))
def put_route(route_id: PathId, body: RouteBody, response: Response, svc: Svc, session: DB,
              _who: ConfigWriter) -> RouteOut:
    """Create (201) or replace (200); rounds already made keep the points they were made with."""
    return _route_out(save(session, svc, PatrolRoute, route_id, "patrol route", _store_route(session, route_id, body),
                           replace=response))


@router.delete("/routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
def delete_route(route_id: PathId, svc: Svc, session: DB, _who: ConfigWriter) -> None:
    """Delete a route: no more rounds are made; its past rounds and their check-ins stay."""
    remove(session, svc, get_or_404(session, PatrolRoute, route_id, "patrol route"), f"patrol route {route_id}")


# -- check-ins ----------------------------------------------------------------------------------------------


class CheckinIn(BaseModel):
    point: BodyId | None = Field(default=None, description="the point's id (from its QR code); may be left out "
                                                           "only for an NFC tap, found by its tag")
    code: str = Field(min_length=1, max_length=128, pattern=LINE,
                      description="the point's code (from its QR code), or for `nfc` the tag's serial number")
    client_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$",
                           description="made by the phone for each scan (a UUID): a resend is stored once")
    at: Instant = Field(description="when it was scanned, by the phone's clock")
    method: Literal["qr", "nfc", "manual"] = "qr"


class CheckinOut(BaseModel):
    id: int
    client_id: str
    point: str
    point_name: str | None
    site: str
    member: str
    team: str | None
    at: datetime
    received_at: datetime
    method: str
    round: int | None = Field(description="the round it counts for; null: outside any round")
    round_state: str | None
    completed: bool = Field(description="this check-in completed its round")
    note: str | None = Field(default=None, description="why `at` is not the phone's (its clock was ahead)")


def _checkin_out(session: Session, row: PatrolCheckin, round_: PatrolRound | None = None, completed: bool = False,
                 note: str | None = None) -> CheckinOut:
    if round_ is None and row.round_id is not None:
        round_ = session.get(PatrolRound, row.round_id)  # the session's identity map: each round read once
    point = session.get(PatrolPoint, row.point_id)
    return CheckinOut(id=row.id, client_id=row.client_id, point=row.point_id,
                      point_name=point.name if point is not None else None,
                      site=row.site_id, member=row.member, team=row.team_id, at=row.at, received_at=row.received_at,
                      method=row.method, round=row.round_id, round_state=round_.state if round_ is not None else None,
                      completed=completed, note=note)


def _teams(session: Session, who: Principal) -> set[str] | None:
    """The teams whose rounds a caller walks and sees: a patrol token's team and the teams of its grids; None (every
    team) for the other roles."""
    if who.role is not Role.PATROL:
        return None
    teams = {who.team_id} if who.team_id else set()
    if who.grids:
        teams.update(t for t in session.scalars(select(Grid.team_id).where(Grid.id.in_(sorted(who.grids)))) if t)
    return teams


@router.post("/checkins", response_model=CheckinOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": CheckinOut, "description": "already stored (the same `client_id`): as it was"},
                        **errors(404, 409, 422)})
def post_checkin(body: CheckinIn, response: Response, svc: Svc, session: DB, who: Checker) -> CheckinOut:
    """A patrol member at a point (docs/patrol.md): the code is checked, a resend answers `200` with the stored
    check-in, `at` is the phone's clock (a minute ahead at most: else the server's time, said in `note`; older than
    24 h: 422), and it counts for the running round of the member's team that contains the point (completing it
    when it was the last point), else it is recorded outside a round."""
    request = checkins.CheckinRequest(body.point, body.code, body.client_id, body.at, body.method)
    try:
        result = checkins.check_in(session, request, who.name, who.team_id, _teams(session, who), utcnow())
    except checkins.CheckinRefused as refused:
        session.rollback()
        raise HTTPException(refused.status, str(refused)) from None
    out = _checkin_out(session, result.checkin, result.round, result.completed, result.note)
    commit(session, "this check-in was sent twice at the same time: send it again")
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return out


@router.get("/checkins", response_model=list[CheckinOut], responses=errors(422))
def list_checkins(session: DB, who: ConfigReader, member: Annotated[str | None, Query(max_length=200)] = None,
                  team: Annotated[str | None, Query(max_length=64)] = None,
                  round: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                  since: Instant | None = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[CheckinOut]:
    """Check-ins, newest first (default: the last 7 days), those outside a round too; a patrol token sees its own
    and its teams'."""
    query = select(PatrolCheckin).where(PatrolCheckin.at >= (since or utcnow() - DEFAULT_HISTORY))
    teams = _teams(session, who)
    if teams is not None:
        query = query.where(or_(PatrolCheckin.member == who.name, PatrolCheckin.team_id.in_(sorted(teams))))
    for column, value in ((PatrolCheckin.member, member), (PatrolCheckin.team_id, team),
                          (PatrolCheckin.round_id, round)):
        if value is not None:
            query = query.where(column == value)
    rows = session.scalars(query.order_by(PatrolCheckin.at.desc(), PatrolCheckin.id.desc()).limit(limit))
    return [_checkin_out(session, row) for row in rows]


# -- rounds -------------------------------------------------------------------------------------------------


class RoundPoint(BaseModel):
    point: str
    name: str
    grid: str | None
    location: dict[str, Any]
    within: str | None
    deadline: datetime
    state: Literal["pending", "checked", "late", "missed"]
    alerted: bool = Field(description="its missed-point alert was raised")
    at: datetime | None
    member: str | None
    method: str | None


class RoundOut(BaseModel):
    id: int
    route: str
    route_name: str | None
    site: str
    team: str | None
    team_name: str | None
    starts_at: datetime
    due_at: datetime
    state: Literal["open", "completed", "incomplete"]
    completed_at: datetime | None
    checked: int
    total: int
    missed: list[str]
    members: list[str]
    points: list[RoundPoint]


def _visible(query: Any, teams: set[str] | None) -> Any:
    if teams is None:
        return query
    return query.where(or_(PatrolRound.team_id.is_(None), PatrolRound.team_id.in_(sorted(teams))))


@router.get("/rounds", response_model=list[RoundOut], responses=errors(422))
def list_rounds(session: DB, who: ConfigReader, site: SiteFilter = None,
                team: Annotated[str | None, Query(max_length=64)] = None,
                route: Annotated[str | None, Query(max_length=64)] = None,
                member: Annotated[str | None, Query(max_length=200, description="rounds this member checked in")]
                = None,
                state: Literal["open", "completed", "incomplete"] | None = None,
                since: Annotated[Instant | None, Query(description="started at or after (default: 7 days ago)")]
                = None,
                until: Instant | None = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """Round history, newest first, with each point's state; a patrol token sees its teams' rounds."""
    query = _visible(select(PatrolRound), _teams(session, who))
    query = query.where(PatrolRound.starts_at >= (since or utcnow() - DEFAULT_HISTORY))
    if until is not None:
        query = query.where(PatrolRound.starts_at <= until)
    for column, value in ((PatrolRound.site_id, site), (PatrolRound.team_id, team), (PatrolRound.route_id, route),
                          (PatrolRound.state, state)):
        if value is not None:
            query = query.where(column == value)
    if member is not None:
        query = query.where(exists().where(PatrolCheckin.round_id == PatrolRound.id, PatrolCheckin.member == member))
    rounds = list(session.scalars(query.order_by(PatrolRound.starts_at.desc(), PatrolRound.id.desc()).limit(limit)))
    return rounds_json(session, rounds, utcnow())


@router.get("/rounds/{round_id}", response_model=RoundOut, responses=errors(404, 422))
def get_round(round_id: RowId, session: DB, who: ConfigReader) -> dict[str, Any]:
    """One round: each point with its window, whether and when it was checked, by whom, and how."""
    row = session.scalars(_visible(select(PatrolRound), _teams(session, who))
                          .where(PatrolRound.id == round_id)).one_or_none()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {round_id}")
    return rounds_json(session, [row], utcnow())[0]


# -- the QR code's link -------------------------------------------------------------------------------------

REF = re.compile(r"^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$")


@links_router.get("/p/{ref}", include_in_schema=False)
def open_point(ref: Annotated[str, Path(max_length=200)]) -> Response:
    """A point's QR code opened by a phone's own camera app: on to the console's check-in (which checks the
    code with the member's token). Nothing is checked or recorded here."""
    if not REF.fullmatch(ref):
        return HTMLResponse("<!doctype html><meta charset=utf-8><title>安居 Anju</title>"
                            "<p>这不是安居巡更点的二维码 / not an Anju patrol point code</p>", status_code=404)
    return RedirectResponse(CONSOLE_CHECKIN + ref, status_code=status.HTTP_303_SEE_OTHER)
