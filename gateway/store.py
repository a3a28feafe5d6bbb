"""The SQL writes of one processing batch, as few round trips as the backends allow."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from kernel.db.engine import affected, prebuilt
from kernel.db.models import DeadLetter, Device, DeviceDeviation, Event, ProcessedMessage, Reading, UtcDateTime

DEAD_LETTER_PAYLOAD_LIMIT = 4096


def claim_message_ids(session: Session, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
    """Record (device, msg_id) pairs as processed; returns those that were new.

    Atomic in the database (INSERT ... ON CONFLICT DO NOTHING RETURNING), so two
    gateway processes can never both accept the same message.
    """
    if not keys:
        return set()
    stmt = prebuilt(session, "claim-message-ids", _claim)
    rows = [{"device_id": d, "msg_id": m, "received_at": now} for d, m in keys]
    return {(d, m) for d, m in session.connection().execute(stmt, rows)}


def _claim(insert_: Callable[[Any], Any]) -> Any:
    table = ProcessedMessage.__table__
    return insert_(table).on_conflict_do_nothing().returning(table.c.device_id, table.c.msg_id)


_EVENTS = cast(Table, Event.__table__)
_EVENT_INSERT = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
"""Built once, run as Core: the ORM's bulk-insert machinery cost more than the insert on the press path."""


def insert_events(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert events and return their ids in the order given."""
    if not rows:
        return []
    return list(session.connection().scalars(_EVENT_INSERT, rows))


_READINGS = cast(Table, Reading.__table__)
_READING_INSERT = insert(_READINGS)


def insert_readings(session: Session, rows: list[dict[str, Any]]) -> None:
    """Core, not the ORM's bulk insert: that cost more than the insert itself in every telemetry batch."""
    if rows:
        session.connection().execute(_READING_INSERT, [
            {"device_id": r["device_id"], "metric": r["metric"], "zone": r["zone"], "ts": r["ts"], "value": r["value"]}
            for r in rows])


def insert_dead_letters(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    rows = [{**row, "payload": row["payload"][:DEAD_LETTER_PAYLOAD_LIMIT]} for row in rows]
    if rows:
        session.execute(insert(DeadLetter), rows)


_seen = bindparam("b_seen", type_=UtcDateTime())
_HEALTH_UPDATE = (
    update(Device)
    .where(Device.id == bindparam("b_id"))
    .values(
        # Never move last_seen backwards: batches from two workers may commit out of order.
        last_seen=case((Device.last_seen.is_(None), _seen), (Device.last_seen < _seen, _seen), else_=Device.last_seen),
        battery=func.coalesce(bindparam("b_battery"), Device.battery),
        tamper=func.coalesce(bindparam("b_tamper"), Device.tamper),
        fault=case((bindparam("b_fault_set"), bindparam("b_fault")), else_=Device.fault),
        readings=func.coalesce(bindparam("b_readings", type_=JSON(none_as_null=True)), Device.readings),
    )
)


def update_health(session: Session, rows: list[dict[str, Any]]) -> None:
    """rows: b_id, b_seen, b_battery, b_tamper, b_fault_set, b_fault, b_readings (None = unchanged)."""
    if rows:
        session.connection().execute(_HEALTH_UPDATE, rows)


def set_online(session: Session, device_id: str, online: bool, at: datetime,
               only_if_silent_since: datetime | None = None) -> bool:
    """Flip a device's online flag; True when it really changed (so exactly one transition is recorded).

    `only_if_silent_since` guards the timeout path: a device heard from after
    that instant (perhaps by another worker) is not marked offline.
    """
    stmt = (
        update(Device)
        .where(Device.id == device_id)
        .where((Device.online.is_(None)) | (Device.online != online))
        .values(online=online, online_changed_at=at)
    )
    if only_if_silent_since is not None:
        stmt = stmt.where((Device.last_seen.is_(None)) | (Device.last_seen < only_if_silent_since))
    return affected(session.execute(stmt)) == 1


def prune_processed_ids(session: Session, older_than: datetime) -> int:
    """Forget dedup ids past their retention, so the table does not grow forever."""
    return affected(session.execute(delete(ProcessedMessage).where(ProcessedMessage.received_at < older_than)))


def prune_dead_letters(session: Session, older_than: datetime, keep_at_most: int) -> int:
    """Delete dead letters past their retention, then the oldest beyond `keep_at_most` rows.

    Dead letters are for inspection, not an archive: a flood must not fill the disk (the counts stay in
    /metrics and in the quarantine's alert).
    """
    removed = affected(session.execute(delete(DeadLetter).where(DeadLetter.received_at < older_than)))
    cutoff = session.scalar(select(DeadLetter.id).order_by(DeadLetter.id.desc()).offset(keep_at_most).limit(1))
    if cutoff is not None:
        removed += affected(session.execute(delete(DeadLetter).where(DeadLetter.id <= cutoff)))
    return removed


def count_deviations(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add the batch's repaired deviations to the per-device, per-reason counts (one upsert per batch)."""
    if rows:
        session.connection().execute(prebuilt(session, "count-deviations", _count_deviations), rows)


def _count_deviations(insert_: Callable[[Any], Any]) -> Any:
    table = DeviceDeviation.__table__
    stmt = insert_(table)
    return stmt.on_conflict_do_update(index_elements=[table.c.device_id, table.c.reason], set_={
        "count": table.c.count + stmt.excluded.count, "last_at": stmt.excluded.last_at,
        "last_sent": stmt.excluded.last_sent, "field": stmt.excluded.field})
