"""Commands to devices (SPEC §5, docs/commands.md): open or lock a gate, arm or disarm a fence zone, make a button beep.

One row of `device_commands` per command is its whole life and its audit (who, when, what, with which arguments,
and how it ended):

    pending ──published──▶ sent ──cmd_result ok──▶ succeeded
       │                     │  └─cmd_result not ok─▶ failed      (the device's `detail`)
       │                     └──expires_at passed──▶ expired     (a later answer is recorded, the state stays)
       ├──not published (broker unreachable)──▶ failed
       └──expires_at passed──▶ expired

- `send_command` (the API's transaction) checks the command against the kind's driver (`DeviceDriver.commands`,
  pydantic models) and writes the row, `pending`;
- `publish_command` (after that commit) publishes `{"cmd_id", "command", "args", "ts", "expires_at"}` at QoS 1 on
  `anju/v1/{site}/{kind}/{device}/cmd` and marks the row `sent`, or `failed` when it could not be published;
- `apply_result` (in the gateway's batch transaction) closes it with the device's `cmd_result`;
- `expire_due` (on the gateway's watchdog clock) expires what nobody answered in time, claiming rows with
  `FOR UPDATE SKIP LOCKED` so that with several gateways each command expires once.

A command sent from an alert's page (`alert_id`) also leaves a line in that alert's history at each step.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import orjson
from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from devices import DRIVERS
from devices.base import Command
from gateway.decode import CommandResult, Rejection
from kernel.db.engine import affected
from kernel.db.models import Alert, AlertHistory, Device, DeviceCommand
from kernel.db.writes import write_transaction
from kernel.topics import command_topic

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(seconds=30)
"""How long a command waits for its device's answer unless the request says otherwise."""
MIN_TTL = timedelta(seconds=1)
MAX_TTL = timedelta(minutes=10)
"""Longer would let a gate open long after whoever asked has gone: ask again instead."""
STATES = ("pending", "sent", "succeeded", "failed", "expired")
OPEN_STATES = ("pending", "sent")
"""Still waiting: for its publication (pending) or for the device's answer (sent)."""
FINAL_STATES = ("succeeded", "failed", "expired")
EXPIRE_BATCH = 200
"""Commands expired per transaction (the rest on the next tick)."""
NOT_PUBLISHED = "not published: broker unreachable"

PublishOutcome = Literal["sent", "queued", "unreachable", "refused"]
"""`MqttHub.publish_live`: handed to a live connection; queued by the MQTT client for after a reconnect (the
connection dropped meanwhile); not published at all (no connection, or the client refused it)."""


class CommandRefused(ValueError):
    """A command the device's kind does not declare, or arguments its model refuses (the API's 422)."""


class CommandPublisher(Protocol):
    """What publishing needs of the gateway's MQTT connection (`gateway.mqtt_hub.MqttHub`)."""

    def publish_live(self, topic: str, payload: bytes, qos: int = 1) -> PublishOutcome: ...


def declared_commands(kind: str) -> dict[str, type[Command]]:
    """The commands devices of `kind` take (its driver's `commands`); {} for an unknown kind."""
    driver = DRIVERS.get(kind)
    return dict(driver.commands) if driver is not None else {}


def validate_command(kind: str, command: str, args: Mapping[str, Any] | None) -> dict[str, Any]:
    """The command's arguments as its model reads them, defaults filled in; `CommandRefused` with the reason."""
    declared = declared_commands(kind)
    model = declared.get(command)
    if model is None:
        takes = ", ".join(sorted(declared)) or "none"
        raise CommandRefused(f"kind {kind} takes no command {command!r} (it takes: {takes})")
    try:
        parsed = model.model_validate(dict(args or {}))
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(args)'}: {e['msg']}"
                            for e in exc.errors(include_url=False))
        raise CommandRefused(f"{command}: {reasons}") from None
    return parsed.model_dump(mode="json")


