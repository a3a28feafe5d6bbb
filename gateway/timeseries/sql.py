"""The embedded default: readings in the main database's `readings` table, inside each batch's transaction."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, cast, delete, extract, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway import store
from gateway.timeseries.base import MAX_POINTS, Point, ReadingRow, ReadingStore, bucket_order, bucket_start
from kernel.db.engine import affected
from kernel.db.models import Reading


class SqlReadingStore(ReadingStore):
    backend = "sql"

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def stage(self, session: Session, rows: list[ReadingRow]) -> list[ReadingRow]:
        store.insert_readings(session, rows)
        return []

    def write(self, rows: list[ReadingRow]) -> None:
        with self.sessions.begin() as session:
            store.insert_readings(session, rows)

    def read(self, device_id: str, metric: str | None, since: datetime, until: datetime, step: int | None,
             limit: int = MAX_POINTS) -> list[Point]:
        with self.sessions() as session:
            if not step:
                columns = typing.cast(Select[Any], select(Reading.ts, Reading.value, Reading.zone))
                stmt = self._where(columns, device_id, metric, since, until)
                return [Point(ts, value, zone) for ts, value, zone in
                        session.execute(stmt.order_by(Reading.ts, Reading.id).limit(limit))]
            bucket = _bucket_expression(session.get_bind().dialect.name, step).label("bucket")
            stmt = self._where(select(bucket, Reading.zone, func.avg(Reading.value)), device_id, metric, since, until)
            stmt = stmt.group_by(bucket, Reading.zone).order_by(bucket.desc()).limit(limit)
            return bucket_order([Point(bucket_start(int(b), step), float(mean), zone)
                                 for b, zone, mean in session.execute(stmt)])

    @staticmethod
    def _where(stmt: Select[Any], device_id: str, metric: str | None, since: datetime,
               until: datetime) -> Select[Any]:
        stmt = stmt.where(Reading.device_id == device_id, Reading.ts >= since, Reading.ts <= until)
        return stmt if metric is None else stmt.where(Reading.metric == metric)

    def prune(self, older_than: datetime) -> int:
        with self.sessions.begin() as session:
            return affected(session.execute(delete(Reading).where(Reading.ts < older_than)))


def _bucket_expression(dialect: str, step: int) -> Any:
    """The epoch bucket number of `Reading.ts`, computed by the database."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", Reading.ts) / step), BigInteger)
    # SQLite keeps datetimes as UTC text; strftime('%s') is whole epoch seconds.
    return cast(func.strftime("%s", Reading.ts), BigInteger) // step
