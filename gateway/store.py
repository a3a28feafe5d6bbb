"""The SQL writes of one processing batch, as few round trips as the backends allow."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.orm import Session

from kernel.db.engine import affected, dump_json, prebuilt
from kernel.db.models import DeadLetter, Device, DeviceDeviation, Event, ProcessedMessage, sqlite_utc_text

DEAD_LETTER_PAYLOAD_LIMIT = 4096


def claim_message_ids(session: Session, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
    """Record (device, msg_id) pairs as processed; returns those that were new.

    Atomic in the database (INSERT ... ON CONFLICT DO NOTHING RETURNING), so two
    gateway processes can never both accept the same message. One statement per
    batch, its values already in the driver's types (`_driver_time`).
    """
    if not keys:
        return set()
    conn = session.connection()
    at, mark = _driver_time(conn.dialect.name, now), _mark(conn.dialect.name)
    claimed: set[tuple[str, str]] = set()
    for start in range(0, len(keys), _CLAIM_CHUNK):
        chunk = keys[start:start + _CLAIM_CHUNK]
        sql = ("INSERT INTO processed_messages (device_id, msg_id, received_at) VALUES "
               + ", ".join([f"({mark}, {mark}, {mark})"] * len(chunk))
               + " ON CONFLICT DO NOTHING RETURNING device_id, msg_id")
        params = tuple(value for device, msg_id in chunk for value in (device, msg_id, at))
        claimed.update((d, m) for d, m in conn.exec_driver_sql(sql, params))
    return claimed


_CLAIM_CHUNK = 500
"""Rows per claim statement: 1,500 values, far below either backend's limit."""


def _mark(dialect: str) -> str:
    """The driver's positional placeholder: sqlite3's qmark, psycopg's format."""
    return "?" if dialect == "sqlite" else "%s"


def _driver_time(dialect: str, at: datetime) -> Any:
    """A datetime as the driver takes it for a `UtcDateTime` column: SQLite's stored text, else the datetime."""
    return sqlite_utc_text(at) if dialect == "sqlite" else at


_EVENTS = cast(Table, Event.__table__)
_EVENT_INSERT = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
"""Built once, run as Core: the ORM's bulk-insert machinery cost more than the insert on the press path."""


def insert_events(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert events and return their ids in the order given."""
    if not rows:
        return []
    return list(session.connection().scalars(_EVENT_INSERT, rows))


def insert_readings(session: Session, rows: list[dict[str, Any]]) -> None:
    """The driver's executemany, values in its types: SQLAlchemy's per-row parameter processing and the ORM's bulk
    insert cost more than the insert itself in every telemetry batch (docs/architecture.md#measured-decisions)."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect.name
    mark = _mark(dialect)
    _execute(conn, f"INSERT INTO readings (device_id, metric, zone, ts, value) VALUES "
                   f"({mark}, {mark}, {mark}, {mark}, {mark})",
             [(r["device_id"], r["metric"], r["zone"], _driver_time(dialect, r["ts"]), r["value"]) for r in rows])


def insert_dead_letters(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    rows = [{**row, "payload": row["payload"][:DEAD_LETTER_PAYLOAD_LIMIT]} for row in rows]
    if rows:
        session.execute(insert(DeadLetter), rows)


_HEALTH_UPDATE = """UPDATE devices SET
    last_seen = CASE WHEN last_seen IS NULL OR last_seen < {seen} THEN {seen} ELSE last_seen END,
    battery = COALESCE({battery}, battery),
    tamper = COALESCE({tamper}, tamper),
    fault = CASE WHEN {fault_set} THEN {fault} ELSE fault END,
    readings = COALESCE({readings}, readings)
WHERE id = {id}"""
"""Never moves last_seen backwards (batches from two workers may commit out of order); None leaves a field as it is."""
_HEALTH_SQL = {
    "sqlite": _HEALTH_UPDATE.format(seen=":seen", battery=":battery", tamper=":tamper", fault_set=":fault_set",
                                    fault=":fault", readings=":readings", id=":id"),
    "postgresql": _HEALTH_UPDATE.format(seen="%(seen)s", battery="%(battery)s", tamper="%(tamper)s",
                                        fault_set="%(fault_set)s", fault="%(fault)s",
                                        readings="CAST(%(readings)s AS JSON)", id="%(id)s"),
}


@dataclass(slots=True)
class HealthDelta:
    """What one batch says of one device's health: the newest arrival, and what changed (None: unchanged)."""

    seen: datetime
    battery: float | None = None
    tamper: bool | None = None
    fault: str | None = None
    fault_set: bool = False
    readings: dict[str, float] | None = None
    """The latest telemetry's values, `metric` or `metric:zone` → value (None: no telemetry in this batch)."""


def update_health(session: Session, deltas: Mapping[str, HealthDelta]) -> None:
    """Each device's health from its batch (device id → delta): the driver's executemany, as `insert_readings`."""
    if not deltas:
        return
    conn = session.connection()
    dialect = conn.dialect.name
    _execute(conn, _HEALTH_SQL[dialect], [
        {"id": device_id, "seen": _driver_time(dialect, d.seen), "battery": d.battery, "tamper": d.tamper,
         "fault_set": d.fault_set, "fault": d.fault, "readings": None if d.readings is None else dump_json(d.readings)}
        for device_id, d in deltas.items()])


def _execute(conn: Connection, sql: str, rows: Sequence[Any]) -> None:
    """One row as a plain execute: psycopg's executemany enters pipeline mode, a cost on the press path's one row."""
    conn.exec_driver_sql(sql, rows[0] if len(rows) == 1 else list(rows))


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
