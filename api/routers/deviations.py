"""Tolerated deviations: messages that were processed only after a repair, per device and reason.

The gateway accepts what firmware means rather than what it should have sent
(epoch seconds, numeric ids, upper-case types: SPEC §2). The message works, so
nothing else would tell the integrator that the firmware is still wrong; this
list does, with the last value as sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import Permission, Principal
from api.deps import DB, errors, require
from kernel.db.models import Device, DeviceDeviation
from kernel.siteconfig import ID_PATTERN

router = APIRouter(prefix="/deviations", tags=["messages"])
Reader = Annotated[Principal, Depends(require(Permission.MESSAGES_READ))]


class DeviationOut(BaseModel):
    device_id: str
    site: str | None
    kind: str | None
    reason: str = Field(description="e.g. ts_seconds, ts_local_time, ts_unusable, msg_id_number, type_case, "
                                    "type_alias, number_as_text, text_as_number, value_case, field_too_large")
    field: str = Field(description="the payload field that was repaired (dotted for nested ones)")
    count: int
    first_at: datetime
    last_at: datetime
    last_sent: str = Field(description="the last repaired value as the device sent it (its repr, shortened)")


@router.get("", response_model=list[DeviationOut], responses=errors(422))
def list_deviations(
    session: DB, _who: Reader,
    device_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    kind: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DeviationOut]:
    """Per device and reason, most recent first."""
    stmt = (select(DeviceDeviation, Device.site_id, Device.kind)
            .join(Device, Device.id == DeviceDeviation.device_id, isouter=True)
            .order_by(DeviceDeviation.last_at.desc(), DeviceDeviation.device_id, DeviceDeviation.reason).limit(limit))
    for column, value in ((DeviceDeviation.device_id, device_id), (Device.site_id, site), (Device.kind, kind),
                          (DeviceDeviation.reason, reason)):
        if value is not None:
            stmt = stmt.where(column == value)
    return [DeviationOut(device_id=d.device_id, site=site_id, kind=device_kind, reason=d.reason, field=d.field,
                         count=d.count, first_at=d.first_at, last_at=d.last_at, last_sent=d.last_sent)
            for d, site_id, device_kind in session.execute(stmt)]
