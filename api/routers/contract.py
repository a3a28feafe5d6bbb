"""The device contract as data (SPEC §2): topics, and per kind its message schemas with an example of each.

Built from the drivers (`devices.DRIVERS`), so it can never disagree with what
the gateway accepts; each example is generated from its JSON Schema and is a
payload the gateway would accept.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import Permission, Principal
from api.deps import DB, Svc, errors, require
from devices import DRIVERS
from kernel.db.models import Device, DeviceDeviation
from kernel.topics import CHANNELS, PREFIX, STATUS_OFFLINE, STATUS_ONLINE

router = APIRouter(prefix="/contract", tags=["messages"])
Reader = Annotated[Principal, Depends(require(Permission.MESSAGES_READ))]

EXAMPLE_TS = 1767225600000
"""2026-01-01T00:00:00Z, in epoch milliseconds."""
EXAMPLE_VALUES: dict[str, Any] = {
    "msg_id": "0001", "ts": EXAMPLE_TS, "plate": "辽E12345", "color": "blue", "confidence": 0.97,
    "similarity": 0.93, "person_id": "p-0001", "credential": "card-0001", "zone": "Z1", "seconds": 90,
    "battery": 87, "voltage_kv": {"Z1": 8.2, "Z2": 8.1},
}
"""Plausible values by field name; other fields get one from their schema."""
LEFT_OUT = ("snapshot",)
"""Optional fields not shown in examples: base64 images, and their URL alternative."""


class Topics(BaseModel):
    event: str
    telemetry: str
    status: str
    cmd: str
    alerts: str


class ContractOut(BaseModel):
    topics: Topics
    status_payloads: list[str] = Field(description="what a device publishes (retained) on its status topic")
    max_payload_bytes: int
    kinds: list[dict[str, Any]] = Field(description="each driver's `describe()` with `examples`: "
                                                    "{event: {type: payload}, telemetry: {type: payload}}")


def example_value(name: str, schema: dict[str, Any]) -> Any:
    """A plausible value for one property: by its name if known, else from its schema (first choice, midpoint)."""
    if name in EXAMPLE_VALUES:
        return EXAMPLE_VALUES[name]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return example_value(name, {**schema, "anyOf": (), **option})  # an option may be a union itself
    kind = schema.get("type")
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("ge", 0))
        high = schema.get("maximum", schema.get("le", low + 10))
        middle = (low + high) / 2
        return int(middle) if kind == "integer" else middle
    if kind == "boolean":
        return False
    if kind == "object":
        return {}
    if kind == "array":
        return []
    return name[: schema.get("maxLength", 64)]


def example_payload(schema: dict[str, Any]) -> dict[str, Any]:
    """Every declared field but images and their URLs, in schema order."""
    return {name: example_value(name, prop) for name, prop in schema.get("properties", {}).items()
            if not name.startswith(LEFT_OUT)}


def describe_kind(kind: str) -> dict[str, Any]:
    description = DRIVERS[kind].describe()
    description["examples"] = {channel: {name: example_payload(schema) for name, schema in description[key].items()}
                               for channel, key in (("event", "events"), ("telemetry", "telemetry"))}
    return description


def deviations_by_kind(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The tolerated deviations seen so far, per kind and reason (the firmware bugs still out there)."""
    total = func.sum(DeviceDeviation.count)
    rows = session.execute(select(Device.kind, DeviceDeviation.reason, total, func.count())
                           .join(Device, Device.id == DeviceDeviation.device_id)
                           .group_by(Device.kind, DeviceDeviation.reason).order_by(Device.kind, total.desc()))
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, reason, count, devices in rows:
        out.setdefault(kind, []).append({"reason": reason, "count": int(count or 0), "devices": devices})
    return out


@router.get("", response_model=ContractOut, responses=errors())
def contract(svc: Svc, session: DB, _who: Reader) -> ContractOut:
    """Topics and, per device kind, the event, telemetry and command schemas with an example of each message,
    the type aliases the kind accepts, and the deviations from this contract its devices were seen to send."""
    device = f"{PREFIX}/{{site}}/{{kind}}/{{device}}"
    topics = {channel: f"{device}/{channel}" for channel in (*CHANNELS, "cmd")}
    seen = deviations_by_kind(session)
    return ContractOut(topics=Topics(**topics, alerts=f"{PREFIX}/{{site}}/alerts"),
                       status_payloads=[STATUS_ONLINE.decode(), STATUS_OFFLINE.decode()],
                       max_payload_bytes=svc.settings.gateway.max_payload_bytes,
                       kinds=[{**describe_kind(kind), "deviations": seen.get(kind, [])} for kind in sorted(DRIVERS)])
