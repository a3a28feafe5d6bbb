"""Dead letters: the messages the gateway refused, with the reason, for an integrator to see what went wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from api.auth import Permission, Principal
from api.deps import DB, errors, require
from api.routers._common import Instant
from kernel.db.models import DeadLetter
from kernel.siteconfig import ID_PATTERN

router = APIRouter(prefix="/dead-letters", tags=["messages"])
Reader = Annotated[Principal, Depends(require(Permission.MESSAGES_READ))]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str = Field(description="e.g. not_json, invalid_payload, unknown_kind, unregistered_device, oversized")
    detail: str
    device_id: str | None
    size: int = Field(description="the message's size in bytes; `payload` holds at most its first 4 KiB")
    payload: str = Field(description="the stored bytes as UTF-8 text, undecodable bytes replaced by U+FFFD")


class ReasonCount(BaseModel):
    reason: str
    count: int


@router.get("", response_model=list[DeadLetterOut], responses=errors(422))
def list_dead_letters(
    session: DB, _who: Reader,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    device_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[Instant | None, Query(description="only those received at or after (UTC if no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    """Refused messages, newest first."""
    stmt = select(DeadLetter).order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc()).limit(limit)
    for column, value in ((DeadLetter.reason, reason), (DeadLetter.device_id, device_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(DeadLetter.received_at >= since)
    return [DeadLetterOut(id=r.id, received_at=r.received_at, topic=r.topic, reason=r.reason, detail=r.detail,
                          device_id=r.device_id, size=r.size, payload=bytes(r.payload).decode("utf-8", "replace"))
            for r in session.scalars(stmt)]


@router.get("/reasons", response_model=list[ReasonCount], responses=errors())
def reasons(session: DB, _who: Reader) -> list[ReasonCount]:
    """How many refused messages there are for each reason, most frequent first."""
    count = func.count().label("count")
    rows = session.execute(select(DeadLetter.reason, count).group_by(DeadLetter.reason)
                           .order_by(count.desc(), DeadLetter.reason))
    return [ReasonCount(reason=reason, count=n) for reason, n in rows]
