"""Field reports: a patrol member raises an alert from the field (patrol/reports.py says what becomes of it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Permission, Principal
from api.deps import DB, Svc, errors, require
from api.routers._common import LINE, NAME, BodyId, unprocessable
from api.routers.alerts import AlertDetail, alert_detail
from kernel.db.models import Alert
from kernel.timeutil import utcnow
from kernel.vocabulary import Severity
from patrol import reports

router = APIRouter(prefix="/reports", tags=["field reports"])
Writer = Annotated[Principal, Depends(require(Permission.REPORTS_WRITE))]


class LocationIn(BaseModel):
    """Where the phone was, if it could tell (the browser's geolocation)."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(default=None, ge=0, le=1_000_000, allow_inf_nan=False)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: str = Field(min_length=1, max_length=200, pattern=NAME, description="what was seen", examples=["井盖缺失"])
    where: str | None = Field(default=None, max_length=200, pattern=LINE,
                              description="where, in words (required unless `location` is given)",
                              examples=["3号楼东侧"])
    location: LocationIn | None = None
    grid: BodyId | None = Field(default=None, description="the grid; default: the token's first grid (a patrol "
                                                          "token may report only in its own grids)")
    severity: Severity = Field(default="major", description="`critical` for a person in danger")
    photo: str | None = Field(default=None, min_length=1, max_length=reports.MAX_PHOTO * 2,
                              description="base64 JPEG or PNG, at most 4 MiB decoded; kept re-encoded as a JPEG")


@router.post("", response_model=AlertDetail, status_code=status.HTTP_201_CREATED, responses=errors(422))
def create_report(body: ReportIn, svc: Svc, session: DB, who: Writer) -> dict[str, Any]:
    """Raise an alert from the field: routed to the grid's team, escalated and notified like a device's alert.
    201 with the alert as `GET /alerts/{id}` shows it; 422 with the reason (unknown grid, not an image, larger
    than 4 MiB); 403 for a grid outside a patrol token's grids."""
    reporter = reports.Reporter(who.name, who.role.value, who.team_id, who.grids)
    try:
        photo = reports.decode_photo(body.photo) if body.photo is not None else None
        location = None if body.location is None else reports.Location(
            body.location.lat, body.location.lon, body.location.accuracy_m)
        report = reports.Report(what=body.what, where=body.where, location=location, grid=body.grid,
                                severity=body.severity, photo=photo)
        change = reports.raise_report(session, svc.engine, reporter, report, utcnow())
        session.commit()
    except reports.OutsideGrids as exc:
        session.rollback()
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except reports.ReportError as exc:
        session.rollback()
        raise unprocessable(str(exc)) from None
    svc.engine.deliver([change])
    alert = session.get(Alert, change.alert["id"])
    assert alert is not None  # committed just now
    return alert_detail(svc, session, alert)