def send_command(session: Session, device: Device, command: str, args: Mapping[str, Any] | None, by: str,
                 now: datetime, ttl: timedelta = DEFAULT_TTL, alert_id: int | None = None) -> DeviceCommand:
    """Check the command against the device's kind and write it, `pending` (the caller commits, then publishes it
    with `publish_command`). Raises `CommandRefused` with the reason."""
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise CommandRefused(f"ttl must be between {MIN_TTL.total_seconds():g} and {MAX_TTL.total_seconds():g} "
                             "seconds")
    validated = validate_command(device.kind, command, args)
    row = DeviceCommand(id=secrets.token_hex(16), site_id=device.site_id, device_id=device.id, kind=device.kind,
                        command=command, args=validated, state="pending", requested_by=by[:200], requested_at=now,
                        expires_at=now + ttl, alert_id=alert_id)
    session.add(row)
    session.flush()
    if alert_id is not None:
        _alert_step(session, alert_id, "command_sent", now, by,
                    f"command {command} sent to {device.id} by {by}{_shown_args(validated)}")
    return row


def command_json(row: DeviceCommand) -> dict[str, Any]:
    """A command as the API shows it and the gateway's command listeners are told."""
    return {
        "cmd_id": row.id, "device_id": row.device_id, "site": row.site_id, "kind": row.kind, "command": row.command,
        "args": row.args, "state": row.state, "detail": row.detail, "requested_by": row.requested_by,
        "requested_at": row.requested_at.isoformat(), "sent_at": _iso(row.sent_at),
        "answered_at": _iso(row.answered_at), "expires_at": row.expires_at.isoformat(), "alert_id": row.alert_id,
    }


def command_payload(row: DeviceCommand) -> bytes:
    """What the device receives: the SPEC's `{"cmd_id", "command", "args", "ts"}`, plus `expires_at` (epoch ms),
    after which a device should not act on it (it may arrive late, after a reconnect)."""
    return orjson.dumps({"cmd_id": row.id, "command": row.command, "args": row.args, "ts": _epoch_ms(row.requested_at),
                         "expires_at": _epoch_ms(row.expires_at)})


def publish_command(sessions: sessionmaker[Session], publisher: CommandPublisher, cmd_id: str,
                    now: datetime) -> dict[str, Any] | None:
    """Publish a committed `pending` command on its device's `cmd` topic and record how that went: `sent`;
    `failed` ("not published: broker unreachable") when there is no connection to the broker, so whoever asked
    knows at once and tries another way; still `pending` when the connection dropped as it was handed over (the
    MQTT client sends it after the reconnect, and the device ignores it past `expires_at`). Returns the
    command as it now is (None: no such command, or no longer pending)."""
    with sessions() as session:
        row = session.get(DeviceCommand, cmd_id)
        if row is None or row.state != "pending":
            return None
        topic, payload = command_topic(row.site_id, row.kind, row.device_id), command_payload(row)
    outcome = publisher.publish_live(topic, payload)

    def record(session: Session) -> dict[str, Any] | None:
        if outcome == "sent":
            session.execute(update(DeviceCommand).where(DeviceCommand.id == cmd_id, DeviceCommand.state == "pending")
                            .values(state="sent", sent_at=now))
            # Answered before this update (a device on the same host is that quick): keep its state, note the time.
            session.execute(update(DeviceCommand).where(DeviceCommand.id == cmd_id, DeviceCommand.sent_at.is_(None))
                            .values(sent_at=now))
        elif outcome in ("unreachable", "refused"):
            failed = affected(session.execute(
                update(DeviceCommand).where(DeviceCommand.id == cmd_id, DeviceCommand.state == "pending")
                .values(state="failed", detail=NOT_PUBLISHED if outcome == "unreachable" else
                        "not published: the MQTT client refused it")))
            found = session.get(DeviceCommand, cmd_id)
            if failed and found is not None and found.alert_id is not None:
                _alert_step(session, found.alert_id, "command_failed", now, None,
                            f"command {found.command} to {found.device_id} failed: {found.detail}")
        else:
            log.warning("command %s: the broker connection dropped as it was published; the MQTT client sends it "
                        "after the reconnect (until then it stays pending)", cmd_id)
        found = session.get(DeviceCommand, cmd_id)
        return command_json(found) if found is not None else None

    return write_transaction(sessions, record)


