"""Silences and maintenance windows: known noise is recorded without waking anybody (never for an SOS)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import and_, not_, select
from sqlalchemy.orm import Session

from alerting.silences import SilenceRefused, create_silence
from api.auth import Permission, Principal
from api.deps import DB, Svc, errors, require
from api.routers._common import AwareInstant, BodyId, ConfigReader, RowId, get_or_404, unprocessable
from kernel.db.models import Device, Grid, Silence, Site
from kernel.timeutil import utcnow
from rules.schema import ID_PATTERN as RULE_ID_PATTERN

router = APIRouter(prefix="/silences", tags=["silences"])
Writer = Annotated[Principal, Depends(require(Permission.SILENCES_WRITE))]
Kind = Literal["silence", "maintenance"]


class SilenceIn(BaseModel):
    kind: Kind = "silence"
    site: BodyId | None = None
    grid: BodyId | None = None
    device: BodyId | None = None
    rule: str | None = Field(default=None, pattern=RULE_ID_PATTERN)
    reason: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
                        description="why: shown with every muted alert")
    starts_at: AwareInstant | None = Field(default=None, description="default now")
    ends_at: AwareInstant = Field(description="at most 30 days after the start")


class SilenceOut(BaseModel):
    id: int
    kind: Kind
    site: str | None
    grid: str | None
    device: str | None
    rule: str | None
    owner: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    active: bool = Field(description="in force now")


def _out(row: Silence, now: datetime) -> SilenceOut:
    kind = cast(Literal["silence", "maintenance"], row.kind)
    return SilenceOut(id=row.id, kind=kind, site=row.site_id, grid=row.grid_id, device=row.device_id,
                      rule=row.rule, owner=row.owner, reason=row.reason, starts_at=row.starts_at,
                      ends_at=row.ends_at, created_at=row.created_at, active=row.starts_at <= now < row.ends_at)


def _check_targets(session: Session, body: SilenceIn) -> None:
    """What a silence names must exist: a typo would silence nothing and nobody would notice."""
    for model, key, what in ((Site, body.site, "site"), (Grid, body.grid, "grid"), (Device, body.device, "device")):
        if key is not None and session.get(model, key) is None:
            raise unprocessable(f"no {what} {key!r}")


@router.get("", response_model=list[SilenceOut], responses=errors(422))
def list_silences(
    session: DB, _who: ConfigReader,
    active: Annotated[bool | None, Query(description="true: in force now; false: ended or not started yet")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[SilenceOut]:
    """Silences, newest first."""
    now = utcnow()
    stmt = select(Silence).order_by(Silence.id.desc()).limit(limit)
    in_force = and_(Silence.starts_at <= now, Silence.ends_at > now)
    if active is not None:
        stmt = stmt.where(in_force if active else not_(in_force))
    return [_out(r, now) for r in session.scalars(stmt)]


@router.post("", response_model=SilenceOut, status_code=status.HTTP_201_CREATED, responses=errors(422))
def create(body: SilenceIn, svc: Svc, session: DB, who: Writer) -> SilenceOut:
    """Mute matching alerts until `ends_at` (recorded, not notified, not escalated). A rule marked
    `silenceable: false` (elder SOS, fence intrusion and cut) is refused with 422."""
    _check_targets(session, body)
    now = utcnow()
    try:
        row = create_silence(session, svc.engine.all_rules, owner=who.name, reason=body.reason, ends_at=body.ends_at,
                             now=now, starts_at=body.starts_at, kind=body.kind, site=body.site, grid=body.grid,
                             device=body.device, rule=body.rule)
    except SilenceRefused as exc:
        session.rollback()
        raise unprocessable(str(exc)) from None
    session.commit()
    return _out(row, now)


@router.delete("/{silence_id}", response_model=SilenceOut, responses=errors(404, 422))
def end(silence_id: RowId, session: DB, _who: Writer) -> SilenceOut:
    """End a silence now; the record is kept (who silenced what, and why)."""
    row = get_or_404(session, Silence, silence_id, "silence")
    now = utcnow()
    if row.ends_at > now:
        row.ends_at = now
        session.commit()
    return _out(row, now)
