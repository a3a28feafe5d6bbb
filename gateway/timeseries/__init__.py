"""Readings storage: the embedded SQL table (default) or InfluxDB 2/3, behind one interface (docs/timeseries.md)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from gateway.timeseries.base import MAX_POINTS, Point, ReadingRow, ReadingStore
from gateway.timeseries.sql import SqlReadingStore
from kernel.config import TimeseriesSettings

__all__ = ["MAX_POINTS", "Point", "ReadingRow", "ReadingStore", "SqlReadingStore", "open_reading_store"]


def open_reading_store(settings: TimeseriesSettings, sessions: sessionmaker[Session],
                       registry: CollectorRegistry | None = None) -> ReadingStore:
    """The configured backend; its metrics go on `registry` (the gateway's)."""
    if settings.backend == "influxdb":
        from gateway.timeseries.influx import InfluxReadingStore

        return InfluxReadingStore(settings, registry)
    return SqlReadingStore(sessions)