def apply_result(session: Session, device_id: str, result: CommandResult,
                 at: datetime) -> dict[str, Any] | Rejection | None:
    """A device's `cmd_result`, in the batch's transaction: closes its command (`succeeded`, or `failed` with the
    device's detail) when the command was sent to that device and is still open. Returns the command as it now
    is; a `Rejection` for an unknown `cmd_id` (`unknown_cmd_id`) or another device's command
    (`cmd_device_mismatch`); None for a repeat of an answer already recorded (QoS 1 may deliver twice).

    An answer after expiry is recorded (`detail`, `answered_at`) but the command stays `expired`: whoever asked
    was told it expired and may have acted on that (docs/commands.md)."""
    row = session.scalars(select(DeviceCommand).where(DeviceCommand.id == result.cmd_id).with_for_update()).first()
    if row is None:
        return Rejection("unknown_cmd_id", f"no command {result.cmd_id!r} was sent", device_id, result.topic)
    if row.device_id != device_id:
        return Rejection("cmd_device_mismatch", f"command {result.cmd_id} was sent to {row.device_id!r}, not to "
                         f"{device_id!r}", device_id, result.topic)
    if row.state in OPEN_STATES:
        row.state = "succeeded" if result.ok else "failed"
        row.detail, row.answered_at = result.detail, at
        if row.alert_id is not None:
            outcome = "succeeded" if result.ok else "failed"
            _alert_step(session, row.alert_id, f"command_{outcome}", at, None,
                        f"command {row.command} to {row.device_id} {outcome}{_shown_detail(result.detail)}")
    elif row.state == "expired" and row.answered_at is None:
        row.detail, row.answered_at = {"answered_late": True, "ok": result.ok, "detail": result.detail}, at
        if row.alert_id is not None:
            _alert_step(session, row.alert_id, "command_answered_late", at, None,
                        f"command {row.command} to {row.device_id} answered after it expired: "
                        f"{'ok' if result.ok else 'not ok'}{_shown_detail(result.detail)}")
    else:
        return None
    session.flush()
    return command_json(row)


def expire_due(session: Session, now: datetime, limit: int = EXPIRE_BATCH) -> list[dict[str, Any]]:
    """Expire open commands past `expires_at` (claimed with `FOR UPDATE SKIP LOCKED`: with several gateways, each
    command once). Returns them as they now are."""
    due = session.scalars(
        select(DeviceCommand)
        .where(DeviceCommand.state.in_(OPEN_STATES), DeviceCommand.expires_at <= now)
        .order_by(DeviceCommand.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    out = []
    for row in due:
        waited = (row.expires_at - row.requested_at).total_seconds()
        never_sent = row.state == "pending"
        row.state = "expired"
        if never_sent:
            row.detail = "never published"
        if row.alert_id is not None:
            _alert_step(session, row.alert_id, "command_expired", now, None,
                        f"command {row.command} to {row.device_id} expired: "
                        f"{'never published' if never_sent else 'no answer'} within {waited:g} s")
        out.append(command_json(row))
    session.flush()
    return out


def any_due(session: Session, now: datetime) -> bool:
    """A cheap read: is any open command past its expiry? (The watchdog writes only when one is.)"""
    return session.scalar(select(DeviceCommand.id).where(DeviceCommand.state.in_(OPEN_STATES),
                                                         DeviceCommand.expires_at <= now).limit(1)) is not None


def _alert_step(session: Session, alert_id: int, action: str, at: datetime, by: str | None, note: str) -> None:
    """A line in the alert's history (at its current level), as `alerting.alerts.record_step` writes them."""
    level = session.scalar(select(Alert.level).where(Alert.id == alert_id))
    if level is None:
        return  # deleted since
    session.execute(insert(AlertHistory).values(alert_id=alert_id, at=at, action=action, by=by, level=level,
                                                note=note[:2000]))


def _shown_args(args: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in args.items() if v is not None}
    return f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else ""


def _shown_detail(detail: Any) -> str:
    if detail is None or detail == "":
        return ""
    text = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
    return f": {text[:300]}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
