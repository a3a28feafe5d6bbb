"""Commands to devices (SPEC §5, docs/commands.md): send one, follow it, and a device's command history.

Who may send what is `command_permission` (the one map; docs/commands.md and docs/api.md say the same): every
declared command needs `commands:send`, and those that weaken protection (`SECURITY_COMMANDS`: disarming a fence
zone) need `commands:security` too. A patrol token commands only the devices of its grids. The row each command
leaves (`device_commands`) is its audit: who asked, when, what with which arguments, and how it ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Permission, Principal
from api.deps import DB, Svc, errors, require
from api.jsonsafe import BoundedObject, renderable, renderable_object
from api.visibility import alert_filter, can_see_device
from gateway.commands import DEFAULT_TTL, MAX_TTL, MIN_TTL, CommandRefused, declared_commands, send_command
from kernel.db.models import Alert, Device, DeviceCommand
from kernel.db.writes import write_transaction
from kernel.siteconfig import ID_PATTERN
from kernel.timeutil import utcnow

router = APIRouter(prefix="/devices", tags=["commands"])
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]
CommandId = Annotated[str, Path(pattern=ID_PATTERN, description="the `cmd_id` the command was answered with")]
Reader = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]
Sender = Annotated[Principal, Depends(require(Permission.COMMANDS_SEND))]
CommandState = Literal["pending", "sent", "succeeded", "failed", "expired"]

SECURITY_COMMANDS: frozenset[tuple[str, str]] = frozenset({("fence", "disarm")})
"""(kind, command) pairs that weaken protection: `commands:security` besides `commands:send`."""


def command_permission(kind: str, command: str) -> Permission:
    """The permission a command needs: the one map of who may send what (docs/commands.md)."""
    return Permission.COMMANDS_SECURITY if (kind, command) in SECURITY_COMMANDS else Permission.COMMANDS_SEND


class CommandIn(BaseModel):
    command: str = Field(min_length=1, max_length=64, examples=["open"],
                         description="one the device's kind declares (`GET /contract`: `commands`)")
    args: BoundedObject = Field(default_factory=dict, examples=[{"seconds": 10}],
                                description="the command's arguments, checked against its schema (defaults filled in)")
    ttl: int = Field(default=int(DEFAULT_TTL.total_seconds()), ge=int(MIN_TTL.total_seconds()),
                     le=int(MAX_TTL.total_seconds()),
                     description="seconds to wait for the device's answer before the command expires")
    alert_id: int | None = Field(default=None, ge=1, le=2**62,
                                 description="sent from this alert's page: each step is also written in its history")


class CommandOut(BaseModel):
    """A command from its request to its end: the audit."""

    cmd_id: str
    device_id: str
    site: str
    kind: str
    command: str
    args: dict[str, Any]
    state: CommandState = Field(description="pending (stored, not yet published), sent (published, no answer "
                                            "yet), succeeded, failed (the device's `detail`, or why it could not be "
                                            "published), expired (no answer by `expires_at`)")
    detail: Any = Field(description="what the device answered (`cmd_result.detail`); for an expired command "
                                    "answered late `{answered_late, ok, detail}`")
    requested_by: str
    requested_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None
    expires_at: datetime
    alert_id: int | None


def command_out(row: DeviceCommand) -> CommandOut:
    return CommandOut(cmd_id=row.id, device_id=row.device_id, site=row.site_id, kind=row.kind, command=row.command,
                      args=renderable_object(row.args), state=row.state,  # type: ignore[arg-type]
                      detail=renderable(row.detail), requested_by=row.requested_by, requested_at=row.requested_at,
                      sent_at=row.sent_at, answered_at=row.answered_at, expires_at=row.expires_at,
                      alert_id=row.alert_id)


def _device(session: Session, who: Principal, device_id: str, refuse: int) -> Device:
    """The device, if the caller may reach it: 404 when it does not exist; outside a patrol token's grids
    `refuse` (403 to command it, 404 to read its commands, as for the device itself)."""
    row = session.get(Device, device_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
    if not can_see_device(who, row):
        if refuse == status.HTTP_403_FORBIDDEN:
            raise HTTPException(refuse, f"device {device_id} is not in your grids")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
    return row


@router.post("/{device_id}/commands", response_model=CommandOut, status_code=status.HTTP_202_ACCEPTED,
             responses=errors(404, 422))
def send(device_id: DeviceId, body: CommandIn, svc: Svc, session: DB, who: Sender) -> CommandOut:
    """Send a command (SPEC §5): stored, published on the device's `cmd` topic, and followed until the device's
    `cmd_result` or `ttl`. Answers 202 with the command as it is once published (`sent`; `failed` if the broker
    could not be reached); follow it with `GET .../commands/{cmd_id}`. 422 names what is wrong with an
    undeclared command or its arguments; 403 when the role may not send it (`commands:security` for a fence's
    `disarm`) or the device is outside a patrol token's grids."""
    device = _device(session, who, device_id, status.HTTP_403_FORBIDDEN)
    if body.command not in declared_commands(device.kind):
        takes = ", ".join(sorted(declared_commands(device.kind))) or "none"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"kind {device.kind} takes no command {body.command!r} (it takes: {takes})")
    needed = command_permission(device.kind, body.command)
    if not who.can(needed):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"role {who.role} may not send {body.command} to a {device.kind} ({needed})")
    if body.alert_id is not None:
        alert = session.scalars(select(Alert).where(Alert.id == body.alert_id, alert_filter(who))).one_or_none()
        if alert is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no alert {body.alert_id}")
        if alert.site_id != device.site_id:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"alert {body.alert_id} is at site {alert.site_id}, the device at {device.site_id}")
    session.rollback()  # the write below runs in a transaction of its own (SQLite: the lock taken first)
    try:
        cmd_id = write_transaction(svc.sessions, partial(_store, device_id=device.id, body=body, by=who.name))
    except CommandRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    svc.gateway.dispatch_command(cmd_id)
    row = session.get(DeviceCommand, cmd_id)
    assert row is not None
    return command_out(row)


def _store(session: Session, *, device_id: str, body: CommandIn, by: str) -> str:
    device = session.get(Device, device_id)
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")  # unregistered meanwhile
    row = send_command(session, device, body.command, body.args, by, utcnow(), timedelta(seconds=body.ttl),
                       body.alert_id)
    return row.id


@router.get("/{device_id}/commands", response_model=list[CommandOut], responses=errors(404, 422))
def history(device_id: DeviceId, session: DB, who: Reader,
            limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[CommandOut]:
    """The device's commands, newest first: who sent what, when, and how each ended."""
    _device(session, who, device_id, status.HTTP_404_NOT_FOUND)
    rows = session.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device_id)
                           .order_by(DeviceCommand.requested_at.desc(), DeviceCommand.id).limit(limit))
    return [command_out(r) for r in rows]


@router.get("/{device_id}/commands/{cmd_id}", response_model=CommandOut, responses=errors(404, 422))
def one(device_id: DeviceId, cmd_id: CommandId, session: DB, who: Reader) -> CommandOut:
    """One command and its state: pending, sent, succeeded, failed (with the device's `detail`) or expired."""
    _device(session, who, device_id, status.HTTP_404_NOT_FOUND)
    row = session.get(DeviceCommand, cmd_id)
    if row is None or row.device_id != device_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no command {cmd_id} of device {device_id}")
    return command_out(row)
